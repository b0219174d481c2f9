#include "support/ws_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace sigver::itest {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
    text.remove_suffix(1);
  return std::string(text);
}

constexpr uint8_t kMaskKey[4] = {0x37, 0xfa, 0x21, 0x3d};
// The sample nonce of RFC 6455 section 1.3; any 16 random bytes in base64 would do.
constexpr std::string_view kRequestKey = "dGhlIHNhbXBsZSBub25jZQ==";

}  // namespace

std::string websocket_accept(std::string_view key) {
  const std::string text = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  unsigned char encoded[64];
  const int len = EVP_EncodeBlock(encoded, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(encoded), static_cast<size_t>(len));
}

std::string encode_frame(uint8_t op, std::string_view payload, FrameOptions options) {
  std::string out;
  out.push_back(
      static_cast<char>((options.fin ? 0x80 : 0) | ((options.rsv & 7) << 4) | (op & 0xF)));
  const uint8_t mask_bit = options.masked ? 0x80 : 0;
  const uint64_t size = payload.size();
  if (size < 126) {
    out.push_back(static_cast<char>(mask_bit | size));
  } else if (size <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(size >> 8));
    out.push_back(static_cast<char>(size & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((size >> shift) & 0xFF));
  }
  if (!options.masked) {
    out.append(payload);
    return out;
  }
  out.append(reinterpret_cast<const char*>(kMaskKey), 4);
  const size_t start = out.size();
  out.append(payload);
  for (size_t i = 0; i < payload.size(); ++i) out[start + i] ^= static_cast<char>(kMaskKey[i % 4]);
  return out;
}

std::string close_payload(uint16_t code, std::string_view reason) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xFF));
  out.append(reason);
  return out;
}

std::string HttpResponse::header(std::string_view name) const {
  const std::string wanted = lower(name);
  for (const auto& [key, value] : headers)
    if (lower(key) == wanted) return value;
  return "";
}

const char* to_string(ReadStatus status) {
  switch (status) {
    case ReadStatus::kFrame:
      return "frame";
    case ReadStatus::kTimeout:
      return "timeout";
    case ReadStatus::kEof:
      return "eof";
    case ReadStatus::kError:
      return "error";
  }
  return "?";
}

std::string CloseResult::describe() const {
  if (status != ReadStatus::kFrame) return std::string("no close frame: ") + to_string(status);
  if (!close.has_code) return "close frame without code";
  return "close " + std::to_string(close.code) + " \"" + close.reason + "\"";
}

bool WsClient::connect(uint16_t port, Millis timeout) {
  fd_.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  in_.clear();
  if (!fd_) {
    error_ = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  const int one = 1;
  ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (receive_buffer_ > 0)
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer_, sizeof receive_buffer_);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return true;
  if (errno != EINPROGRESS) {
    error_ = std::string("connect: ") + std::strerror(errno);
    fd_.reset();
    return false;
  }
  pollfd pfd{fd_.get(), POLLOUT, 0};
  if (::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) {
    error_ = "connect: timed out";
    fd_.reset();
    return false;
  }
  int so_error = 0;
  socklen_t len = sizeof so_error;
  ::getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &so_error, &len);
  if (so_error != 0) {
    error_ = std::string("connect: ") + std::strerror(so_error);
    fd_.reset();
    return false;
  }
  return true;
}

void WsClient::reset() {
  if (!fd_) return;
  const linger abort{1, 0};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  fd_.reset();
}

void WsClient::adopt(UniqueFd fd) {
  fd_ = std::move(fd);
  in_.clear();
  // Every wait here is a poll with a deadline, which needs a non-blocking socket.
  if (fd_) ::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) | O_NONBLOCK);
}

void WsClient::shutdown_write() {
  if (fd_) ::shutdown(fd_.get(), SHUT_WR);
}

std::string WsClient::upgrade_request(std::string_view path, std::string_view extra_headers) {
  std::string request = "GET " + std::string(path) + " HTTP/1.1\r\n";
  request += "Host: 127.0.0.1\r\n";
  request += "Upgrade: websocket\r\n";
  request += "Connection: Upgrade\r\n";
  request += "Sec-WebSocket-Key: " + std::string(kRequestKey) + "\r\n";
  request += "Sec-WebSocket-Version: 13\r\n";
  request += extra_headers;
  request += "\r\n";
  return request;
}

HttpResponse WsClient::read_http_response(Millis timeout) {
  HttpResponse response;
  const auto deadline = Clock::now() + timeout;
  size_t end = in_.find("\r\n\r\n");
  while (end == std::string::npos) {
    if (fill(deadline) != ReadStatus::kFrame) return response;
    end = in_.find("\r\n\r\n");
  }
  response.head = in_.substr(0, end + 4);
  in_.erase(0, end + 4);
  size_t line_end = response.head.find("\r\n");
  const std::string status_line = response.head.substr(0, line_end);
  // "HTTP/1.1 101 Switching Protocols"
  const size_t space = status_line.find(' ');
  if (status_line.rfind("HTTP/1.", 0) == 0 && space != std::string::npos)
    response.status = std::atoi(status_line.c_str() + space + 1);
  size_t pos = line_end + 2;
  while (pos < response.head.size()) {
    line_end = response.head.find("\r\n", pos);
    if (line_end == pos || line_end == std::string::npos) break;
    const std::string line = response.head.substr(pos, line_end - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos)
      response.headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
    pos = line_end + 2;
  }
  return response;
}

