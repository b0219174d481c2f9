#pragma once
// The Sigver messages of generation 2 (protocol-v2.md, netflux 4.1.3+), encoded and decoded
// by hand from the spec like wire.h's generation 1: the benchmark never links the server's
// codec, so it measures what any netflux 4 client would cost.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

struct Gen2Message {
  enum class Type { kNone, kHeartbeat, kContent, kConnect, kConnected, kInvalid };
  Type type = Type::kNone;
  bool flag = false;  // value of heartbeat/connected
  // content
  uint32_t sender_id = 0;
  uint32_t recipient_id = 0;
  bool last_data = false;
  bool has_data = false;
  std::string_view data;
  // connect
  uint32_t id = 0;
  size_t members = 0;
};

Gen2Message decode_gen2(std::string_view bytes);
std::string encode_gen2_heartbeat();  // 08 01
// connect{id, members} with the members packed, as netflux 4.3.1 sends it.
std::string encode_gen2_connect(uint32_t id, const std::vector<uint32_t>& members);
// content{senderId, recipientId, lastData: false, data}: netflux writes all four fields,
// zeros included (12 .. 08 <s> 10 <r> 18 00 22 <data>).
std::string encode_gen2_content(uint32_t sender_id, uint32_t recipient_id, std::string_view data);

}  // namespace bench
