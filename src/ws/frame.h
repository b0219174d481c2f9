#pragma once
// RFC 6455 server-side framing: parsing client frames (no I/O, any chunking) and writing
// server frames. The parser unmasks payloads in place and hands them on as views.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/buffer.h"

namespace sigver::ws {

enum class Opcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// Close codes used by the server (RFC 6455 section 7.4 and protocol.md).
namespace close_code {
inline constexpr uint16_t kNormal = 1000;
inline constexpr uint16_t kGoingAway = 1001;
inline constexpr uint16_t kProtocolError = 1002;
inline constexpr uint16_t kNoStatus = 1005;  // never sent: "close frame had no code"
inline constexpr uint16_t kInvalidPayload = 1007;
inline constexpr uint16_t kPolicyViolation = 1008;
inline constexpr uint16_t kMessageTooBig = 1009;
inline constexpr uint16_t kInternalError = 1011;
inline constexpr uint16_t kTryAgainLater = 1013;
// Codes 4000-4999 are the application's: each Sigver generation defines its own
// (src/worker/protocol/gen*/).
}  // namespace close_code

// True for codes a peer may put in a close frame it sends (RFC 6455 7.4.1/7.4.2).
bool is_valid_received_close_code(uint16_t code);
// True if [p, p+n) is well-formed UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF).
bool is_valid_utf8(const char* p, size_t n);

// Receives the events of one connection's input stream. Each callback returns false when the
// connection must stop reading (it was closed or is closing); the reader then stops at once.
class FrameHandler {
 public:
  virtual ~FrameHandler() = default;
  // One complete data message (text or binary), defragmented. `data` is writable and valid
  // only during the call.
  virtual bool on_message(Opcode opcode, char* data, size_t size) = 0;
  virtual bool on_ping(char* data, size_t size) = 0;
  virtual bool on_pong(char* data, size_t size) = 0;
  // A valid close frame. code is close_code::kNoStatus when the frame had no payload.
  virtual bool on_close(uint16_t code, std::string_view reason) = 0;
  // The input violates the protocol; the connection must be closed with `code`
  // (1002, 1007 or 1009) and `reason`. Nothing more is read.
  virtual void on_error(uint16_t code, std::string_view reason) = 0;
};

// The per-connection read state. Holds nothing on the heap unless a fragmented message is
// being assembled.
class FrameReader {
 public:
  explicit FrameReader(uint64_t max_message_size) { set_max_message_size(max_message_size); }
  // 32-bit (the configuration allows at most 1 GiB) to keep every connection small.
  void set_max_message_size(uint64_t n) {
    max_message_size_ = static_cast<uint32_t>(n > UINT32_MAX ? UINT32_MAX : n);
  }

  // Parses as many complete frames from [data, data+size) as there are, calling `handler`
  // for each. Unmasks in place. Returns the number of bytes consumed; the caller keeps the
  // rest and calls again with it followed by more input. Stops early when a callback
  // returns false or on error (then the return value is unspecified beyond <= size).
  size_t feed(char* data, size_t size, FrameHandler& handler);

  bool assembling() const { return fragmented_; }
  // Heap held for a fragmented message being assembled (charged to the inbound account).
  size_t buffered_bytes() const { return fragments_.capacity(); }

  // Moving a connection to another process mid-message: what was assembled so far, and
  // resuming from it on the other side.
  Opcode assembling_opcode() const { return message_opcode_; }
  std::string_view assembled() const { return fragments_.view(); }
  void resume_assembly(Opcode opcode, std::string_view assembled) {
    fragmented_ = true;
    message_opcode_ = opcode;
    fragments_.release();
    fragments_.append(assembled);
  }

 private:
  uint32_t max_message_size_ = 0;
  bool fragmented_ = false;
  Opcode message_opcode_ = Opcode::kBinary;
  Buffer fragments_{Buffer::Account::kInbound};
};

// Writing server frames (never masked, always FIN).
inline constexpr size_t kMaxFrameHeader = 10;
size_t frame_header_size(size_t payload_size);
// Writes the header of a FIN frame into `out` (at least frame_header_size() bytes);
// returns its size.
size_t write_frame_header(char* out, Opcode opcode, size_t payload_size);
// The whole size (header + payload) of the server frame that starts at `frame`, which must
// hold the complete header (as every frame this file wrote does).
size_t server_frame_size(const char* frame);
// Appends a whole frame.
void append_frame(Buffer& out, Opcode opcode, const void* payload, size_t size);
// Appends a close frame with `code` and `reason` (cut to fit the 125-byte control limit at a
// UTF-8 boundary). code kNoStatus writes an empty close frame.
void append_close_frame(Buffer& out, uint16_t code, std::string_view reason);

}  // namespace sigver::ws
