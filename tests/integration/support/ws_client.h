#pragma once
// A small blocking WebSocket client for tests. Every read and write is bounded by a timeout
// (poll), and every frame can be built by hand, so tests can also send what a well-behaved
// client never would (unmasked frames, RSV bits, bad opcodes, raw bytes).
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/unique_fd.h"

namespace sigver::itest {

using Millis = std::chrono::milliseconds;
inline constexpr Millis kDefaultTimeout{3000};

namespace opcode {
inline constexpr uint8_t kContinuation = 0x0;
inline constexpr uint8_t kText = 0x1;
inline constexpr uint8_t kBinary = 0x2;
inline constexpr uint8_t kClose = 0x8;
inline constexpr uint8_t kPing = 0x9;
inline constexpr uint8_t kPong = 0xA;
}  // namespace opcode

struct Frame {
  bool fin = true;
  uint8_t rsv = 0;  // RSV1..RSV3 as bits 2..0
  uint8_t opcode = opcode::kBinary;
  bool masked = false;
  std::string payload;
};

struct FrameOptions {
  bool fin = true;
  uint8_t rsv = 0;
  bool masked = true;  // clients must mask; false to provoke a 1002
};

// Encodes one frame. With `masked`, a fixed non-trivial key is used.
std::string encode_frame(uint8_t op, std::string_view payload, FrameOptions options = {});
// The payload of a close frame: 2-byte code followed by the reason.
std::string close_payload(uint16_t code, std::string_view reason);

struct HttpResponse {
  int status = 0;  // 0 when no complete response head arrived
  std::string head;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string header(std::string_view name) const;  // case-insensitive; "" if absent
};

enum class ReadStatus { kFrame, kTimeout, kEof, kError };
const char* to_string(ReadStatus status);

struct CloseInfo {
  bool has_code = false;  // false for an empty close payload
  uint16_t code = 0;
  std::string reason;
};

// What waiting for a close produced.
struct CloseResult {
  ReadStatus status = ReadStatus::kTimeout;  // kFrame when a close frame arrived
  CloseInfo close;
  std::string describe() const;
};

class WsClient {
 public:
  WsClient() = default;
  WsClient(WsClient&&) = default;
  WsClient& operator=(WsClient&&) = default;

  // Applied by the next connect(): a small SO_RCVBUF makes a peer that stops reading fill up
  // quickly (backpressure tests).
  void set_receive_buffer(int bytes) { receive_buffer_ = bytes; }
  bool connect(uint16_t port, Millis timeout = kDefaultTimeout);
  bool connected() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }
  // Closes with a reset instead of a FIN (SO_LINGER 0): what the server sees when a client
  // process is killed with unread bytes, or a middlebox drops the connection.
  void reset();
  // Takes over a socket connected elsewhere (e.g. in another network namespace); the next
  // call is usually handshake().
  void adopt(UniqueFd fd);
  void shutdown_write();
  const std::string& last_error() const { return error_; }

  // An upgrade request for `path` with a valid Sec-WebSocket-Key; `extra_headers` is
  // inserted verbatim before the blank line (each header ending in \r\n).
  static std::string upgrade_request(std::string_view path, std::string_view extra_headers = {});
  // Reads up to the end of the response head; bytes after it stay buffered for frames.
  HttpResponse read_http_response(Millis timeout = kDefaultTimeout);
  // Sends upgrade_request(path) and checks the 101 and its Sec-WebSocket-Accept.
  bool handshake(std::string_view path, Millis timeout = kDefaultTimeout);
  // connect + handshake.
  bool open(uint16_t port, std::string_view path, Millis timeout = kDefaultTimeout);

  bool send_raw(std::string_view bytes, Millis timeout = kDefaultTimeout);
  bool send_frame(uint8_t op, std::string_view payload, FrameOptions options = {});
  bool send_binary(std::string_view payload) { return send_frame(opcode::kBinary, payload); }
  bool send_text(std::string_view payload) { return send_frame(opcode::kText, payload); }
  bool send_ping(std::string_view payload) { return send_frame(opcode::kPing, payload); }
  bool send_close(uint16_t code, std::string_view reason = {}) {
    return send_frame(opcode::kClose, close_payload(code, reason));
  }

  // Reads one frame (control frames included, unassembled).
  ReadStatus read_frame(Frame& out, Millis timeout = kDefaultTimeout);
  // Reads frames, discarding data frames, until a close frame, EOF, error or timeout.
  CloseResult wait_close(Millis timeout = kDefaultTimeout);
  // Reads and discards everything until EOF; false on timeout.
  bool wait_eof(Millis timeout = kDefaultTimeout);
  // Reads raw bytes until EOF/timeout and returns them (for HTTP error bodies).
  std::string read_until_eof(Millis timeout = kDefaultTimeout);
  // Bytes received but not consumed yet.
  const std::string& buffered() const { return in_; }

 private:
  // Appends at least one byte to in_ or reports why not, waiting until `deadline`.
  ReadStatus fill(std::chrono::steady_clock::time_point deadline);

  UniqueFd fd_;
  std::string in_;
  std::string sent_key_;
  std::string error_;
  int receive_buffer_ = 0;
};

// base64(SHA-1(key + RFC 6455 GUID)).
std::string websocket_accept(std::string_view key);

}  // namespace sigver::itest
