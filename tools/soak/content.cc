#include "content.h"

#include <algorithm>
#include <cstring>

#include "wire.h"

namespace soak {
namespace {

char pattern_byte(uint32_t joiner, uint32_t seq, size_t i) {
  return static_cast<char>((joiner * 31u + seq * 131u + static_cast<uint32_t>(i) * 7u) & 0xFF);
}

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

}  // namespace

std::string make_data(uint32_t tag, uint32_t joiner, uint32_t seq, size_t size) {
  size = std::max(size, kHeaderSize);
  std::string data(size, '\0');
  const uint32_t header[4] = {tag, joiner, seq, static_cast<uint32_t>(size)};
  std::memcpy(data.data(), header, kHeaderSize);
  for (size_t i = kHeaderSize; i < size; ++i) data[i] = pattern_byte(joiner, seq, i);
  return data;
}

bool read_data(std::string_view data, DataHeader& h) {
  if (data.size() < kHeaderSize) return false;
  std::memcpy(&h, data.data(), kHeaderSize);
  if (h.size != data.size()) return false;
  for (size_t i = kHeaderSize; i < data.size(); ++i) {
    if (data[i] != pattern_byte(h.joiner, h.seq, i)) return false;
  }
  return true;
}

std::string flag_message(unsigned field) {
  return std::string{static_cast<char>(field << 3), '\x01'};
}

std::string end_message(uint32_t id) {
  std::string content;
  if (id != 0) {
    content.push_back(0x08);
    put_varint(content, id);
  }
  content.append("\x20\x01", 2);
  std::string out;
  out.push_back(0x0A);
  put_varint(out, content.size());
  out.append(content);
  return out;
}

std::string close_frame(uint16_t code) {
  std::string payload{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  payload.append("bye");
  std::string frame;
  bench::append_client_frame(frame, bench::kOpClose, payload);
  return frame;
}

}  // namespace soak
