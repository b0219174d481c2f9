#include "worker/tls_relay.h"

#include <openssl/err.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "worker/tls_terminator.h"

namespace sigver {
namespace {

// Answer to a client that speaks plain HTTP to the TLS port, sent in clear before closing.
constexpr std::string_view kPlainHttpOnTlsPort =
    "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    "Content-Length: 42\r\n\r\nthis port speaks TLS: connect with wss://\n";

// Progress rounds per wake-up before serving other connections; what is left is picked up
// by epoll, or by the terminator's pump-again list for bytes held inside OpenSSL.
constexpr int kPumpRounds = 8;

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

}  // namespace

TlsRelay::TlsRelay(TlsTerminator& owner, UniqueFd tcp, SslPtr ssl)
    : owner_(owner), tcp_(std::move(tcp)), ssl_(std::move(ssl)) {
  tcp_side_.relay = this;
  tcp_side_.tcp = true;
  plain_side_.relay = this;
}

TlsRelay::TlsRelay(TlsTerminator& owner, UniqueFd tcp, SslPtr ssl, UniqueFd plain,
                   std::string_view unsent)
    : TlsRelay(owner, std::move(tcp), std::move(ssl)) {
  plain_ = std::move(plain);
  if (!unsent.empty()) to_tls_.append(unsent.data(), unsent.size());
  phase_ = Phase::kRelaying;
}

TlsRelay::~TlsRelay() {
  DeadlineQueue::remove(*this);
  if (phase_ != Phase::kClosed) {
    // Worker teardown (fast stop): no goodbyes, just release the descriptors.
    if (tcp_) owner_.loop().remove(tcp_.get());
    if (plain_polled_) owner_.loop().remove(plain_.get());
  }
}

bool TlsRelay::start() {
  tcp_mask_ = EPOLLIN;
  const bool ok = owner_.loop().add(tcp_.get(), tcp_mask_, &tcp_side_);
  if (ok && plain_) {
    plain_mask_ = EPOLLIN;
    plain_polled_ = owner_.loop().add(plain_.get(), plain_mask_, &plain_side_);
    if (!plain_polled_) owner_.loop().remove(tcp_.get());
  }
  if (!ok || (plain_ && !plain_polled_)) {
    LOG_ERROR("epoll_ctl(ADD) of a TLS client failed: %s", std::strerror(errno));
    ssl_.reset();
    tcp_.reset();
    plain_.reset();
    to_tls_.release();
    phase_ = Phase::kClosed;
    return false;
  }
  return true;
}

void TlsRelay::on_events(bool tcp, uint32_t events) {
  if (closed()) return;  // closed earlier in this dispatch
  const bool readable = (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0;
  if (tcp && (events & EPOLLERR)) {
    tls_failed("connection error");
  } else if (!tcp && (events & EPOLLHUP) && plain_polled_) {
    // B is closed for good. What it wrote before is still readable, but epoll would keep
    // reporting the hang-up while backpressure stops us reading: leave A to the pump.
    owner_.loop().remove(plain_.get());
    plain_polled_ = false;
  }
  pump(tcp && readable, !tcp && readable);
  if (!closed() && tcp && (events & EPOLLHUP) && tcp_) {
    // Both directions of the TCP connection are gone: nothing more can reach the client.
    tls_failed("connection closed");
    pump(false, false);
  }
}

void TlsRelay::pump(bool tcp_readable, bool plain_readable) {
  if (closed()) return;
  tls_needs_in_ = tls_needs_out_ = false;
  tcp_readable_ = tcp_readable;
  plain_readable_ = plain_readable;
  if (phase_ == Phase::kHandshake && !handshake()) return;
  bool progress = true;
  int round = 0;
  for (; progress && round < kPumpRounds && !closed(); ++round) {
    progress = tls_to_plain();
    progress = plain_to_tls() || progress;
    finish_directions();
  }
  if (closed()) return;
  // Stopped while still moving bytes: epoll may never report what OpenSSL already holds.
  if (progress) owner_.pump_again(*this);
  update_interest();
  tcp_readable_ = plain_readable_ = false;
}

// ---- handshake ----

bool TlsRelay::handshake() {
  ERR_clear_error();
  const int rc = SSL_accept(ssl_.get());
  if (rc == 1) {
    hand_over();
    return false;
  }
  const int err = SSL_get_error(ssl_.get(), rc);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    note_blocked(Transport::wait_for(err));
    update_interest();
    return false;
  }
  const unsigned long first = ERR_peek_error();
  const bool plain_http =
      ERR_GET_LIB(first) == ERR_LIB_SSL && ERR_GET_REASON(first) == SSL_R_HTTP_REQUEST;
  std::string reason = take_openssl_error();
  if (reason.empty()) reason = err == SSL_ERROR_SYSCALL && errno ? std::strerror(errno) : "EOF";
  if (plain_http) {
    // Best effort, in clear: the client does not speak TLS.
    [[maybe_unused]] ssize_t ignored =
        ::send(tcp_.get(), kPlainHttpOnTlsPort.data(), kPlainHttpOnTlsPort.size(), MSG_NOSIGNAL);
    LOG_INFO("plain HTTP request on a TLS port (fd %d): answered 400", tcp_.get());
  } else if (reason == "EOF" || reason == "unexpected eof while reading") {
    LOG_DEBUG("TLS client left during the handshake (fd %d)", tcp_.get());
  } else {
    LOG_INFO("TLS handshake failed (fd %d): %s", tcp_.get(), reason.c_str());
  }
  abort();
  return false;
}

void TlsRelay::hand_over() {
  LOG_DEBUG("TLS handshake done (fd %d, %s, %s)", tcp_.get(), SSL_get_version(ssl_.get()),
            SSL_get_cipher_name(ssl_.get()));
  const bool resumed = SSL_session_reused(ssl_.get()) == 1;
  owner_.loop().remove(tcp_.get());
  tcp_mask_ = 0;
  phase_ = Phase::kClosed;
  // The terminator passes the socket, its TLS state and the client's address count on to
  // the worker, then forgets this object.
  owner_.on_established(*this, std::move(tcp_), std::move(ssl_), resumed);
}

// ---- the two directions ----

void TlsRelay::note_blocked(Transport::Wait wait) {
  if (wait == Transport::Wait::kReadable) tls_needs_in_ = true;
  if (wait == Transport::Wait::kWritable) tls_needs_out_ = true;
}

// Client -> A. Returns true when anything moved or changed state.
bool TlsRelay::tls_to_plain() {
  bool moved = false;
  if (!to_plain_.empty()) {
    const size_t before = to_plain_.size();
    deliver(nullptr, 0);
    moved = to_plain_.size() != before;
    if (!to_plain_.empty()) return moved;  // A is full: read nothing more from the client
  }
  if (tls_read_done_ || !ssl_) return moved;
  // Only where there is something to read: epoll said so, OpenSSL holds bytes, or an
  // earlier SSL_read waited for writability.
  if (!tcp_readable_ && !read_wants_write_ && !SSL_has_pending(ssl_.get())) return moved;
  tcp_readable_ = read_wants_write_ = false;
  char* buf = owner_.scratch();
  const Transport::Result r = Transport::tls_read(ssl_.get(), buf, TlsTerminator::kScratchSize);
  note_blocked(r.wait);
  read_wants_write_ = r.wait == Transport::Wait::kWritable;
  const size_t got = r.bytes;
  if (r.status == Transport::Status::kEof) {
    tls_read_done_ = true;
    moved = true;
  } else if (r.status == Transport::Status::kError) {
    deliver(buf, got);  // what arrived before the failure still counts
    tls_failed("read");
    return true;
  }
  if (got > 0) {
    deliver(buf, got);
    moved = true;
  }
  return moved;
}

// Sends pending bytes first, then `data`; keeps what A does not take. Drops everything
// once A's peer is gone.
void TlsRelay::deliver(const char* data, size_t size) {
  if (plain_write_done_ || !plain_) {
    to_plain_.release();
    return;
  }
  auto send_some = [&](const char* p, size_t n) -> size_t {
    size_t sent = 0;
    while (sent < n) {
      const ssize_t rc = ::send(plain_.get(), p + sent, n - sent, MSG_NOSIGNAL);
      if (rc > 0) {
        sent += static_cast<size_t>(rc);
        continue;
      }
      if (rc < 0 && would_block(errno)) break;
      // EPIPE/ECONNRESET: B was closed. What B wrote before stays readable from A.
      plain_write_done_ = true;
      to_plain_.release();
      return n;
    }
    return sent;
  };
  if (!to_plain_.empty()) {
    to_plain_.consume(send_some(to_plain_.data(), to_plain_.size()));
    if (plain_write_done_) return;
  }
  if (size == 0) return;
  if (!to_plain_.empty()) {
    to_plain_.append(data, size);
    return;
  }
  const size_t sent = send_some(data, size);
  if (!plain_write_done_ && sent < size) to_plain_.append(data + sent, size - sent);
}

size_t TlsRelay::ssl_write(const char* data, size_t size) {
  const Transport::Result r = Transport::tls_write(ssl_.get(), data, size);
  note_blocked(r.wait);
  if (r.status == Transport::Status::kError) tls_failed("write");
  return r.bytes;
}

// A -> client. Returns true when anything moved or changed state.
bool TlsRelay::plain_to_tls() {
  bool moved = false;
  const bool tls_open = ssl_ && !tls_write_done_;
  if (!to_tls_.empty()) {
    if (!tls_open) {
      to_tls_.release();
    } else {
      const size_t n = ssl_write(to_tls_.data(), to_tls_.size());
      if (n > 0) moved = true;
      if (!ssl_) return true;
      to_tls_.consume(n);
      if (!to_tls_.empty()) return moved;  // the client is slow: read nothing more from A
    }
  }
  if (plain_read_done_ || !plain_) return moved;
  // Unregistered after a hang-up, A is read until EOF without events.
  if (!plain_readable_ && plain_polled_) return moved;
  plain_readable_ = false;
  char* buf = owner_.scratch();
  const ssize_t got = ::recv(plain_.get(), buf, TlsTerminator::kScratchSize, 0);
  if (got < 0 && would_block(errno)) return moved;
  if (got <= 0) {
    // EOF, or ECONNRESET when B was closed with unread bytes: either way B is done.
    plain_read_done_ = true;
    return true;
  }
  const auto size = static_cast<size_t>(got);
  if (!ssl_ || tls_write_done_) return true;  // the client is gone: drain A and drop
  const size_t n = ssl_write(buf, size);
  if (ssl_ && n < size) to_tls_.append(buf + n, size - n);
  return true;
}

// ---- closing ----

void TlsRelay::finish_directions() {
  if (closed()) return;
  // Everything A had is forwarded and A is at EOF: close_notify, then FIN.
  if (plain_read_done_ && to_tls_.empty() && ssl_ && !tls_write_done_) {
    ERR_clear_error();
    const int rc = SSL_shutdown(ssl_.get());
    if (rc >= 0) {
      ::shutdown(tcp_.get(), SHUT_WR);
      tls_write_done_ = true;
    } else {
      const int err = SSL_get_error(ssl_.get(), rc);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        note_blocked(Transport::wait_for(err));
      } else {
        tls_failed("shutdown");
      }
    }
  }
  // Everything from the client is delivered and it has finished: FIN on A.
  if (tls_read_done_ && to_plain_.empty() && plain_ && !plain_write_done_) {
    ::shutdown(plain_.get(), SHUT_WR);
    plain_write_done_ = true;
  }
  if (tcp_ && tls_read_done_ && tls_write_done_) close_tcp();
  if (plain_ && plain_read_done_ && plain_write_done_) close_plain();
  if (phase_ == Phase::kRelaying && !tcp_ && !plain_) {
    phase_ = Phase::kClosed;
    to_plain_.release();
    to_tls_.release();
    owner_.on_closed(*this);
    return;
  }
  if (!closing_ && (tls_read_done_ || plain_read_done_ || !tcp_)) {
    closing_ = true;
    owner_.on_closing(*this);
  }
}

