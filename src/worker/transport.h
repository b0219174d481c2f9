#pragma once
// The byte stream under one connection, whichever of three it is:
//   - a plain TCP socket (ws://);
//   - a TLS socket this worker terminates itself (wss:// whose key this worker owns);
//   - the plain end of a TLS relay (wss:// terminated by another worker, see tls_relay.h),
//     which reads and writes like a plain socket.
// The worker reads, writes and half-closes through it and never asks which one it has;
// only moving a connection to another worker needs to know (take_tls()).
#include <cstddef>
#include <cstdint>

#include "core/tls_context.h"
#include "core/unique_fd.h"

namespace sigver {

class Transport {
 public:
  enum class Status : uint8_t { kOk, kWouldBlock, kEof, kError };
  // What a TLS call stopped for, when OpenSSL must wait for the socket.
  enum class Wait : uint8_t { kNothing, kReadable, kWritable };
  struct Result {
    size_t bytes = 0;  // moved, also when the status says why it stopped
    Status status = Status::kOk;
    Wait wait = Wait::kNothing;  // TLS only
  };

  Transport() = default;
  explicit Transport(int fd) : fd_(fd) {}
  // A TLS socket whose handshake is done; `ssl` reads and writes `fd`.
  Transport(UniqueFd fd, SslPtr ssl) : fd_(std::move(fd)), ssl_(std::move(ssl)) {}

  int fd() const { return fd_.get(); }
  bool tls() const { return ssl_ != nullptr; }

  // Up to `room` bytes. kOk with fewer than `room`: nothing more is waiting right now.
  Result read(char* buf, size_t room);
  // Sends from the head of `data`; on a short write the caller keeps the rest, unchanged
  // and in place at the head of the same bytes, and retries when writable (TLS requires it).
  Result write(const char* data, size_t size);
  // After our last bytes: TLS close_notify, then FIN. Reading stays possible.
  void shutdown_write();
  // TLS: OpenSSL holds bytes it decrypted or read ahead that epoll will never report.
  bool read_pending() const;
  // TLS: the last read waits for the socket to be writable (OpenSSL must send first).
  bool read_waits_for_write() const { return read_wants_write_; }
  // TLS: the last write stopped inside a record, which OpenSSL finishes when write() is
  // called again with (at least) the same bytes.
  bool write_blocked() const { return write_blocked_; }
  // Closes it (TLS without close_notify: the connection is being dropped).
  void reset();

  // The TLS halves of read() and write(), which the relay (tls_relay.h) drives too.
  // Reading stops at `room`, or once OpenSSL holds nothing more (read-ahead brought every
  // record that had arrived: another read(2) would fail); writing sends whole records.
  static Result tls_read(SSL* ssl, char* buf, size_t room);
  static Result tls_write(SSL* ssl, const char* data, size_t size);
  // What an SSL_get_error() result waits for.
  static Wait wait_for(int ssl_error) {
    return ssl_error == SSL_ERROR_WANT_READ    ? Wait::kReadable
           : ssl_error == SSL_ERROR_WANT_WRITE ? Wait::kWritable
                                               : Wait::kNothing;
  }

  // For a TLS connection moving to another worker: gives up the socket and its TLS state,
  // leaving this transport empty. Whoever writes next must start with the bytes a short
  // write() left unsent: OpenSSL may hold part of their record already.
  UniqueFd take_fd() { return std::move(fd_); }
  SslPtr take_ssl() { return std::move(ssl_); }

 private:
  UniqueFd fd_;
  SslPtr ssl_;
  bool read_wants_write_ = false;
  bool write_blocked_ = false;
};

}  // namespace sigver
