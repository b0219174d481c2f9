#include "wire.h"

#include <openssl/evp.h>
#include <sys/random.h>

#include <array>
#include <cstring>

namespace bench {
namespace {

// xorshift64*: masks and keys only need to be unpredictable to a proxy, not secret.
uint64_t next_random() {
  static thread_local uint64_t state = [] {
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed || seed == 0) seed = 0x9e3779b97f4a7c15;
    return seed;
  }();
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545f4914f6cdd1dULL;
}

std::string base64(const unsigned char* bytes, size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes, static_cast<int>(size));
  out.resize(static_cast<size_t>(written));
  return out;
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = text[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

SigverMessage message_of(SigverMessage::Type type) {
  SigverMessage m;
  m.type = type;
  return m;
}

bool decode_content(std::string_view in, SigverMessage& m) {
  size_t pos = 0;
  while (pos < in.size()) {
    uint64_t tag = 0, value = 0;
    if (!read_varint(in, pos, tag)) return false;
    const uint64_t field = tag >> 3, wire_type = tag & 7;
    if (field == 2 && wire_type == 2) {
      if (!read_varint(in, pos, value) || value > in.size() - pos) return false;
      m.has_data = true;
      m.data = in.substr(pos, value);
      pos += value;
    } else if (field >= 1 && field <= 4 && wire_type == 0) {
      if (!read_varint(in, pos, value)) return false;
      if (field == 1) m.id = static_cast<uint32_t>(value);
      if (field == 3) m.is_error = value != 0;
      if (field == 4) m.is_end = value != 0;
    } else if (!skip_field(in, pos, wire_type)) {
      return false;
    }
  }
  return true;
}

}  // namespace

void append_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

size_t varint_size(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

bool read_varint(std::string_view in, size_t& pos, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (pos >= in.size()) return false;
    const auto byte = static_cast<uint8_t>(in[pos++]);
    value |= static_cast<uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

bool skip_field(std::string_view in, size_t& pos, uint64_t wire_type) {
  uint64_t value = 0;
  switch (wire_type) {
    case 0:
      return read_varint(in, pos, value);
    case 1:
      pos += 8;
      return pos <= in.size();
    case 2:
      if (!read_varint(in, pos, value) || value > in.size() - pos) return false;
      pos += value;
      return true;
    case 5:
      pos += 4;
      return pos <= in.size();
    default:
      return false;
  }
}

std::string make_websocket_key() {
  std::array<unsigned char, 16> raw{};
  for (size_t i = 0; i < raw.size(); i += 8) {
    const uint64_t r = next_random();
    std::memcpy(raw.data() + i, &r, 8);
  }
  return base64(raw.data(), raw.size());
}

std::string upgrade_request(std::string_view host, uint16_t port, std::string_view key_path,
                            std::string_view websocket_key) {
  std::string r;
  r.reserve(256 + key_path.size());
  r.append("GET /").append(key_path).append(" HTTP/1.1\r\nHost: ").append(host);
  r.append(":").append(std::to_string(port));
  r.append("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
  r.append(websocket_key).append("\r\nSec-WebSocket-Version: 13\r\n\r\n");
  return r;
}

bool upgrade_accepted(std::string_view response, std::string_view websocket_key) {
  if (!iequals_prefix(response, "HTTP/1.1 101")) return false;
  const std::string seed =
      std::string(websocket_key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455 GUID
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_size = 0;
  if (EVP_Digest(seed.data(), seed.size(), digest.data(), &digest_size, EVP_sha1(), nullptr) != 1) {
    return false;
  }
  const std::string expected = base64(digest.data(), digest_size);
  size_t start = 0;
  while (start < response.size()) {
    size_t end = response.find('\n', start);
    if (end == std::string_view::npos) end = response.size();
    const std::string_view line = response.substr(start, end - start);
    constexpr std::string_view kAccept = "sec-websocket-accept:";
    if (iequals_prefix(line, kAccept)) return trim(line.substr(kAccept.size())) == expected;
    start = end + 1;
  }
  return false;
}

void append_client_frame(std::string& out, uint8_t opcode, std::string_view payload) {
  out.push_back(static_cast<char>(0x80 | opcode));
  const size_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  }
  const auto mask = static_cast<uint32_t>(next_random());
  char mask_bytes[4];
  std::memcpy(mask_bytes, &mask, 4);
  out.append(mask_bytes, 4);
  const size_t at = out.size();
  out.append(payload);
  for (size_t i = 0; i < n; ++i) out[at + i] = static_cast<char>(out[at + i] ^ mask_bytes[i & 3]);
}

ParseResult parse_server_frame(char* in, size_t size, Frame& frame, size_t& consumed) {
  if (size < 2) return ParseResult::kNeedMore;
  const auto b0 = static_cast<uint8_t>(in[0]), b1 = static_cast<uint8_t>(in[1]);
  size_t header = 2;
  uint64_t length = b1 & 0x7F;
  if (length == 126) {
    if (size < 4) return ParseResult::kNeedMore;
    length =
        (static_cast<uint64_t>(static_cast<uint8_t>(in[2])) << 8) | static_cast<uint8_t>(in[3]);
    header = 4;
  } else if (length == 127) {
    if (size < 10) return ParseResult::kNeedMore;
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<uint8_t>(in[2 + i]);
    if (length >> 63) return ParseResult::kBad;
    header = 10;
  }
  const bool masked = (b1 & 0x80) != 0;
  const size_t mask_at = header;
  if (masked) header += 4;
  if (size < header || length > size - header) return ParseResult::kNeedMore;
  char* payload = in + header;
  if (masked) {
    for (uint64_t i = 0; i < length; ++i)
      payload[i] = static_cast<char>(payload[i] ^ in[mask_at + (i & 3)]);
  }
  frame.opcode = b0 & 0x0F;
  frame.fin = (b0 & 0x80) != 0;
  frame.payload = std::string_view(payload, length);
  consumed = header + length;
  return ParseResult::kFrame;
}

SigverMessage decode_sigver(std::string_view in) {
  SigverMessage m;
  size_t pos = 0;
  while (pos < in.size()) {
    uint64_t tag = 0, value = 0;
    if (!read_varint(in, pos, tag)) return message_of(SigverMessage::Type::kInvalid);
    const uint64_t field = tag >> 3, wire_type = tag & 7;
    if (field == 1 && wire_type == 2) {
      if (!read_varint(in, pos, value) || value > in.size() - pos) {
        return message_of(SigverMessage::Type::kInvalid);
      }
      m = message_of(SigverMessage::Type::kContent);
      if (!decode_content(in.substr(pos, value), m)) {
        return message_of(SigverMessage::Type::kInvalid);
      }
      pos += value;
    } else if (field >= 2 && field <= 5 && wire_type == 0) {
      if (!read_varint(in, pos, value)) return message_of(SigverMessage::Type::kInvalid);
      static constexpr SigverMessage::Type kTypes[] = {
          SigverMessage::Type::kIsFirst, SigverMessage::Type::kStable,
          SigverMessage::Type::kHeartbeat, SigverMessage::Type::kTryAnother};
      m = message_of(kTypes[field - 2]);
      m.flag = value != 0;
    } else if (!skip_field(in, pos, wire_type)) {
      return message_of(SigverMessage::Type::kInvalid);
    }
  }
  return m;
}

std::string encode_heartbeat() { return std::string("\x20\x01", 2); }

std::string encode_content(uint32_t id, std::string_view data) {
  std::string content;
  content.reserve(data.size() + 16);
  if (id != 0) {
    content.push_back(0x08);
    append_varint(content, id);
  }
  content.push_back(0x12);
  append_varint(content, data.size());
  content.append(data);
  std::string out;
  out.reserve(content.size() + 6);
  out.push_back(0x0A);
  append_varint(out, content.size());
  out.append(content);
  return out;
}

std::string fake_ice_candidate(size_t size, uint32_t seed) {
  const std::string base = "candidate:" + std::to_string(seed) + " 1 udp 2122260223 127.0.0.1 " +
                           std::to_string(40000 + seed % 20000) +
                           " typ host generation 0 ufrag bNch network-id 1";
  // sdpMid "0", sdpMLineIndex 0 (the explicit size keeps the final zero byte).
  constexpr std::string_view kMid{
      "\x12\x01"
      "0"
      "\x18\x00",
      5};
  // Largest candidate length whose whole encoding still fits in `size`.
  auto encoded_size = [&](size_t c) {
    const size_t inner = 1 + varint_size(c) + c + kMid.size();
    return 1 + varint_size(inner) + inner;
  };
  size_t candidate_size = base.size();
  while (encoded_size(candidate_size + 1) <= size) ++candidate_size;
  std::string candidate = base;
  candidate.resize(candidate_size, 'x');
  std::string inner;
  inner.push_back(0x0A);
  append_varint(inner, candidate.size());
  inner.append(candidate);
  inner.append(kMid);
  std::string out;
  out.push_back(0x22);  // field 4 (iceCandidate), length-delimited
  append_varint(out, inner.size());
  out.append(inner);
  return out;
}

}  // namespace bench
