#pragma once
// What the load generator puts on the wire and reads back: the client side of RFC 6455
// (upgrade request, masked frames out, unmasked frames in) and the few Sigver protobuf
// messages a peer exchanges. Written from the specs, independent of the server's code, so
// the benchmark exercises sigverd the way any other client would.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace bench {

// ---- WebSocket ----

// A random 16-byte Sec-WebSocket-Key, base64.
std::string make_websocket_key();
std::string upgrade_request(std::string_view host, uint16_t port, std::string_view key_path,
                            std::string_view websocket_key);
// True when `response` (the headers, up to the blank line) is a 101 with the right accept.
bool upgrade_accepted(std::string_view response, std::string_view websocket_key);

// Appends one masked client frame (FIN set) to `out`.
void append_client_frame(std::string& out, uint8_t opcode, std::string_view payload);

struct Frame {
  uint8_t opcode = 0;
  bool fin = false;
  std::string_view payload;  // unmasked view into the input (server frames carry no mask)
};

enum class ParseResult { kFrame, kNeedMore, kBad };
// Parses one frame at the start of `in`; on kFrame, `consumed` is its length. A masked
// frame from the server is unmasked in place, hence the mutable input.
ParseResult parse_server_frame(char* in, size_t size, Frame& frame, size_t& consumed);

inline constexpr uint8_t kOpBinary = 0x2;
inline constexpr uint8_t kOpClose = 0x8;
inline constexpr uint8_t kOpPing = 0x9;
inline constexpr uint8_t kOpPong = 0xA;

// ---- Protobuf wire format, the little both generations need ----

void append_varint(std::string& out, uint64_t value);
size_t varint_size(uint64_t value);
// Reads a varint at `pos`; false if truncated or longer than 10 bytes.
bool read_varint(std::string_view in, size_t& pos, uint64_t& value);
// Skips a field of `wire_type` whose tag was just read; false if malformed.
bool skip_field(std::string_view in, size_t& pos, uint64_t wire_type);

// ---- Sigver messages of generation 1 (protocol.md; proto/sigver.proto, written by hand) ----

struct SigverMessage {
  enum class Type { kNone, kContent, kIsFirst, kStable, kHeartbeat, kTryAnother, kInvalid };
  Type type = Type::kNone;
  bool flag = false;  // value of isFirst/stable/heartbeat/tryAnother
  uint32_t id = 0;    // content.id
  bool has_data = false;
  std::string_view data;
  bool is_end = false;
  bool is_error = false;
};

SigverMessage decode_sigver(std::string_view bytes);
std::string encode_heartbeat();  // 20 01
// content{id (omitted when 0), data}
std::string encode_content(uint32_t id, std::string_view data);

// netflux's webRTCBuilder.Message{iceCandidate{candidate, sdpMid, sdpMLineIndex}}, padded so
// the encoding is `size` bytes (at least ~60): what an ICE candidate relay carries.
std::string fake_ice_candidate(size_t size, uint32_t seed);

}  // namespace bench