void TlsRelay::tls_failed(const char* what) {
  if (phase_ == Phase::kHandshake) {
    abort();
    return;
  }
  const std::string reason = take_openssl_error();
  LOG_DEBUG("TLS connection fd %d ended (%s): %s", tcp_.get(), what,
            reason.empty() ? std::strerror(errno) : reason.c_str());
  // Never call SSL_shutdown after a fatal error; A gets its FIN once it took what arrived.
  tls_read_done_ = tls_write_done_ = true;
  to_tls_.release();
  close_tcp();
}

void TlsRelay::close_tcp() {
  if (!tcp_) return;
  owner_.loop().remove(tcp_.get());
  ssl_.reset();  // the socket BIO does not own the descriptor
  tcp_.reset();
  tcp_mask_ = 0;
}

void TlsRelay::close_plain() {
  if (!plain_) return;
  if (plain_polled_) owner_.loop().remove(plain_.get());
  plain_polled_ = false;
  plain_.reset();
  plain_mask_ = 0;
}

void TlsRelay::abort() {
  if (closed()) return;
  close_tcp();
  close_plain();
  to_plain_.release();
  to_tls_.release();
  phase_ = Phase::kClosed;
  owner_.on_closed(*this);
}

void TlsRelay::on_timeout() {
  if (closed()) return;
  LOG_DEBUG("TLS connection fd %d: %s timed out", tcp_.get(),
            phase_ == Phase::kHandshake ? "handshake" : "close");
  abort();
}

void TlsRelay::update_interest() {
  if (tcp_) {
    uint32_t want = 0;
    if (phase_ == Phase::kHandshake) {
      want = tls_needs_out_ ? EPOLLOUT : EPOLLIN;
    } else {
      if ((!tls_read_done_ && to_plain_.empty()) || tls_needs_in_) want |= EPOLLIN;
      if (!to_tls_.empty() || tls_needs_out_) want |= EPOLLOUT;
    }
    if (want != tcp_mask_ && owner_.loop().modify(tcp_.get(), want, &tcp_side_)) tcp_mask_ = want;
  }
  if (plain_polled_) {
    uint32_t want = 0;
    if (!plain_read_done_ && to_tls_.empty()) want |= EPOLLIN;
    if (!to_plain_.empty()) want |= EPOLLOUT;
    if (want != plain_mask_ && owner_.loop().modify(plain_.get(), want, &plain_side_)) {
      plain_mask_ = want;
    }
  }
}

}  // namespace sigver
