// Hand-written protobuf codec for sigver.pb.Message. The decoder mirrors the rules of
// libprotobuf 3.21's generated parser (ParseContext) exactly, edge cases included, because a
// message the server accepts is forwarded to a client whose own protobuf decoder must agree
// with ours; tests/unit/codec_test.cc checks the two differentially.
#include "worker/protocol/gen1/codec.h"

#include <climits>
#include <cstring>

namespace sigver::gen1 {
namespace {

// libprotobuf's default recursion limit: every embedded message and every group costs a level.
constexpr int kMaxDepth = 100;
// libprotobuf refuses lengths that could overflow its int arithmetic (ReadSizeFallback).
constexpr uint32_t kMaxLength = INT_MAX - 16;

enum WireType : uint32_t {
  kVarint = 0,
  kFixed64 = 1,
  kLengthDelimited = 2,
  kStartGroup = 3,
  kEndGroup = 4,
  kFixed32 = 5,
};

constexpr uint32_t make_tag(uint32_t field_number, WireType wire_type) {
  return (field_number << 3) | wire_type;
}
constexpr uint32_t field_of(uint32_t tag) { return tag >> 3; }
constexpr uint32_t wire_type_of(uint32_t tag) { return tag & 7; }
// A zero tag or an end-group tag stops libprotobuf's field loop; outside of a matching
// group that makes the whole parse fail.
constexpr bool ends_field_loop(uint32_t tag) { return tag == 0 || wire_type_of(tag) == kEndGroup; }

// A cursor over one length-delimited region. Reading past its end is a parse error, just as
// libprotobuf rejects any field that overruns the limit of its enclosing message.
class WireReader {
 public:
  explicit WireReader(std::string_view region)
      : p_(region.data()), end_(region.data() + region.size()) {}

  bool at_end() const { return p_ == end_; }
  const char* position() const { return p_; }

  // At most 10 bytes; the value wraps modulo 2^64 like libprotobuf's VarintParse, so a 10th
  // byte above 1 is accepted with its high bits dropped.
  bool read_varint(uint64_t& value) {
    uint64_t result = 0;
    for (int i = 0; i < 10 && p_ != end_; ++i) {
      const uint8_t byte = static_cast<uint8_t>(*p_++);
      result |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if (byte < 0x80) {
        value = result;
        return true;
      }
    }
    return false;
  }

  // At most 5 bytes, wrapping modulo 2^32 (libprotobuf's ReadTag keeps a uint32_t).
  bool read_tag(uint32_t& tag) {
    uint32_t result = 0;
    for (int i = 0; i < 5 && p_ != end_; ++i) {
      const uint8_t byte = static_cast<uint8_t>(*p_++);
      result |= static_cast<uint32_t>(byte & 0x7f) << (7 * i);
      if (byte < 0x80) {
        tag = result;
        return true;
      }
    }
    return false;
  }

  // A length prefix followed by that many bytes. libprotobuf's ReadSize reads at most 5 bytes
  // and wants the 5th below 8, so a padded 6-byte length is refused even if small.
  bool read_length_delimited(std::string_view& payload) {
    uint32_t length = 0;
    for (int i = 0;; ++i) {
      if (p_ == end_) return false;
      const uint8_t byte = static_cast<uint8_t>(*p_++);
      if (i == 4 && byte >= 8) return false;
      length |= static_cast<uint32_t>(byte & 0x7f) << (7 * i);
      if (byte < 0x80) break;
    }
    if (length > kMaxLength || length > remaining()) return false;
    payload = std::string_view(p_, length);
    p_ += length;
    return true;
  }

  bool skip(size_t n) {
    if (n > remaining()) return false;
    p_ += n;
    return true;
  }

 private:
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }

