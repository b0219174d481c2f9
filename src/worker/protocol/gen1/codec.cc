// Hand-written protobuf codec for sigver.pb.Message. The decoder mirrors the rules of
// libprotobuf 3.21's generated parser (ParseContext) exactly, edge cases included, because a
// message the server accepts is forwarded to a client whose own protobuf decoder must agree
// with ours; tests/unit/codec_test.cc checks the two differentially.
#include "worker/protocol/gen1/codec.h"

#include <cstring>

#include "worker/protocol/wire.h"

namespace sigver::gen1 {
namespace {

using wire::kLengthDelimited;
using wire::kMaxDepth;
using wire::kVarint;
using wire::skip_field;
using wire::Span;
using wire::tag;

// What the relay needs from a Content. Parsing several payloads into the same state gives
// the result of protobuf's merge: scalars keep their last value.
struct ContentSummary {
  uint32_t id = 0;
  bool has_data = false;
  bool is_error = false;
  bool is_end = false;
};

bool parse_content(Span in, int depth_left, ContentSummary& summary) {
  while (!in.empty()) {
    uint32_t t;
    uint64_t value;
    Span ignored;
    if (!in.field_tag(t)) return false;
    switch (t) {
      case tag(field::kContentId, kVarint):
        if (!in.varint(value)) return false;
        summary.id = static_cast<uint32_t>(value);  // uint32 field: libprotobuf truncates
        break;
      case tag(field::kContentData, kLengthDelimited):
        if (!in.length_delimited(ignored)) return false;
        summary.has_data = true;
        break;
      case tag(field::kContentIsError, kVarint):
        if (!in.varint(value)) return false;
        summary.is_error = value != 0;
        break;
      case tag(field::kContentIsEnd, kVarint):
        if (!in.varint(value)) return false;
        summary.is_end = value != 0;
        break;
      default:
        // wire::skip_field refuses a tag 0 and an end group, which end libprotobuf's loop.
        if (!skip_field(in, t, depth_left)) return false;
    }
  }
  return true;
}

MessageType bool_case_of(uint32_t t) {
  switch (t >> 3) {
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

// Calls `emit` with each maximal run of Content fields that are forwarded verbatim, i.e.
// everything but the ids (wire type varint; an id with another wire type is an unknown field
// to libprotobuf and is forwarded as such). `content` was validated by decode_message.
template <typename Emit>
void for_each_forwarded_run(std::string_view content, Emit emit) {
  const auto between = [](const char* begin, const char* end) {
    return std::string_view(begin, static_cast<size_t>(end - begin));
  };
  Span in = Span::of(content);
  const char* run_start = in.at;
  const char* field_start = run_start;
  while (!in.empty()) {
    uint32_t t;
    // Invalid input cannot come from decode_message; stop before the broken field anyway.
    if (!in.field_tag(t) || !skip_field(in, t, kMaxDepth)) break;
    if (t == tag(field::kContentId, kVarint)) {
      if (field_start != run_start) emit(between(run_start, field_start));
      run_start = in.at;
    }
    field_start = in.at;
  }
  if (field_start != run_start) emit(between(run_start, field_start));
}

size_t content_body_size(std::string_view content, uint32_t id) {
  size_t size = id != 0 ? 1 + wire::varint_size(id) : 0;
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

  Span in{data, data + size};
  ContentSummary summary;
  std::string_view single_content;
  bool merged = false;  // several `content` fields in a row: their payloads are in out.scratch
  while (!in.empty()) {
    uint32_t t;
    uint64_t value;
    Span payload;
    if (!in.field_tag(t)) return false;
    switch (t) {
      case tag(field::kContent, kLengthDelimited):
        if (!in.length_delimited(payload)) return false;
        if (out.type != MessageType::kContent) {  // switching the oneof drops the old value
          out.type = MessageType::kContent;
          out.flag = false;
          summary = ContentSummary{};
          single_content = payload.view();
          merged = false;
        } else {
          if (!merged) out.scratch.assign(single_content);
          merged = true;
          out.scratch.append(payload.view());
        }
        if (!parse_content(payload, kMaxDepth - 1, summary)) return false;
        break;
      case tag(field::kIsFirst, kVarint):
      case tag(field::kStable, kVarint):
      case tag(field::kHeartbeat, kVarint):
      case tag(field::kTryAnother, kVarint):
        if (!in.varint(value)) return false;
        out.type = bool_case_of(t);
        out.flag = value != 0;
        break;
      default:
        if (!skip_field(in, t, kMaxDepth)) return false;
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
  return 1 + wire::varint_size(body) + body;
}

size_t write_content_message(char* out, std::string_view content, uint32_t id) {
  char* p = out;
  *p++ = static_cast<char>(tag(field::kContent, kLengthDelimited));
  p = wire::put_varint(p, content_body_size(content, id));
  if (id != 0) {
    *p++ = static_cast<char>(tag(field::kContentId, kVarint));
    p = wire::put_varint(p, id);
  }
  for_each_forwarded_run(content, [&p](std::string_view run) {
    std::memcpy(p, run.data(), run.size());
    p += run.size();
  });
  return static_cast<size_t>(p - out);
}

size_t write_end_notice(char* out, uint32_t id) {
  const size_t body = (id != 0 ? 1 + wire::varint_size(id) : 0) + 2;
  char* p = out;
  *p++ = static_cast<char>(tag(field::kContent, kLengthDelimited));
  p = wire::put_varint(p, body);
  if (id != 0) {
    *p++ = static_cast<char>(tag(field::kContentId, kVarint));
    p = wire::put_varint(p, id);
  }
  *p++ = static_cast<char>(tag(field::kContentIsError, kVarint));
  *p++ = 1;
  return static_cast<size_t>(p - out);
}

size_t write_bool_message(char* out, uint32_t field_number, bool value) {
  // A oneof member is serialized even when false: isFirst=false must reach the peer.
  char* p = wire::put_varint(out, tag(field_number, kVarint));
  *p++ = value ? 1 : 0;
  return static_cast<size_t>(p - out);
}

}  // namespace sigver::gen1
