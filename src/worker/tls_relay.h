#pragma once
// One TLS client, terminated in the worker that accepted it, in one of two jobs:
//   - its handshake: once done, the TCP socket and its SSL object go to the worker, which
//     serves the connection directly on them (worker/transport.h) and this object ends;
//   - a relay, for a TLS connection whose key another worker owns (or a group moving to
//     another worker): OpenSSL's state cannot move between processes, so the relay keeps
//     the TCP socket and its SSL object here, with end A of a socketpair whose end B moves
//     to the owner like a plain socket. It pumps both ways:
//   TCP --SSL_read--> A      A --SSL_write--> TCP
// Each direction keeps at most one read's worth of bytes that the other side did not take
// yet, and reads nothing more until they are gone (backpressure all the way to the peer).
// Closing mirrors the plain path: EOF on A -> close_notify and FIN to the client; the
// client's close_notify or FIN -> FIN on A; the relay ends when both directions have.
#include <cstdint>
#include <string_view>

#include "core/buffer.h"
#include "core/deadline_queue.h"
#include "core/event_loop.h"
#include "core/tls_context.h"
#include "core/unique_fd.h"
#include "worker/transport.h"

namespace sigver {

class TlsTerminator;

class TlsRelay final : public DeadlineNode {
 public:
  enum class Phase : uint8_t { kHandshake, kRelaying, kClosed };

  // A new client: the handshake comes first.
  TlsRelay(TlsTerminator& owner, UniqueFd tcp, SslPtr ssl);
  // An established connection that the worker gives up: `plain` is end A of the socketpair;
  // `unsent` the bytes the worker had not written yet, written first (a short SSL_write
  // must be retried with them).
  TlsRelay(TlsTerminator& owner, UniqueFd tcp, SslPtr ssl, UniqueFd plain, std::string_view unsent);
  TlsRelay(const TlsRelay&) = delete;
  TlsRelay& operator=(const TlsRelay&) = delete;
  ~TlsRelay();

  // Registers its sockets with the loop; false when that failed (then they are closed).
  bool start();
  // Makes every bit of progress possible now, in both directions. The flags say which
  // socket epoll reported readable: reads are tried only there (or where OpenSSL holds
  // bytes), which saves a failing read per direction per message.
  void pump(bool tcp_readable = true, bool plain_readable = true);
  // The handshake or close timer expired: give up on the client.
  void on_timeout();
  // Closes both sockets at once.
  void abort();

  Phase phase() const { return phase_; }
  bool closed() const { return phase_ == Phase::kClosed; }

  uint32_t slot = 0;          // index in the terminator's table
  uint32_t client = 0;        // ClientCounts ticket of the client's address (0 = none)
  bool queued_again = false;  // in the terminator's list to pump before sleeping
  bool handshaking = false;   // counted among the terminator's pending handshakes
  bool relaying = false;      // counted among its relays

 private:
  // Epoll needs one handler per descriptor; both just pump the relay.
  struct Side final : EventHandler {
    TlsRelay* relay = nullptr;
    bool tcp = false;
    void on_events(uint32_t events) override { relay->on_events(tcp, events); }
  };

  void on_events(bool tcp, uint32_t events);
  bool handshake();
  void hand_over();
  bool tls_to_plain();
  bool plain_to_tls();
  size_t ssl_write(const char* data, size_t size);
  void deliver(const char* data, size_t size);
  void finish_directions();
  void tls_failed(const char* what);
  void close_tcp();
  void close_plain();
  void update_interest();
  void note_blocked(Transport::Wait wait);

  TlsTerminator& owner_;
  UniqueFd tcp_;
  SslPtr ssl_;
  UniqueFd plain_;  // end A of the socketpair (relays only)
  Side tcp_side_;
  Side plain_side_;
  Buffer to_plain_;        // decrypted, not yet taken by A
  Buffer to_tls_;          // read from A, not yet taken by SSL_write
  uint32_t tcp_mask_ = 0;  // events registered for each socket
  uint32_t plain_mask_ = 0;
  Phase phase_ = Phase::kHandshake;
  bool plain_polled_ = false;      // A is registered with the loop
  bool tls_read_done_ = false;     // close_notify or EOF from the client (or TLS failed)
  bool tls_write_done_ = false;    // our close_notify and FIN are out (or TLS failed)
  bool plain_read_done_ = false;   // EOF on A
  bool plain_write_done_ = false;  // A shut down for writing, or its peer is gone
  bool tls_needs_in_ = false;      // the last blocked SSL call waits for TCP readability
  bool tls_needs_out_ = false;     // ... or writability
  bool read_wants_write_ = false;  // SSL_read stopped on WANT_WRITE: retry when writable
  bool tcp_readable_ = false;      // hints for this pump (see pump())
  bool plain_readable_ = false;
  bool closing_ = false;  // the close timer runs
};

}  // namespace sigver