  const char* p_;
  const char* end_;
};

bool skip_field(WireReader& reader, uint32_t tag, int depth_left);

// The body of a group up to and including its end tag, which must carry the same field number.
bool skip_group(WireReader& reader, uint32_t field_number, int depth_left) {
  if (depth_left < 1) return false;
  uint32_t tag;
  while (reader.read_tag(tag)) {
    if (ends_field_loop(tag)) return tag == make_tag(field_number, kEndGroup);
    if (!skip_field(reader, tag, depth_left - 1)) return false;
  }
  return false;
}

// Validates and skips the value of a field libprotobuf would keep as an unknown field.
bool skip_field(WireReader& reader, uint32_t tag, int depth_left) {
  if (field_of(tag) == 0) return false;
  switch (wire_type_of(tag)) {
    case kVarint: {
      uint64_t ignored;
      return reader.read_varint(ignored);
    }
    case kFixed64:
      return reader.skip(8);
    case kLengthDelimited: {
      std::string_view ignored;
      return reader.read_length_delimited(ignored);
    }
    case kStartGroup:
      return skip_group(reader, field_of(tag), depth_left);
    case kFixed32:
      return reader.skip(4);
    default:  // an end group is the caller's business; wire types 6 and 7 do not exist
      return false;
  }
}

// What the relay needs from a Content. Parsing several payloads into the same state gives
// the result of protobuf's merge: scalars keep their last value.
struct ContentSummary {
  uint32_t id = 0;
  bool has_data = false;
  bool is_error = false;
  bool is_end = false;
};

bool parse_content(std::string_view payload, int depth_left, ContentSummary& summary) {
  WireReader reader(payload);
  while (!reader.at_end()) {
    uint32_t tag;
    if (!reader.read_tag(tag)) return false;
    uint64_t value;
    switch (tag) {
      case make_tag(field::kContentId, kVarint):
        if (!reader.read_varint(value)) return false;
        summary.id = static_cast<uint32_t>(value);  // uint32 field: libprotobuf truncates
        break;
      case make_tag(field::kContentData, kLengthDelimited): {
        std::string_view ignored;
        if (!reader.read_length_delimited(ignored)) return false;
        summary.has_data = true;
        break;
      }
      case make_tag(field::kContentIsError, kVarint):
        if (!reader.read_varint(value)) return false;
        summary.is_error = value != 0;
        break;
      case make_tag(field::kContentIsEnd, kVarint):
        if (!reader.read_varint(value)) return false;
        summary.is_end = value != 0;
        break;
      default:
        if (ends_field_loop(tag) || !skip_field(reader, tag, depth_left)) return false;
    }
  }
  return true;
}

MessageType bool_case_of(uint32_t tag) {
  switch (field_of(tag)) {
    case field::kIsFirst:
      return MessageType::kIsFirst;
    case field::kStable:
      return MessageType::kStable;
    case field::kHeartbeat:
      return MessageType::kHeartbeat;
    default:
      return MessageType::kTryAnother;
  }
}

size_t varint_size(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

char* write_varint(char* out, uint64_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<char>(value);
  return out;
}

// Calls `emit` with each maximal run of Content fields that are forwarded verbatim, i.e.
// everything but the ids (wire type varint; an id with another wire type is an unknown field
// to libprotobuf and is forwarded as such). `content` was validated by decode_message.
template <typename Emit>
void for_each_forwarded_run(std::string_view content, Emit emit) {
  const auto between = [](const char* begin, const char* end) {
    return std::string_view(begin, static_cast<size_t>(end - begin));
  };
  WireReader reader(content);
  const char* run_start = reader.position();
  const char* field_start = run_start;
  while (!reader.at_end()) {
    uint32_t tag;
    // Invalid input cannot come from decode_message; stop before the broken field anyway.
    if (!reader.read_tag(tag) || !skip_field(reader, tag, kMaxDepth)) break;
    if (tag == make_tag(field::kContentId, kVarint)) {
      if (field_start != run_start) emit(between(run_start, field_start));
      run_start = reader.position();
    }
    field_start = reader.position();
  }
  if (field_start != run_start) emit(between(run_start, field_start));
}

size_t content_body_size(std::string_view content, uint32_t id) {
  size_t size = id != 0 ? 1 + varint_size(id) : 0;
  for_each_forwarded_run(content, [&size](std::string_view run) { size += run.size(); });
  return size;
}

}  // namespace

bool decode_message(const char* data, size_t size, DecodedMessage& out) {
  out.type = MessageType::kNone;
  out.flag = false;
  out.content = {};
  out.content_id = 0;
  out.content_ends = false;

  WireReader reader(std::string_view(data, size));
  ContentSummary summary;
  std::string_view single_content;
  bool merged = false;  // several `content` fields in a row: their payloads are in out.scratch
  while (!reader.at_end()) {
    uint32_t tag;
    if (!reader.read_tag(tag)) return false;
    switch (tag) {
      case make_tag(field::kContent, kLengthDelimited): {
        std::string_view payload;
        if (!reader.read_length_delimited(payload)) return false;
        if (out.type != MessageType::kContent) {  // switching the oneof drops the old value
          out.type = MessageType::kContent;
          out.flag = false;
          summary = ContentSummary{};
          single_content = payload;
          merged = false;
        } else {
          if (!merged) out.scratch.assign(single_content);
          merged = true;
          out.scratch.append(payload);
        }
        if (!parse_content(payload, kMaxDepth - 1, summary)) return false;
        break;
      }
      case make_tag(field::kIsFirst, kVarint):
      case make_tag(field::kStable, kVarint):
      case make_tag(field::kHeartbeat, kVarint):
      case make_tag(field::kTryAnother, kVarint): {
        uint64_t value;
        if (!reader.read_varint(value)) return false;
        out.type = bool_case_of(tag);
        out.flag = value != 0;
        break;
      }
      default:
        if (ends_field_loop(tag) || !skip_field(reader, tag, kMaxDepth)) return false;
    }
  }
  if (out.type == MessageType::kContent) {
    out.content = merged ? std::string_view(out.scratch) : single_content;
    out.content_id = summary.id;
    out.content_ends = !summary.has_data || summary.is_error || summary.is_end;
  }
  return true;
}

size_t content_message_size(std::string_view content, uint32_t id) {
  const size_t body = content_body_size(content, id);
  return 1 + varint_size(body) + body;
}

size_t write_content_message(char* out, std::string_view content, uint32_t id) {
  char* p = out;
  *p++ = static_cast<char>(make_tag(field::kContent, kLengthDelimited));
  p = write_varint(p, content_body_size(content, id));
  if (id != 0) {
    *p++ = static_cast<char>(make_tag(field::kContentId, kVarint));
    p = write_varint(p, id);
  }
  for_each_forwarded_run(content, [&p](std::string_view run) {
    std::memcpy(p, run.data(), run.size());
    p += run.size();
  });
  return static_cast<size_t>(p - out);
}

size_t write_end_notice(char* out, uint32_t id) {
  const size_t body = (id != 0 ? 1 + varint_size(id) : 0) + 2;
  char* p = out;
  *p++ = static_cast<char>(make_tag(field::kContent, kLengthDelimited));
  p = write_varint(p, body);
  if (id != 0) {
    *p++ = static_cast<char>(make_tag(field::kContentId, kVarint));
    p = write_varint(p, id);
  }
  *p++ = static_cast<char>(make_tag(field::kContentIsError, kVarint));
  *p++ = 1;
  return static_cast<size_t>(p - out);
}

size_t write_bool_message(char* out, uint32_t field_number, bool value) {
  // A oneof member is serialized even when false: isFirst=false must reach the peer.
  char* p = write_varint(out, make_tag(field_number, kVarint));
  *p++ = value ? 1 : 0;
  return static_cast<size_t>(p - out);
}

}  // namespace sigver::gen1
