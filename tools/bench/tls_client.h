#pragma once
// The load generator's TLS (wss://): one client SSL_CTX for all connections of a run, each
// connection its own SSL on its non-blocking socket, driven by the client loop's epoll set.
// Every connection makes a full handshake unless resumption is asked for, in which case it
// offers the last session ticket the server sent (one at a time, as a returning browser would).
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>

namespace bench {

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

class TlsClient {
 public:
  // `ca_file` empty: the server's certificate is not verified (the bench's own throwaway
  // certificate); otherwise verified against it. Null (with `error` set) on failure.
  static std::unique_ptr<TlsClient> create(const std::string& ca_file, bool resume,
                                           std::string& error);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // A client SSL on connected socket `fd`, its handshake not started.
  SslPtr start(int fd);
  // Called once the handshake of `ssl` completed: counts it, remembers what was negotiated.
  void handshake_done(SSL* ssl);

  uint64_t handshakes() const { return handshakes_; }
  uint64_t resumed() const { return resumed_; }
  // "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519" of the first handshake, empty before one.
  const std::string& negotiated() const { return negotiated_; }

 private:
  TlsClient() = default;
  static int on_new_session(SSL* ssl, SSL_SESSION* session);

  SSL_CTX* ctx_ = nullptr;
  SSL_SESSION* last_session_ = nullptr;
  bool resume_ = false;
  uint64_t handshakes_ = 0, resumed_ = 0;
  std::string negotiated_;
};

}  // namespace bench
