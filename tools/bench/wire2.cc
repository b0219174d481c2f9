#include "wire2.h"

#include "wire.h"

namespace bench {
namespace {

Gen2Message invalid() {
  Gen2Message m;
  m.type = Gen2Message::Type::kInvalid;
  return m;
}

// Appends a length-delimited field.
void append_bytes(std::string& out, uint8_t tag, std::string_view bytes) {
  out.push_back(static_cast<char>(tag));
  append_varint(out, bytes.size());
  out.append(bytes);
}

bool decode_content(std::string_view in, Gen2Message& m) {
  size_t pos = 0;
  while (pos < in.size()) {
    uint64_t tag = 0, value = 0;
    if (!read_varint(in, pos, tag)) return false;
    const uint64_t field = tag >> 3, wire_type = tag & 7;
    if (field == 4 && wire_type == 2) {
      if (!read_varint(in, pos, value) || value > in.size() - pos) return false;
      m.has_data = true;
      m.data = in.substr(pos, value);
      pos += value;
    } else if (field >= 1 && field <= 3 && wire_type == 0) {
      if (!read_varint(in, pos, value)) return false;
      if (field == 1) m.sender_id = static_cast<uint32_t>(value);
      if (field == 2) m.recipient_id = static_cast<uint32_t>(value);
      if (field == 3) m.last_data = value != 0;
    } else if (!skip_field(in, pos, wire_type)) {
      return false;
    }
  }
  return true;
}

// GroupData{id, members}: members packed or one field each.
bool decode_connect(std::string_view in, Gen2Message& m) {
  size_t pos = 0;
  while (pos < in.size()) {
    uint64_t tag = 0, value = 0;
    if (!read_varint(in, pos, tag)) return false;
    const uint64_t field = tag >> 3, wire_type = tag & 7;
    if (field == 1 && wire_type == 0) {
      if (!read_varint(in, pos, value)) return false;
      m.id = static_cast<uint32_t>(value);
    } else if (field == 2 && wire_type == 0) {
      if (!read_varint(in, pos, value)) return false;
      ++m.members;
    } else if (field == 2 && wire_type == 2) {
      if (!read_varint(in, pos, value) || value > in.size() - pos) return false;
      const std::string_view packed = in.substr(pos, value);
      pos += value;
      for (size_t at = 0; at < packed.size(); ++m.members) {
        if (!read_varint(packed, at, value)) return false;
      }
    } else if (!skip_field(in, pos, wire_type)) {
      return false;
    }
  }
  return true;
}

}  // namespace

Gen2Message decode_gen2(std::string_view in) {
  Gen2Message m;
  size_t pos = 0;
  while (pos < in.size()) {
    uint64_t tag = 0, value = 0;
    if (!read_varint(in, pos, tag)) return invalid();
    const uint64_t field = tag >> 3, wire_type = tag & 7;
    if ((field == 2 || field == 3) && wire_type == 2) {
      if (!read_varint(in, pos, value) || value > in.size() - pos) return invalid();
      const std::string_view inner = in.substr(pos, value);
      pos += value;
      m = Gen2Message{};
      m.type = field == 2 ? Gen2Message::Type::kContent : Gen2Message::Type::kConnect;
      if (!(field == 2 ? decode_content(inner, m) : decode_connect(inner, m))) return invalid();
    } else if ((field == 1 || field == 4) && wire_type == 0) {
      if (!read_varint(in, pos, value)) return invalid();
      m = Gen2Message{};
      m.type = field == 1 ? Gen2Message::Type::kHeartbeat : Gen2Message::Type::kConnected;
      m.flag = value != 0;
    } else if (!skip_field(in, pos, wire_type)) {
      return invalid();
    }
  }
  return m;
}

std::string encode_gen2_heartbeat() { return std::string("\x08\x01", 2); }

std::string encode_gen2_connect(uint32_t id, const std::vector<uint32_t>& members) {
  std::string group;
  group.push_back(0x08);
  append_varint(group, id);
  if (!members.empty()) {
    std::string packed;
    for (const uint32_t member : members) append_varint(packed, member);
    append_bytes(group, 0x12, packed);
  }
  std::string out;
  append_bytes(out, 0x1A, group);
  return out;
}

std::string encode_gen2_content(uint32_t sender_id, uint32_t recipient_id, std::string_view data) {
  std::string content;
  content.reserve(data.size() + 20);
  content.push_back(0x08);
  append_varint(content, sender_id);
  content.push_back(0x10);
  append_varint(content, recipient_id);
  content.append("\x18\x00", 2);
  append_bytes(content, 0x22, data);
  std::string out;
  out.reserve(content.size() + 6);
  append_bytes(out, 0x12, content);
  return out;
}

}  // namespace bench
