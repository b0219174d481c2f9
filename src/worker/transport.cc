#include "worker/transport.h"

#include <openssl/err.h>
#include <sys/socket.h>

#include <cerrno>
#include <climits>

namespace sigver {
namespace {

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

int clamp_int(size_t size) { return size > INT_MAX ? INT_MAX : static_cast<int>(size); }

}  // namespace

Transport::Result Transport::read(char* buf, size_t room) {
  if (!ssl_) {
    const ssize_t n = ::recv(fd_.get(), buf, room, 0);
    if (n > 0) return {static_cast<size_t>(n), Status::kOk};
    if (n == 0) return {0, Status::kEof};
    return {0, would_block(errno) ? Status::kWouldBlock : Status::kError};
  }
  read_wants_write_ = false;
  size_t got = 0;
  // One SSL_read returns at most one record; read-ahead brought every record that had
  // arrived, so keep going while OpenSSL holds some, then stop without a failing read(2).
  while (got < room) {
    ERR_clear_error();
    const int n = SSL_read(ssl_.get(), buf + got, clamp_int(room - got));
    if (n > 0) {
      got += static_cast<size_t>(n);
      if (!SSL_has_pending(ssl_.get())) return {got, Status::kOk};
      continue;
    }
    switch (SSL_get_error(ssl_.get(), n)) {
      case SSL_ERROR_WANT_WRITE:
        read_wants_write_ = true;
        [[fallthrough]];
      case SSL_ERROR_WANT_READ:
        return {got, got > 0 ? Status::kOk : Status::kWouldBlock};
      case SSL_ERROR_ZERO_RETURN:  // close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF)
        return {got, Status::kEof};
      default:
        ERR_clear_error();
        return {got, Status::kError};
    }
  }
  return {got, Status::kOk};
}

Transport::Result Transport::write(const char* data, size_t size) {
  if (!ssl_) {
    const ssize_t n = ::send(fd_.get(), data, size, MSG_NOSIGNAL);
    if (n >= 0) return {static_cast<size_t>(n), Status::kOk};
    return {0, would_block(errno) ? Status::kWouldBlock : Status::kError};
  }
  // Partial writes are on (tls_context.cc): each call sends whole records, so one call
  // per flush normally sends everything queued as one or a few records.
  size_t sent = 0;
  write_blocked_ = false;
  while (sent < size) {
    ERR_clear_error();
    const int n = SSL_write(ssl_.get(), data + sent, clamp_int(size - sent));
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    const int err = SSL_get_error(ssl_.get(), n);
    if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
      write_blocked_ = true;
      return {sent, Status::kWouldBlock};
    }
    ERR_clear_error();
    return {sent, Status::kError};
  }
  return {sent, Status::kOk};
}

void Transport::shutdown_write() {
  if (ssl_) {
    // Best effort: a close_notify that does not fit now is not worth waiting for, the FIN
    // after it ends the stream just as well for a browser.
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    ERR_clear_error();
  }
  ::shutdown(fd_.get(), SHUT_WR);
}

bool Transport::read_pending() const { return ssl_ && SSL_has_pending(ssl_.get()); }

void Transport::reset() {
  ssl_.reset();  // the socket BIO does not own the descriptor
  fd_.reset();
  read_wants_write_ = write_blocked_ = false;
}

}  // namespace sigver
