// Hand-written protobuf codec for sigver.pb2.Message. The decoder follows libprotobuf
// 3.21's generated parser (ParseContext) to the byte, because what the server accepts it
// relays to a client whose own decoder must agree; tests/unit/gen2_codec_test.cc compares the
// two on generated and random inputs.
#include "worker/protocol/gen2/codec.h"

#include <cstring>

#include "worker/protocol/wire.h"

namespace sigver::gen2 {
namespace {

using wire::kLengthDelimited;
using wire::kMaxDepth;
using wire::kVarint;
using wire::skip_field;
using wire::Span;
using wire::tag;

// Content's fields, parsed into `out` on top of what earlier `content` fields left there.
bool parse_content(Span in, int depth_left, DecodedMessage& out) {
  while (!in.empty()) {
    uint32_t t;
    uint64_t value;
    Span data;
    if (!in.field_tag(t)) return false;
    switch (t) {
      case tag(field::kSenderId, kVarint):
        if (!in.varint(value)) return false;
        out.sender_id = static_cast<uint32_t>(value);  // uint32: libprotobuf truncates
        break;
      case tag(field::kRecipientId, kVarint):
        if (!in.varint(value)) return false;
        out.recipient_id = static_cast<uint32_t>(value);
        break;
      case tag(field::kLastData, kVarint):
        if (!in.varint(value)) return false;
        out.last_data = value != 0;
        break;
      case tag(field::kData, kLengthDelimited):
        if (!in.length_delimited(data)) return false;
        out.data = data.view();
        break;
      default:
        if (!skip_field(in, t, depth_left)) return false;
    }
  }
  return true;
}

// A packed run of uint32 members: varints filling the run exactly (ReadPackedVarint fails
// when the last one crosses its end).
bool valid_packed(Span run) {
  uint64_t ignored;
  while (!run.empty()) {
    if (!run.varint(ignored)) return false;
  }
  return true;
}

// GroupData's fields; members are only validated here, MemberReader lists them.
bool parse_group_data(Span in, int depth_left, DecodedMessage& out) {
  while (!in.empty()) {
    uint32_t t;
    uint64_t value;
    Span run;
    if (!in.field_tag(t)) return false;
    switch (t) {
      case tag(field::kGroupId, kVarint):
        if (!in.varint(value)) return false;
        out.connect_id = static_cast<uint32_t>(value);
        break;
      case tag(field::kGroupMembers, kVarint):
        if (!in.varint(value)) return false;
        break;
      case tag(field::kGroupMembers, kLengthDelimited):
        if (!in.length_delimited(run) || !valid_packed(run)) return false;
        break;
      default:
        if (!skip_field(in, t, depth_left)) return false;
    }
  }
  return true;
}

// Setting another oneof case drops the value of the previous one.
void switch_case(DecodedMessage& out, MessageType type) {
  if (out.type == type) return;
  out = DecodedMessage{};
  out.type = type;
}

char* put_ids(char* out, uint32_t sender_id, uint32_t recipient_id) {
  *out++ = static_cast<char>(tag(field::kSenderId, kVarint));
  out = wire::put_varint(out, sender_id);
  *out++ = static_cast<char>(tag(field::kRecipientId, kVarint));
  return wire::put_varint(out, recipient_id);
}

size_t ids_size(uint32_t sender_id, uint32_t recipient_id) {
  return 2 + wire::varint_size(sender_id) + wire::varint_size(recipient_id);
}

size_t content_body_size(uint32_t sender_id, uint32_t recipient_id, size_t data_size) {
  return ids_size(sender_id, recipient_id) + 1 + wire::varint_size(data_size) + data_size;
}

size_t write_flag(char* out, uint32_t field_number, bool value) {
  out[0] = static_cast<char>(tag(field_number, kVarint));
  out[1] = value ? 1 : 0;
  return 2;
}

}  // namespace

bool decode_message(const char* data, size_t size, DecodedMessage& out) {
  out = DecodedMessage{};
  Span in{data, data + size};
  const char* connect_begin = nullptr;  // the first `connect` field of the current case
  const char* connect_end = nullptr;
  while (!in.empty()) {
    const char* field_start = in.at;
    uint32_t t;
    uint64_t value;
    Span payload;
    if (!in.field_tag(t)) return false;
    switch (t) {
      case tag(field::kHeartbeat, kVarint):
      case tag(field::kConnected, kVarint):
        if (!in.varint(value)) return false;
        switch_case(out, t == tag(field::kHeartbeat, kVarint) ? MessageType::kHeartbeat
                                                              : MessageType::kConnected);
        out.flag = value != 0;
        break;
      case tag(field::kContent, kLengthDelimited):
        if (!in.length_delimited(payload)) return false;
        switch_case(out, MessageType::kContent);
        if (!parse_content(payload, kMaxDepth - 1, out)) return false;
        break;
      case tag(field::kConnect, kLengthDelimited):
        if (!in.length_delimited(payload)) return false;
        if (out.type != MessageType::kConnect) connect_begin = field_start;
        switch_case(out, MessageType::kConnect);
        if (!parse_group_data(payload, kMaxDepth - 1, out)) return false;
        connect_end = in.at;
        break;
      default:
        if (!skip_field(in, t, kMaxDepth)) return false;
    }
  }
  if (out.type == MessageType::kConnect) {
    out.connect = std::string_view(connect_begin, static_cast<size_t>(connect_end - connect_begin));
  }
  return true;
}

// The region between the first and the last `connect` field of the final case holds only
// `connect` fields and unknown ones (any other case would have started a new run), all
// validated by decode_message; a broken field just ends the list.
MemberReader::MemberReader(std::string_view connect)
    : message_{connect.data(), connect.data() + connect.size()},
      group_{nullptr, nullptr},
      packed_{nullptr, nullptr} {}

bool MemberReader::next(uint32_t& id) {
  for (;;) {
    uint64_t value = 0;
    uint32_t t = 0;
    if (packed_.begin != packed_.end) {
      Span run{packed_.begin, packed_.end};
      if (!run.varint(value)) return false;
      packed_.begin = run.at;
      id = static_cast<uint32_t>(value);
      return true;
    }
    if (group_.begin != group_.end) {
      Span in{group_.begin, group_.end};
      Span run{nullptr, nullptr};
      if (!in.field_tag(t)) return false;
      if (t == tag(field::kGroupMembers, kVarint)) {
        if (!in.varint(value)) return false;
        group_.begin = in.at;
        id = static_cast<uint32_t>(value);
        return true;
      }
      if (t == tag(field::kGroupMembers, kLengthDelimited)) {
        if (!in.length_delimited(run)) return false;
        packed_ = {run.at, run.end};
      } else if (!skip_field(in, t, kMaxDepth)) {
        return false;
      }
      group_.begin = in.at;
      continue;
    }
    if (message_.begin == message_.end) return false;
    Span in{message_.begin, message_.end};
    Span group{nullptr, nullptr};
    if (!in.field_tag(t)) return false;
    if (t == tag(field::kConnect, kLengthDelimited)) {
      if (!in.length_delimited(group)) return false;
      group_ = {group.at, group.end};
    } else if (!skip_field(in, t, kMaxDepth)) {
      return false;
    }
    message_.begin = in.at;
  }
}

size_t write_heartbeat(char* out) { return write_flag(out, field::kHeartbeat, true); }

size_t write_connected(char* out, bool value) {
  // A oneof member is on the wire even when false: connected=false is the answer to a join.
  return write_flag(out, field::kConnected, value);
}

size_t content_size(uint32_t sender_id, uint32_t recipient_id, size_t data_size) {
  const size_t body = content_body_size(sender_id, recipient_id, data_size);
  return 1 + wire::varint_size(body) + body;
}

size_t write_content(char* out, uint32_t sender_id, uint32_t recipient_id, std::string_view data) {
  char* p = out;
  *p++ = static_cast<char>(tag(field::kContent, kLengthDelimited));
  p = wire::put_varint(p, content_body_size(sender_id, recipient_id, data.size()));
  p = put_ids(p, sender_id, recipient_id);
  *p++ = static_cast<char>(tag(field::kData, kLengthDelimited));
  p = wire::put_varint(p, data.size());
  if (!data.empty()) std::memcpy(p, data.data(), data.size());
  p += data.size();
  return static_cast<size_t>(p - out);
}

size_t write_end_notice(char* out, uint32_t sender_id, uint32_t recipient_id) {
  char* p = out;
  *p++ = static_cast<char>(tag(field::kContent, kLengthDelimited));
  p = wire::put_varint(p, ids_size(sender_id, recipient_id));
  p = put_ids(p, sender_id, recipient_id);
  return static_cast<size_t>(p - out);
}

}  // namespace sigver::gen2
