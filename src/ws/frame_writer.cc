// Server-to-client frames: always FIN, never masked (RFC 6455 5.1), minimal length encoding.
#include <cstdint>
#include <cstring>

#include "ws/frame.h"

namespace sigver::ws {
namespace {

constexpr size_t kMaxControlPayload = 125;
constexpr size_t kMaxCloseReason = kMaxControlPayload - 2;  // two bytes carry the code

bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

size_t frame_header_size(size_t payload_size) {
  if (payload_size < 126) return 2;
  if (payload_size <= 0xFFFF) return 4;
  return 10;
}

size_t server_frame_size(const char* frame) {
  const auto* p = reinterpret_cast<const unsigned char*>(frame);
  const size_t length7 = p[1] & 0x7F;
  if (length7 < 126) return 2 + length7;
  if (length7 == 126) return 4 + ((size_t{p[2]} << 8) | p[3]);
  uint64_t length = 0;
  for (int i = 0; i < 8; ++i) length = (length << 8) | p[2 + i];
  return 10 + static_cast<size_t>(length);
}

size_t write_frame_header(char* out, Opcode opcode, size_t payload_size) {
  auto* p = reinterpret_cast<unsigned char*>(out);
  p[0] = static_cast<unsigned char>(0x80 | static_cast<uint8_t>(opcode));
  if (payload_size < 126) {
    p[1] = static_cast<unsigned char>(payload_size);
    return 2;
  }
  if (payload_size <= 0xFFFF) {
    p[1] = 126;
    p[2] = static_cast<unsigned char>(payload_size >> 8);
    p[3] = static_cast<unsigned char>(payload_size);
    return 4;
  }
  p[1] = 127;
  const uint64_t length = payload_size;
  for (int i = 0; i < 8; ++i) {
    p[2 + i] = static_cast<unsigned char>(length >> (56 - 8 * i));
  }
  return 10;
}

void append_frame(Buffer& out, Opcode opcode, const void* payload, size_t size) {
  const size_t header_size = frame_header_size(size);
  char* p = out.prepare(header_size + size);
  write_frame_header(p, opcode, size);
  if (size > 0) std::memcpy(p + header_size, payload, size);
  out.commit(header_size + size);
}

void append_close_frame(Buffer& out, uint16_t code, std::string_view reason) {
  if (code == close_code::kNoStatus) {
    append_frame(out, Opcode::kClose, nullptr, 0);
    return;
  }
  size_t reason_size = reason.size();
  if (reason_size > kMaxCloseReason) {
    // Back up to the start of the sequence that would be split, so the peer still gets
    // valid UTF-8 (it must fail the connection with 1007 otherwise).
    reason_size = kMaxCloseReason;
    while (reason_size > 0 && is_utf8_continuation(reason[reason_size])) --reason_size;
  }
  char payload[kMaxControlPayload];
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code & 0xFF);
  if (reason_size > 0) std::memcpy(payload + 2, reason.data(), reason_size);
  append_frame(out, Opcode::kClose, payload, 2 + reason_size);
}

}  // namespace sigver::ws
