#pragma once
// Many WebSocket client connections in one thread: non-blocking connect from a chosen
// 127.0.0.x source, upgrade, then frames in and out, all driven by one epoll set. A scenario
// plugs in as a ClientHandler and sees whole messages; heartbeats from the server are
// answered here, in the connection's Sigver generation, as netflux does, so no scenario is
// dropped for missing them. With a TlsClient the same runs over wss://: the TLS handshake
// follows the TCP connect, and every byte goes through the connection's SSL.
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tls_client.h"

namespace bench {

// kHandshaking is the WebSocket upgrade; kTlsHandshaking comes before it on wss://.
enum class ConnState { kConnecting, kTlsHandshaking, kHandshaking, kOpen, kClosed };

struct Conn {
  size_t index = 0;
  int fd = -1;
  SslPtr ssl;  // wss:// only
  ConnState state = ConnState::kConnecting;
  int generation = 1;  // the Sigver generation it speaks (protocol.md or protocol-v2.md)
  std::string websocket_key;
  std::string in;   // received bytes not parsed yet
  std::string out;  // bytes the kernel did not take yet
  bool writable_armed = false;
  // How it ended: close code from the server's close frame, or one of the values below.
  int close_code = 0;
  uint64_t tag = 0;  // free for the scenario
};
inline constexpr int kClosedByEof = -1;       // TCP closed without a close frame
inline constexpr int kClosedByError = -2;     // connect/recv/send error
inline constexpr int kClosedBadUpgrade = -3;  // no 101 or a wrong Sec-WebSocket-Accept
inline constexpr int kClosedBadFrame = -4;    // the server sent bytes that are no frame
inline constexpr int kClosedLocally = -5;     // we closed it

class ClientLoop;

class ClientHandler {
 public:
  virtual ~ClientHandler() = default;
  virtual void on_open(ClientLoop&, Conn&) {}
  // One binary (or text) message; heartbeats are already answered.
  virtual void on_message(ClientLoop&, Conn&, std::string_view payload) = 0;
  virtual void on_closed(ClientLoop&, Conn&) {}
};

class ClientLoop {
 public:
  // `tls` (outliving the loop) makes every connection wss://; null: ws://.
  ClientLoop(std::string host, uint16_t port, ClientHandler& handler, TlsClient* tls = nullptr);
  ~ClientLoop();
  ClientLoop(const ClientLoop&) = delete;
  ClientLoop& operator=(const ClientLoop&) = delete;

  // Starts a connection from `source` (an IPv4 address, port chosen by the kernel) to
  // ws://host:port/key_path, speaking Sigver `generation`. Returns its index; a failed start
  // shows as a closed Conn.
  size_t connect(const std::string& source, const std::string& key_path, int generation = 1);
  void send_message(Conn& conn, std::string_view payload);  // one masked binary frame
  void send_raw(Conn& conn, std::string_view bytes);        // anything, for malformed tests
  void close(Conn& conn);                                   // immediate TCP close
  // Handles the events ready within `timeout_ms`.
  void run_once(int timeout_ms);

  Conn& conn(size_t index) { return *conns_[index]; }
  size_t size() const { return conns_.size(); }

 private:
  void on_event(Conn& conn, uint32_t events);
  void finish_connect(Conn& conn);
  void continue_tls_handshake(Conn& conn);
  // One recv / SSL_read: bytes read, 0 at the end of the stream, -1 for none now, -2 on error.
  ssize_t receive(Conn& conn, char* buffer, size_t size);
  // One send / SSL_write of what it can take: bytes written, -1 for none now, -2 on error.
  ssize_t transmit(Conn& conn, const char* data, size_t size);
  void read_ready(Conn& conn);
  // Consumes what it can of `data` (the upgrade response, then frames); false once closed.
  bool consume(Conn& conn, char* data, size_t size, size_t& used);
  bool handle_frame(Conn& conn, uint8_t opcode, std::string_view payload);
  void flush(Conn& conn);
  void set_writable_interest(Conn& conn, bool armed);
  void mark_closed(Conn& conn, int code);

  std::string host_;
  uint16_t port_;
  ClientHandler& handler_;
  TlsClient* tls_ = nullptr;
  int epoll_fd_ = -1;
  std::vector<std::unique_ptr<Conn>> conns_;  // stable addresses; index = epoll cookie
  std::vector<char> read_buffer_;
};

// Raises the soft open-file limit to the hard one; returns the new soft limit.
uint64_t raise_open_file_limit();

}  // namespace bench
