#pragma once
// wss:// for the integration tests without touching the plain client: TlsProxy listens on a
// plain 127.0.0.1 port and carries every connection made to it over TLS to the server's TLS
// port, verifying the server like a browser would (trusting only the given CA, checking the
// name "localhost"). A WsClient or Peer pointed at proxy.port() thus speaks wss://.
// Each connection gets a thread; the proxy records what each TLS session looked like.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/tls_context.h"
#include "core/unique_fd.h"

namespace sigver::itest {

struct TlsSession {
  bool connected = false;  // TCP connection to the server made
  bool handshake_ok = false;
  bool verified = false;          // the chain verified against the CA and the name matched
  std::string error;              // why the handshake failed
  std::string protocol;           // "TLSv1.3"
  std::string peer_organization;  // O= of the server certificate (tests mark versions so)
  int chain_length = 0;           // certificates the server sent, its own included
};

class TlsProxy {
 public:
  // `ca_file`: the only trusted root. `server_name`: checked against the certificate.
  TlsProxy(uint16_t server_port, const std::string& ca_file,
           const std::string& server_name = "localhost");
  ~TlsProxy();
  TlsProxy(const TlsProxy&) = delete;
  TlsProxy& operator=(const TlsProxy&) = delete;

  bool ok() const { return listener_.valid(); }
  uint16_t port() const { return port_; }
  // Sessions in the order connections were accepted (a copy; threads keep adding).
  std::vector<TlsSession> sessions() const;
  size_t session_count() const;
  // Session `index` once its handshake ended (waits up to 5 s for it to exist and settle).
  TlsSession wait_session(size_t index) const;
  // The last session, once its handshake ended.
  TlsSession last_session() const;

 private:
  void accept_loop();
  void carry(UniqueFd local, size_t index);

  uint16_t server_port_;
  std::string ca_file_;
  std::string server_name_;
  SslCtxPtr ctx_;
  UniqueFd listener_;
  UniqueFd stop_;  // eventfd: wakes every thread for the destructor
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::vector<TlsSession> sessions_;
  std::vector<bool> settled_;  // handshake finished (either way), by session
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// The first flight of a TLS client (a ClientHello), to send whole, cut or corrupted.
std::string client_hello_bytes();

}  // namespace sigver::itest
