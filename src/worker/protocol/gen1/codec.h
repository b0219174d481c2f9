#pragma once
// Zero-copy codec for the Sigver protobuf messages (proto/sigver.proto, protocol.md). Decoding
// validates the whole message exactly as libprotobuf's parser would accept it and yields views into
// the input; encoding writes straight into the recipient's output buffer. The generated protobuf
// classes are the reference this is tested against (tests/unit/codec_test.cc).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sigver::gen1 {

enum class MessageType : uint8_t { kNone, kContent, kIsFirst, kStable, kHeartbeat, kTryAnother };

// Field numbers of proto/sigver.proto.
namespace field {
inline constexpr uint32_t kContent = 1, kIsFirst = 2, kStable = 3, kHeartbeat = 4, kTryAnother = 5;
inline constexpr uint32_t kContentId = 1, kContentData = 2, kContentIsError = 3, kContentIsEnd = 4;
}  // namespace field

struct DecodedMessage {
  MessageType type = MessageType::kNone;  // the oneof case libprotobuf would report
  bool flag = false;                      // value of the bool case (isFirst/stable/...)
  // With kContent: the serialized Content fields (all occurrences merged as protobuf merges
  // them), pointing into the input or, when the input had several `content` fields, into
  // `scratch`.
  std::string_view content;
  uint32_t content_id = 0;    // last value of Content.id
  bool content_ends = false;  // no data, or isEnd/isError set: ends this relay direction
  std::string scratch;        // reused across decodes; only for the rare merged case
};

// Decodes one Message. Returns false if libprotobuf would reject the bytes. A valid message
// with no oneof case set returns true with type kNone.
bool decode_message(const char* data, size_t size, DecodedMessage& out);

// Size of the encoded Message{content} built from `content` (a DecodedMessage::content) with
// every Content.id field removed and, if `id` != 0, Content.id = `id` put first.
size_t content_message_size(std::string_view content, uint32_t id);
// Writes that message into `out` (content_message_size() bytes); returns the size written.
size_t write_content_message(char* out, std::string_view content, uint32_t id);

// Message{content{id, isError: true}} (id 0 omitted): the "binding ended" notice.
// Writes at most kMaxNoticeSize bytes; returns the size.
inline constexpr size_t kMaxNoticeSize = 16;
size_t write_end_notice(char* out, uint32_t id);
// Message{<bool field> = value}, e.g. isFirst or heartbeat. Returns the size (<= 2 + 1).
size_t write_bool_message(char* out, uint32_t field_number, bool value);

}  // namespace sigver::gen1
