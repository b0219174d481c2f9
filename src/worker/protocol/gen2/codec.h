#pragma once
// Zero-copy codec for generation 2's protobuf messages (proto/sigver2.proto, protocol-v2.md
// "Wire"). Decoding validates the whole message exactly as libprotobuf's parser would accept
// it and yields views into the input; encoding writes straight into the recipient's output
// buffer. The generated classes of sigver2.proto are the reference this is tested against
// (tests/unit/gen2_codec_test.cc).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sigver::gen2 {

// The oneof cases, numbered by field number like the generated type_case().
enum class MessageType : uint8_t {
  kNone = 0,
  kHeartbeat = 1,
  kContent = 2,
  kConnect = 3,
  kConnected = 4
};

// Field numbers of proto/sigver2.proto.
namespace field {
inline constexpr uint32_t kHeartbeat = 1, kContent = 2, kConnect = 3, kConnected = 4;
inline constexpr uint32_t kSenderId = 1, kRecipientId = 2, kLastData = 3, kData = 4;
inline constexpr uint32_t kGroupId = 1, kGroupMembers = 2;
}  // namespace field

struct DecodedMessage {
  MessageType type = MessageType::kNone;  // the oneof case libprotobuf would report
  bool flag = false;                      // value of heartbeat or connected
  // With kContent (several `content` fields in a row merge as protobuf merges them: each
  // field keeps its last value).
  uint32_t sender_id = 0;
  uint32_t recipient_id = 0;
  bool last_data = false;
  std::string_view data;  // the last `data` field, a view into the input; empty if none
  // With kConnect: the last GroupData.id, and the part of the input that holds the merged
  // `connect` fields (read their members with MemberReader).
  uint32_t connect_id = 0;
  std::string_view connect;
};

// Decodes one Message. Returns false if libprotobuf would reject the bytes. A valid message
// with no oneof case set returns true with type kNone.
bool decode_message(const char* data, size_t size, DecodedMessage& out);

// The members of a decoded connect in the order libprotobuf would list them: every merged
// `connect` field, packed and unpacked runs alike. Reads nothing but the input and keeps no
// copy of it.
class MemberReader {
 public:
  explicit MemberReader(std::string_view connect);
  // The next member id, false at the end.
  bool next(uint32_t& id);

 private:
  struct Region {
    const char* begin;
    const char* end;
  };
  Region message_;  // the rest of the top-level fields
  Region group_;    // the rest of the current GroupData
  Region packed_;   // the rest of the current packed run
};

// Message{heartbeat: true}: 08 01.
inline constexpr size_t kHeartbeatSize = 2;
size_t write_heartbeat(char* out);
// Message{connected: value}, written even when false: 20 01 / 20 00.
inline constexpr size_t kConnectedSize = 2;
size_t write_connected(char* out, bool value);

// Message{content{senderId, recipientId, data}}: both ids written even when 0 and data
// always present, as protocol-v2.md's Relay says. Size first, then the write into a buffer
// of that size (one memcpy of data); write_content returns the size written.
size_t content_size(uint32_t sender_id, uint32_t recipient_id, size_t data_size);
size_t write_content(char* out, uint32_t sender_id, uint32_t recipient_id, std::string_view data);

// Message{content{senderId, recipientId}} with no data: the end notice of a binding.
inline constexpr size_t kMaxEndNoticeSize = 14;
size_t write_end_notice(char* out, uint32_t sender_id, uint32_t recipient_id);

}  // namespace sigver::gen2
