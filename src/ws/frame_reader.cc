// Client-to-server frame parsing (RFC 6455 section 5). The reader only ever consumes whole
// frames: a partial frame stays with the caller, who feeds it again with more bytes. That
// keeps the reader's own state to the fragmented message being assembled, and lets an
// unfragmented message be handed on as a view into the caller's input.
#include <cstdint>
#include <cstring>

#include "ws/frame.h"

namespace sigver::ws {
namespace {

constexpr size_t kMaskSize = 4;
constexpr uint64_t kMaxControlPayload = 125;

bool is_control(uint8_t opcode) { return (opcode & 0x8) != 0; }

bool is_known_opcode(uint8_t opcode) {
  switch (static_cast<Opcode>(opcode)) {
    case Opcode::kContinuation:
    case Opcode::kText:
    case Opcode::kBinary:
    case Opcode::kClose:
    case Opcode::kPing:
    case Opcode::kPong:
      return true;
  }
  return false;
}

uint64_t read_big_endian(const unsigned char* p, size_t n) {
  uint64_t value = 0;
  for (size_t i = 0; i < n; ++i) value = (value << 8) | p[i];
  return value;
}

// XORs the payload with the 4-byte key, eight bytes at a time where possible.
void unmask(char* payload, size_t size, const unsigned char* key) {
  unsigned char key8[8];
  for (size_t i = 0; i < 8; ++i) key8[i] = key[i % kMaskSize];
  uint64_t key_word;
  std::memcpy(&key_word, key8, 8);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t word;
    std::memcpy(&word, payload + i, 8);
    word ^= key_word;
    std::memcpy(payload + i, &word, 8);
  }
  for (; i < size; ++i) payload[i] = static_cast<char>(payload[i] ^ key[i % kMaskSize]);
}

}  // namespace

bool is_valid_received_close_code(uint16_t code) {
  // 1004-1006 and 1015 are reserved for local use and never appear on the wire; 1016-2999
  // are unassigned; 3000-4999 belong to libraries and applications.
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

size_t FrameReader::feed(char* data, size_t size, FrameHandler& handler) {
  size_t pos = 0;
  while (size - pos >= 2) {
    const auto* header = reinterpret_cast<const unsigned char*>(data + pos);
    const size_t available = size - pos;
    const bool fin = (header[0] & 0x80) != 0;
    const uint8_t opcode = header[0] & 0x0F;
    const bool masked = (header[1] & 0x80) != 0;
    const uint8_t length7 = header[1] & 0x7F;

    // Everything decidable from the first two bytes is checked before waiting for more.
    if ((header[0] & 0x70) != 0) {
      handler.on_error(close_code::kProtocolError, "reserved bits set");
      return pos;
    }
    if (!is_known_opcode(opcode)) {
      handler.on_error(close_code::kProtocolError, "reserved opcode");
      return pos;
    }
    if (!masked) {
      handler.on_error(close_code::kProtocolError, "client frame not masked");
      return pos;
    }
    const bool control = is_control(opcode);
    if (control && (!fin || length7 > kMaxControlPayload)) {
      handler.on_error(close_code::kProtocolError,
                       fin ? "control frame too long" : "fragmented control frame");
      return pos;
    }
    const auto kind = static_cast<Opcode>(opcode);
    if (kind == Opcode::kContinuation && !fragmented_) {
      handler.on_error(close_code::kProtocolError, "continuation without a message");
      return pos;
    }
    if ((kind == Opcode::kText || kind == Opcode::kBinary) && fragmented_) {
      handler.on_error(close_code::kProtocolError, "new message inside a fragmented one");
      return pos;
    }

    const size_t length_bytes = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
    if (available < 2 + length_bytes) break;
    uint64_t payload_size = length7;
    if (length_bytes != 0) {
      payload_size = read_big_endian(header + 2, length_bytes);
      if (payload_size >> 63) {
        handler.on_error(close_code::kProtocolError, "payload length top bit set");
        return pos;
      }
    }
    if (!control) {
      // Refuse as soon as the header announces too much, before buffering any of it.
      const uint64_t already = fragmented_ ? fragments_.size() : 0;
      if (payload_size > max_message_size_ || already > max_message_size_ - payload_size) {
        handler.on_error(close_code::kMessageTooBig, "message too big");
        return pos;
      }
    }

    const size_t header_size = 2 + length_bytes + kMaskSize;
    if (available < header_size || available - header_size < payload_size) break;
    char* payload = data + pos + header_size;
    const auto payload_length = static_cast<size_t>(payload_size);
    unmask(payload, payload_length, header + 2 + length_bytes);
    pos += header_size + payload_length;

    bool keep_reading = true;
    switch (kind) {
      case Opcode::kPing:
        keep_reading = handler.on_ping(payload, payload_length);
        break;
      case Opcode::kPong:
        keep_reading = handler.on_pong(payload, payload_length);
        break;
      case Opcode::kClose: {
        if (payload_length == 0) {
          keep_reading = handler.on_close(close_code::kNoStatus, {});
          break;
        }
        if (payload_length == 1) {
          handler.on_error(close_code::kProtocolError, "close frame with a 1-byte payload");
          return pos;
        }
        const auto code = static_cast<uint16_t>(
            read_big_endian(reinterpret_cast<const unsigned char*>(payload), 2));
        if (!is_valid_received_close_code(code)) {
          handler.on_error(close_code::kProtocolError, "invalid close code");
          return pos;
        }
        if (!is_valid_utf8(payload + 2, payload_length - 2)) {
          handler.on_error(close_code::kInvalidPayload, "close reason is not UTF-8");
          return pos;
        }
        keep_reading = handler.on_close(code, {payload + 2, payload_length - 2});
        break;
      }
      case Opcode::kText:
      case Opcode::kBinary:
        if (fin) {
          keep_reading = handler.on_message(kind, payload, payload_length);
        } else {
          fragmented_ = true;
          message_opcode_ = kind;
          fragments_.append(payload, payload_length);
        }
        break;
      case Opcode::kContinuation: {
        fragments_.append(payload, payload_length);
        if (!fin) break;
        // Take the message out first so the reader is clean even if the handler re-enters.
        Buffer message = std::move(fragments_);
        fragments_.release();
        fragmented_ = false;
        // An all-empty message owns no memory; point at the (empty) payload instead of null.
        char* message_data = message.empty() ? payload : message.data();
        keep_reading = handler.on_message(message_opcode_, message_data, message.size());
        break;
      }
    }
    if (!keep_reading) return pos;
  }
  return pos;
}

}  // namespace sigver::ws
