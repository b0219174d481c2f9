// Strict UTF-8 validation (RFC 3629). Close reasons and (elsewhere) text payloads go through
// this, so pure-ASCII input takes a word-at-a-time fast path.
#include <cstdint>
#include <cstring>

#include "ws/frame.h"

namespace sigver::ws {
namespace {

bool in_range(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }

// Length of the well-formed sequence starting at p[0] (p[0] >= 0x80), or 0 if ill-formed.
// The first continuation byte's range depends on the lead byte: that is what rules out
// overlong forms (E0, F0), surrogates (ED) and code points above U+10FFFF (F4).
size_t sequence_length(const unsigned char* p, size_t available) {
  const unsigned char lead = p[0];
  size_t length;
  unsigned char second_lo = 0x80;
  unsigned char second_hi = 0xBF;
  if (in_range(lead, 0xC2, 0xDF)) {
    length = 2;
  } else if (in_range(lead, 0xE0, 0xEF)) {
    length = 3;
    if (lead == 0xE0) second_lo = 0xA0;
    if (lead == 0xED) second_hi = 0x9F;
  } else if (in_range(lead, 0xF0, 0xF4)) {
    length = 4;
    if (lead == 0xF0) second_lo = 0x90;
    if (lead == 0xF4) second_hi = 0x8F;
  } else {
    return 0;  // 80-C1 (continuation or overlong lead) and F5-FF never start a sequence
  }
  if (available < length) return 0;
  if (!in_range(p[1], second_lo, second_hi)) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (!in_range(p[i], 0x80, 0xBF)) return 0;
  }
  return length;
}

}  // namespace

bool is_valid_utf8(const char* data, size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  const unsigned char* const end = p + n;
  constexpr uint64_t kHighBits = 0x8080808080808080ULL;
  while (p < end) {
    if (static_cast<size_t>(end - p) >= 8) {
      uint64_t word;
      std::memcpy(&word, p, 8);
      if ((word & kHighBits) == 0) {
        p += 8;
        continue;
      }
    }
    if (*p < 0x80) {
      ++p;
      continue;
    }
    const size_t length = sequence_length(p, static_cast<size_t>(end - p));
    if (length == 0) return false;
    p += length;
  }
  return true;
}

}  // namespace sigver::ws
