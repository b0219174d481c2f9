#pragma once
// Protobuf's wire format as libprotobuf 3.21's generated parser (ParseContext) reads it, for
// the hand-written codecs of the generations: a message the server accepts is relayed to a
// client whose own decoder must agree, so every edge case follows libprotobuf, not the
// protobuf documentation. Reading only; nothing here knows a Sigver message.
#include <climits>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sigver::wire {

// libprotobuf's default recursion limit; each embedded message and each group takes a level.
inline constexpr int kMaxDepth = 100;
// ReadSizeFallback refuses sizes this close to INT_MAX (its limits are int offsets).
inline constexpr uint64_t kMaxLength = INT_MAX - 16;

enum WireType : uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

constexpr uint32_t tag(uint32_t field_number, WireType wire_type) {
  return field_number << 3 | wire_type;
}

// The bytes left to parse in one message (or group, or packed run). Every read fails rather
// than cross `end`: libprotobuf rejects a field that overruns its enclosing message.
struct Span {
  const char* at = nullptr;
  const char* end = nullptr;

  static Span of(std::string_view s) { return {s.data(), s.data() + s.size()}; }
  bool empty() const { return at == end; }
  size_t left() const { return static_cast<size_t>(end - at); }
  std::string_view view() const { return {at, left()}; }

  // A base-128 number of at most `max_bytes` bytes, keeping its low 64 bits (VarintParse
  // accepts a 10th byte with bits beyond 64).
  bool number(uint64_t& value, int max_bytes) {
    if (at != end && static_cast<uint8_t>(*at) < 0x80) {  // most tags and sizes: one byte
      value = static_cast<uint8_t>(*at++);
      return true;
    }
    uint64_t result = 0;
    for (int shift = 0; shift < 7 * max_bytes && at != end; shift += 7) {
      const auto byte = static_cast<uint8_t>(*at++);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (byte < 0x80) {
        value = result;
        return true;
      }
    }
    return false;
  }
  bool varint(uint64_t& value) { return number(value, 10); }
  // ReadTag: at most 5 bytes, wrapping modulo 2^32.
  bool field_tag(uint32_t& value) {
    uint64_t wide = 0;
    if (!number(wide, 5)) return false;
    value = static_cast<uint32_t>(wide);
    return true;
  }
  // A size prefix (ReadSize: at most 5 bytes, the 5th below 8, so a padded 6-byte size is
  // refused even when small) and that many bytes.
  bool length_delimited(Span& payload) {
    uint64_t size = 0;
    const char* start = at;
    if (!number(size, 5)) return false;
    if (at - start == 5 && static_cast<uint8_t>(at[-1]) >= 8) return false;
    if (size > kMaxLength || size > left()) return false;
    payload = {at, at + size};
    at += size;
    return true;
  }
  bool skip(size_t n) {
    if (n > left()) return false;
    at += n;
    return true;
  }
};

// Validates and passes over the value of a field libprotobuf would keep as unknown. Tag 0
// (field 0), a stray end group and wire types 6 and 7 are errors, as in libprotobuf's loop;
// a group may nest `depth_left` levels.
bool skip_field(Span& in, uint32_t field_tag, int depth_left);

// Writing.
inline size_t varint_size(uint64_t value) {
  size_t size = 1;
  for (; value >= 0x80; value >>= 7) ++size;
  return size;
}

inline char* put_varint(char* out, uint64_t value) {
  for (; value >= 0x80; value >>= 7) *out++ = static_cast<char>((value & 0x7f) | 0x80);
  *out++ = static_cast<char>(value);
  return out;
}

}  // namespace sigver::wire