bool WsClient::handshake(std::string_view path, Millis timeout) {
  if (!send_raw(upgrade_request(path), timeout)) return false;
  const HttpResponse response = read_http_response(timeout);
  if (response.status != 101) {
    error_ = "handshake: expected 101, got " +
             (response.status == 0 ? std::string("no response") : response.head);
    return false;
  }
  if (response.header("Sec-WebSocket-Accept") != websocket_accept(kRequestKey)) {
    error_ = "handshake: wrong Sec-WebSocket-Accept in " + response.head;
    return false;
  }
  if (lower(response.header("Upgrade")) != "websocket") {
    error_ = "handshake: missing Upgrade: websocket in " + response.head;
    return false;
  }
  return true;
}

bool WsClient::open(uint16_t port, std::string_view path, Millis timeout) {
  return connect(port, timeout) && handshake(path, timeout);
}

bool WsClient::send_raw(std::string_view bytes, Millis timeout) {
  if (!fd_) {
    error_ = "send: not connected";
    return false;
  }
  const auto deadline = Clock::now() + timeout;
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent > 0) {
      bytes.remove_prefix(static_cast<size_t>(sent));
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd pfd{fd_.get(), POLLOUT, 0};
      const int ms = remaining_ms(deadline);
      if (ms == 0 || ::poll(&pfd, 1, ms) == 0) {
        error_ = "send: timed out";
        return false;
      }
      continue;
    }
    error_ = std::string("send: ") + std::strerror(errno);
    return false;
  }
  return true;
}

bool WsClient::send_frame(uint8_t op, std::string_view payload, FrameOptions options) {
  return send_raw(encode_frame(op, payload, options));
}

ReadStatus WsClient::fill(Clock::time_point deadline) {
  if (!fd_) return ReadStatus::kError;
  char chunk[65536];
  for (;;) {
    const ssize_t got = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (got > 0) {
      in_.append(chunk, static_cast<size_t>(got));
      return ReadStatus::kFrame;
    }
    if (got == 0) return ReadStatus::kEof;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return ReadStatus::kEof;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      error_ = std::string("recv: ") + std::strerror(errno);
      return ReadStatus::kError;
    }
    pollfd pfd{fd_.get(), POLLIN, 0};
    const int ms = remaining_ms(deadline);
    if (ms == 0) return ReadStatus::kTimeout;
    const int ready = ::poll(&pfd, 1, ms);
    if (ready == 0) return ReadStatus::kTimeout;
    if (ready < 0 && errno != EINTR) {
      error_ = std::string("poll: ") + std::strerror(errno);
      return ReadStatus::kError;
    }
  }
}

ReadStatus WsClient::read_frame(Frame& out, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    // Try to decode a complete frame from what is buffered.
    if (in_.size() >= 2) {
      const auto* bytes = reinterpret_cast<const uint8_t*>(in_.data());
      size_t header = 2;
      uint64_t size = bytes[1] & 0x7F;
      const bool masked = (bytes[1] & 0x80) != 0;
      bool complete_header = true;
      if (size == 126) {
        header = 4;
        complete_header = in_.size() >= header;
        if (complete_header) size = (uint64_t{bytes[2]} << 8) | bytes[3];
      } else if (size == 127) {
        header = 10;
        complete_header = in_.size() >= header;
        if (complete_header) {
          size = 0;
          for (int i = 2; i < 10; ++i) size = (size << 8) | bytes[i];
        }
      }
      if (masked) header += 4;
      if (complete_header && in_.size() >= header && in_.size() - header >= size) {
        out.fin = (bytes[0] & 0x80) != 0;
        out.rsv = static_cast<uint8_t>((bytes[0] >> 4) & 7);
        out.opcode = bytes[0] & 0x0F;
        out.masked = masked;
        out.payload.assign(in_, header, static_cast<size_t>(size));
        if (masked) {
          const uint8_t* key = bytes + header - 4;
          for (size_t i = 0; i < out.payload.size(); ++i)
            out.payload[i] ^= static_cast<char>(key[i % 4]);
        }
        in_.erase(0, header + static_cast<size_t>(size));
        return ReadStatus::kFrame;
      }
    }
    const ReadStatus status = fill(deadline);
    if (status != ReadStatus::kFrame) return status;
  }
}

CloseResult WsClient::wait_close(Millis timeout) {
  CloseResult result;
  const auto deadline = Clock::now() + timeout;
  Frame frame;
  for (;;) {
    result.status = read_frame(frame, Millis(remaining_ms(deadline)));
    if (result.status != ReadStatus::kFrame) return result;
    if (frame.opcode != opcode::kClose) continue;
    if (frame.payload.size() >= 2) {
      result.close.has_code = true;
      result.close.code = static_cast<uint16_t>((static_cast<uint8_t>(frame.payload[0]) << 8) |
                                                static_cast<uint8_t>(frame.payload[1]));
      result.close.reason = frame.payload.substr(2);
    }
    return result;
  }
}

bool WsClient::wait_eof(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    in_.clear();
    const ReadStatus status = fill(deadline);
    if (status == ReadStatus::kEof) return true;
    if (status != ReadStatus::kFrame) return false;
  }
}

std::string WsClient::read_until_eof(Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  while (fill(deadline) == ReadStatus::kFrame) {
  }
  return in_;
}

}  // namespace sigver::itest
