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
  if (ssl_) {
    const Result r = tls_read(ssl_.get(), buf, room);
    read_wants_write_ = r.wait == Wait::kWritable;
    if (r.status == Status::kError) ERR_clear_error();  // the worker logs no TLS reason
    return r;
  }
  const ssize_t n = ::recv(fd_.get(), buf, room, 0);
  if (n > 0) return {static_cast<size_t>(n), Status::kOk};
  if (n == 0) return {0, Status::kEof};
  return {0, would_block(errno) ? Status::kWouldBlock : Status::kError};
}

Transport::Result Transport::write(const char* data, size_t size) {
  if (ssl_) {
    const Result r = tls_write(ssl_.get(), data, size);
    write_blocked_ = r.status == Status::kWouldBlock;
    if (r.status == Status::kError) ERR_clear_error();
    return r;
  }
  const ssize_t n = ::send(fd_.get(), data, size, MSG_NOSIGNAL);
  if (n >= 0) return {static_cast<size_t>(n), Status::kOk};
  return {0, would_block(errno) ? Status::kWouldBlock : Status::kError};
}

Transport::Result Transport::tls_read(SSL* ssl, char* buf, size_t room) {
  size_t got = 0;
  while (got < room) {
    ERR_clear_error();
    const int n = SSL_read(ssl, buf + got, clamp_int(room - got));
    if (n > 0) {
      got += static_cast<size_t>(n);
      if (!SSL_has_pending(ssl)) return {got, Status::kOk};
      continue;
    }
    const Status stopped = got > 0 ? Status::kOk : Status::kWouldBlock;
    switch (SSL_get_error(ssl, n)) {
      case SSL_ERROR_WANT_READ:
        return {got, stopped, Wait::kReadable};
      case SSL_ERROR_WANT_WRITE:
        return {got, stopped, Wait::kWritable};
      case SSL_ERROR_ZERO_RETURN:  // close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF)
        return {got, Status::kEof};
      default:
        return {got, Status::kError};  // the caller reads the error queue if it logs it
    }
  }
  return {got, Status::kOk};
}

Transport::Result Transport::tls_write(SSL* ssl, const char* data, size_t size) {
  // Partial writes are on (tls_context.cc): each call sends whole records, so one call
  // per flush normally sends everything queued as one or a few records.
  size_t sent = 0;
  while (sent < size) {
    ERR_clear_error();
    const int n = SSL_write(ssl, data + sent, clamp_int(size - sent));
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    switch (SSL_get_error(ssl, n)) {
      case SSL_ERROR_WANT_READ:
        return {sent, Status::kWouldBlock, Wait::kReadable};
      case SSL_ERROR_WANT_WRITE:
        return {sent, Status::kWouldBlock, Wait::kWritable};
      default:
        return {sent, Status::kError};
    }
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
