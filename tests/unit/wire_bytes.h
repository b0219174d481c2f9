#pragma once
// Protobuf bytes by hand, for the codec and router tests of every generation: literal bytes,
// varints, a hex dump for failure messages, and the damage a differential test does to its
// generated inputs.
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>

namespace sigver::test {

inline std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

inline std::string varint(uint64_t value) {
  std::string out;
  for (; value >= 0x80; value >>= 7) out.push_back(static_cast<char>((value & 0x7f) | 0x80));
  out.push_back(static_cast<char>(value));
  return out;
}

inline std::string hex(std::string_view s) {
  std::string out;
  char digits[4];
  for (unsigned char c : s) {
    std::snprintf(digits, sizeof digits, "%02x ", c);
    out += digits;
  }
  return out;
}

// `depth` groups of field `field_number` nested in each other, as unknown fields.
inline std::string nested_groups(int depth, uint32_t field_number) {
  const std::string start = varint(field_number << 3 | 3), end = varint(field_number << 3 | 4);
  std::string s;
  for (int i = 0; i < depth; ++i) s += start;
  for (int i = 0; i < depth; ++i) s += end;
  return s;
}

// One random edit: a flipped bit, an inserted or dropped byte, a truncation, or a repeated
// piece of the input's own tail.
inline void damage(std::string& s, std::mt19937_64& rng) {
  if (s.empty()) {
    s.push_back(static_cast<char>(rng()));
    return;
  }
  const size_t at = rng() % s.size();
  switch (rng() % 5) {
    case 0:
      s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
      break;
    case 1:
      s.insert(at, 1, static_cast<char>(rng()));
      break;
    case 2:
      s.erase(at, 1);
      break;
    case 3:
      s.resize(at);
      break;
    default:
      s += s.substr(at, rng() % 6);
  }
}

}  // namespace sigver::test
