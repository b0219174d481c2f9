#pragma once
// Reads a fuzz input from front to back, so that a hand-made seed can be written byte by byte
// (libFuzzer's FuzzedDataProvider takes numbers from the back). Past the end it yields zeros
// and empty strings, so every input drives the target to some end.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sigver::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return rest_.empty(); }
  size_t size() const { return rest_.size(); }

  uint8_t byte() {
    if (rest_.empty()) return 0;
    const auto b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  bool flag() { return (byte() & 1) != 0; }
  // Little-endian, like the seeds' hex dumps read.
  uint32_t u32() {
    uint32_t value = 0;
    for (int shift = 0; shift < 32; shift += 8) value |= uint32_t{byte()} << shift;
    return value;
  }
  uint16_t u16() {
    const uint8_t low = byte();  // two statements: operands of | are unsequenced
    return static_cast<uint16_t>(low | (byte() << 8));
  }
  // At most `n` bytes (fewer at the end of the input).
  std::string_view take(size_t n) {
    std::string_view part = rest_.substr(0, n);
    rest_.remove_prefix(part.size());
    return part;
  }
  std::string_view rest() { return take(rest_.size()); }

 private:
  std::string_view rest_;
};

}  // namespace sigver::fuzz
