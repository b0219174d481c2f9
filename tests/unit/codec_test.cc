// The codec against libprotobuf's generated classes: every message kind both ways, the exact
// netflux exchange, oneof merging, parser edge cases, and a differential run over several
// hundred thousand generated inputs where the two decoders must agree.
#include "worker/protocol/gen1/codec.h"

#include <google/protobuf/unknown_field_set.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "sigver.pb.h"
#include "wire_bytes.h"

namespace sigver::gen1 {
namespace {

namespace spb = sigver::pb;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;
using test::bytes;
using test::hex;
using test::varint;

bool decode(const std::string& input, DecodedMessage& out) {
  return decode_message(input.data(), input.size(), out);
}

std::string encode_content(std::string_view content, uint32_t id) {
  std::string out(content_message_size(content, id), '\0');
  const size_t written = write_content_message(out.data(), content, id);
  EXPECT_EQ(written, out.size());
  return out;
}

std::string content_message(const spb::Content& content) {
  spb::Message message;
  *message.mutable_content() = content;
  return message.SerializeAsString();
}

bool libprotobuf_accepts(const std::string& input) {
  spb::Message message;
  return message.ParseFromArray(input.data(), static_cast<int>(input.size()));
}

MessageType type_of(const spb::Message& message) {
  switch (message.type_case()) {
    case spb::Message::kContent:
      return MessageType::kContent;
    case spb::Message::kIsFirst:
      return MessageType::kIsFirst;
    case spb::Message::kStable:
      return MessageType::kStable;
    case spb::Message::kHeartbeat:
      return MessageType::kHeartbeat;
    case spb::Message::kTryAnother:
      return MessageType::kTryAnother;
    default:
      return MessageType::kNone;
  }
}

bool flag_of(const spb::Message& message) {
  switch (message.type_case()) {
    case spb::Message::kIsFirst:
      return message.isfirst();
    case spb::Message::kStable:
      return message.stable();
    case spb::Message::kHeartbeat:
      return message.heartbeat();
    case spb::Message::kTryAnother:
      return message.tryanother();
    default:
      return false;
  }
}

// libprotobuf cannot tell an absent `data` from an empty one, so presence comes from its
// schema-less parser: is there a field 2 (LEN) in a `content` after the last oneof reset?
bool reference_has_data(const std::string& input) {
  UnknownFieldSet fields;
  if (!fields.ParseFromArray(input.data(), static_cast<int>(input.size()))) return false;
  bool has_data = false;
  bool content_is_current = false;
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.number() == 1 && f.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      if (!content_is_current) has_data = false;
      content_is_current = true;
      UnknownFieldSet content;
      if (!content.ParseFromString(f.length_delimited())) return false;
      for (int j = 0; j < content.field_count(); ++j) {
        if (content.field(j).number() == 2 &&
            content.field(j).type() == UnknownField::TYPE_LENGTH_DELIMITED) {
          has_data = true;
        }
      }
    } else if (f.number() >= 2 && f.number() <= 5 && f.type() == UnknownField::TYPE_VARINT) {
      content_is_current = false;
    }
  }
  return has_data;
}

// The differential oracle: decode_message must agree with ParseFromArray on validity, case
// and values, and the forwarded content must be libprotobuf's content with the id replaced.
// `got` is reused across calls, as the server does.
testing::AssertionResult agrees_with_libprotobuf(const std::string& input, uint32_t new_id,
                                                 DecodedMessage& got) {
  spb::Message ref;
  const bool ref_ok = ref.ParseFromArray(input.data(), static_cast<int>(input.size()));
  const bool ok = decode(input, got);
  auto failure = [&]() { return testing::AssertionFailure() << "input " << hex(input) << ": "; };
  if (ok != ref_ok) return failure() << "codec says " << ok << ", libprotobuf " << ref_ok;
  if (!ok) return testing::AssertionSuccess();
  if (got.type != type_of(ref)) {
    return failure() << "type " << int(got.type) << " vs " << int(type_of(ref));
  }
  if (got.flag != flag_of(ref)) return failure() << "flag " << got.flag;
  if (got.type != MessageType::kContent) return testing::AssertionSuccess();

  const spb::Content& ref_content = ref.content();
  if (got.content_id != ref_content.id()) {
    return failure() << "id " << got.content_id << " vs " << ref_content.id();
  }
  const bool ref_ends = !reference_has_data(input) || ref_content.iserror() || ref_content.isend();
  if (got.content_ends != ref_ends) return failure() << "ends " << got.content_ends;
  spb::Content from_view;
  if (!from_view.ParseFromArray(got.content.data(), static_cast<int>(got.content.size())) ||
      from_view.SerializeAsString() != ref_content.SerializeAsString()) {
    return failure() << "content view " << hex(got.content);
  }
  const std::string forwarded = encode_content(got.content, new_id);
  spb::Message reparsed;
  if (!reparsed.ParseFromString(forwarded) || !reparsed.has_content()) {
    return failure() << "forwarded message rejected: " << hex(forwarded);
  }
  spb::Content expected = ref_content;
  expected.set_id(new_id);
  if (reparsed.content().SerializeAsString() != expected.SerializeAsString()) {
    return failure() << "forwarded content differs: " << hex(forwarded);
  }
  return testing::AssertionSuccess();
}

// ---- decoding each kind ----

TEST(CodecDecode, EveryBoolCaseWithItsValue) {
  using Setter = void (spb::Message::*)(bool);
  const struct {
    Setter set;
    MessageType type;
  } cases[] = {{&spb::Message::set_isfirst, MessageType::kIsFirst},
               {&spb::Message::set_stable, MessageType::kStable},
               {&spb::Message::set_heartbeat, MessageType::kHeartbeat},
               {&spb::Message::set_tryanother, MessageType::kTryAnother}};
  for (const auto& c : cases) {
    for (bool value : {false, true}) {
      spb::Message message;
      (message.*c.set)(value);
      DecodedMessage got;
      ASSERT_TRUE(decode(message.SerializeAsString(), got));
      EXPECT_EQ(got.type, c.type);
      EXPECT_EQ(got.flag, value);
    }
  }
}

TEST(CodecDecode, EmptyOrUnknownOnlyMessageHasNoCase) {
  DecodedMessage got;
  ASSERT_TRUE(decode("", got));
  EXPECT_EQ(got.type, MessageType::kNone);
  ASSERT_TRUE(decode(bytes({0x38, 0x01, 0x42, 0x01, 'x'}), got));  // fields 7 and 8
  EXPECT_EQ(got.type, MessageType::kNone);
  // A known bool field with the wrong wire type is an unknown field, not the case.
  ASSERT_TRUE(decode(bytes({0x12, 0x01, 0x01}), got));
  EXPECT_EQ(got.type, MessageType::kNone);
}

TEST(CodecDecode, ContentIsAViewIntoTheInput) {
  spb::Content content;
  content.set_id(42);
  content.set_data("offer");
  const std::string input = content_message(content);
  DecodedMessage got;
  ASSERT_TRUE(decode(input, got));
  EXPECT_EQ(got.type, MessageType::kContent);
  EXPECT_EQ(got.content_id, 42u);
  EXPECT_FALSE(got.content_ends);
  EXPECT_EQ(got.content, content.SerializeAsString());
  EXPECT_EQ(got.content.data(), input.data() + 2);
}

TEST(CodecDecode, ContentEndsWithoutDataOrWithAFlag) {
  const struct {
    std::string content;
    bool ends;
  } cases[] = {
      {bytes({0x12, 0x01, 'x'}), false},
      {bytes({0x12, 0x00}), false},  // empty data is still data
      {"", true},
      {bytes({0x08, 0x05}), true},
      {bytes({0x12, 0x01, 'x', 0x20, 0x01}), true},
      {bytes({0x12, 0x01, 'x', 0x18, 0x01}), true},
      {bytes({0x12, 0x01, 'x', 0x20, 0x01, 0x20, 0x00}), false},  // the last isEnd wins
      {bytes({0x12, 0x01, 'x', 0x20, 0x02}), true},               // any nonzero is true
      // a 10-byte varint whose value wraps to zero modulo 2^64 is false
      {bytes({0x12, 0x01, 'x', 0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02}),
       false},
      {bytes({0x10, 0x01}), true},  // field 2 as a varint is not data
  };
  for (const auto& c : cases) {
    const std::string input = bytes({0x0A, static_cast<int>(c.content.size())}) + c.content;
    DecodedMessage got;
    ASSERT_TRUE(decode(input, got)) << hex(input);
    EXPECT_EQ(got.content_ends, c.ends) << hex(input);
    EXPECT_TRUE(agrees_with_libprotobuf(input, 9, got));
  }
}

TEST(CodecDecode, ContentIdIsTruncatedToUint32) {
  // id = 2^32 + 5 as a varint
  const std::string input = bytes({0x0A, 0x06, 0x08, 0x85, 0x80, 0x80, 0x80, 0x10});
  DecodedMessage got;
  ASSERT_TRUE(decode(input, got));
  EXPECT_EQ(got.content_id, 5u);
  EXPECT_TRUE(agrees_with_libprotobuf(input, 0, got));
}

TEST(CodecDecode, FiveByteTagKeepsOnlyLow32Bits) {
  // Tag value 0x70_0000_0010 wraps to 16: isFirst, as libprotobuf reads it.
  const std::string input = bytes({0x90, 0x80, 0x80, 0x80, 0x70, 0x01});
  DecodedMessage got;
  ASSERT_TRUE(decode(input, got));
  EXPECT_EQ(got.type, MessageType::kIsFirst);
  EXPECT_TRUE(got.flag);
  EXPECT_TRUE(agrees_with_libprotobuf(input, 0, got));
}

// ---- oneof merging ----

TEST(CodecMerge, ConsecutiveContentsMerge) {
  const std::string a = bytes({0x08, 0x01, 0x12, 0x01, 'a', 0x38, 0x07});
  const std::string b = bytes({0x20, 0x01});
  const std::string input = bytes({0x0A, 7}) + a + bytes({0x0A, 2}) + b;
  DecodedMessage got;
  ASSERT_TRUE(decode(input, got));
  EXPECT_EQ(got.type, MessageType::kContent);
  EXPECT_EQ(got.content, a + b);
  EXPECT_EQ(got.content.data(), got.scratch.data());
  EXPECT_EQ(got.content_id, 1u);
  EXPECT_TRUE(got.content_ends);  // isEnd from b, data from a
  EXPECT_TRUE(agrees_with_libprotobuf(input, 77, got));
}

TEST(CodecMerge, AnotherCaseInBetweenResetsTheContent) {
  const std::string input = bytes({0x0A, 0x05, 0x08, 0x01, 0x12, 0x01, 'a',  // content A
                                   0x10, 0x01,                               // isFirst
                                   0x0A, 0x02, 0x18, 0x00});                 // content B
  DecodedMessage got;
  ASSERT_TRUE(decode(input, got));
  EXPECT_EQ(got.type, MessageType::kContent);
  EXPECT_EQ(got.content, bytes({0x18, 0x00}));
  EXPECT_EQ(got.content_id, 0u);
  EXPECT_TRUE(got.content_ends);  // B alone has no data
  EXPECT_FALSE(got.flag);
  EXPECT_TRUE(agrees_with_libprotobuf(input, 3, got));
}

TEST(CodecMerge, LastCaseWins) {
  DecodedMessage got;
  const std::string content_then_bool = bytes({0x0A, 0x03, 0x12, 0x01, 'a', 0x20, 0x01});
  ASSERT_TRUE(decode(content_then_bool, got));
  EXPECT_EQ(got.type, MessageType::kHeartbeat);
  EXPECT_TRUE(got.flag);
  EXPECT_TRUE(got.content.empty());
  const std::string bool_then_content = bytes({0x28, 0x01, 0x0A, 0x00});
  ASSERT_TRUE(decode(bool_then_content, got));
  EXPECT_EQ(got.type, MessageType::kContent);
  EXPECT_FALSE(got.flag);
  EXPECT_TRUE(got.content_ends);
}

TEST(CodecMerge, ScratchDoesNotLeakIntoTheNextDecode) {
  DecodedMessage got;
  ASSERT_TRUE(decode(bytes({0x0A, 0x02, 0x08, 0x01, 0x0A, 0x02, 0x08, 0x02}), got));
  EXPECT_EQ(got.content_id, 2u);
  const std::string single = bytes({0x0A, 0x03, 0x12, 0x01, 'z'});
  ASSERT_TRUE(decode(single, got));
  EXPECT_EQ(got.content, bytes({0x12, 0x01, 'z'}));
  EXPECT_EQ(got.content.data(), single.data() + 2);
  EXPECT_EQ(got.content_id, 0u);
}

// ---- what libprotobuf accepts and rejects at the edges ----

TEST(CodecEdges, VerdictsMatchLibprotobuf) {
  const struct {
    const char* what;
    std::string input;
    bool valid;
  } cases[] = {
      {"tag 0", bytes({0x00}), false},
      {"truncated tag", bytes({0x80}), false},
      {"6-byte tag", bytes({0x90, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01}), false},
      {"field 0 fixed64", bytes({0x01, 1, 2, 3, 4, 5, 6, 7, 8}), false},
      {"field 0 length-delimited", bytes({0x02, 0x00}), false},
      {"field 0 fixed32", bytes({0x05, 1, 2, 3, 4}), false},
      {"end group at top level", bytes({0x3C}), false},
      {"end group closing content", bytes({0x0A, 0x01, 0x3C}), false},
      {"unterminated group", bytes({0x3B, 0x38, 0x01}), false},
      {"mismatched group", bytes({0x3B, 0x44}), false},
      {"matched nested groups", bytes({0x3B, 0x43, 0x38, 0x01, 0x44, 0x3C}), true},
      {"group with tag 0 inside", bytes({0x3B, 0x00, 0x3C}), false},
      {"group in content", bytes({0x0A, 0x04, 0x3B, 0x38, 0x01, 0x3C}), true},
      {"wire type 6", bytes({0x3E, 0x00}), false},
      {"wire type 7", bytes({0x3F, 0x00}), false},
      {"10-byte varint, last byte 0x7f",
       bytes({0x38, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}), true},
      {"11-byte varint",
       bytes({0x38, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}), false},
      {"truncated varint", bytes({0x38, 0x80}), false},
      {"truncated fixed64", bytes({0x39, 1, 2, 3, 4, 5, 6, 7}), false},
      {"fixed64", bytes({0x39, 1, 2, 3, 4, 5, 6, 7, 8}), true},
      {"truncated fixed32", bytes({0x3D, 1, 2, 3}), false},
      {"length overruns", bytes({0x42, 0x02, 'x'}), false},
      {"padded 5-byte length", bytes({0x42, 0x81, 0x80, 0x80, 0x80, 0x00, 'x'}), true},
      {"padded 6-byte length", bytes({0x42, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00, 'x'}), false},
      {"length 2^31", bytes({0x42, 0x80, 0x80, 0x80, 0x80, 0x08}), false},
      {"content overruns", bytes({0x0A, 0x03, 0x12, 0x01}), false},
      {"content field overruns content", bytes({0x0A, 0x02, 0x12, 0x01, 'x'}), false},
      {"fixed64 crossing the content end", bytes({0x0A, 0x02, 0x39, 0x01, 2, 3, 4, 5, 6, 7, 8}),
       false},
      {"invalid content", bytes({0x0A, 0x01, 0x80}), false},
      {"data with wire type 7 in content", bytes({0x0A, 0x02, 0x17, 0x00}), false},
  };
  for (const auto& c : cases) {
    DecodedMessage got;
    EXPECT_EQ(decode(c.input, got), c.valid) << c.what;
    EXPECT_EQ(libprotobuf_accepts(c.input), c.valid) << c.what << " (libprotobuf)";
  }
}

// Groups of field 7 (3b ... 3c), an unknown field to sigver.proto.
std::string nested_groups(int depth) { return test::nested_groups(depth, 7); }

TEST(CodecEdges, RecursionLimitIsLibprotobufs) {
  // 100 levels in all; the embedded Content costs one of them.
  DecodedMessage got;
  EXPECT_TRUE(decode(nested_groups(100), got));
  EXPECT_FALSE(decode(nested_groups(101), got));
  const auto in_content = [](int depth) {
    const std::string inner = nested_groups(depth);
    return bytes({0x0A}) + varint(inner.size()) + inner;
  };
  EXPECT_TRUE(decode(in_content(99), got));
  EXPECT_FALSE(decode(in_content(100), got));
  for (int depth : {98, 99, 100, 101}) {
    EXPECT_TRUE(agrees_with_libprotobuf(nested_groups(depth), 1, got));
  }
  for (int depth : {60, 98, 99}) {
    EXPECT_TRUE(agrees_with_libprotobuf(in_content(depth), 1, got));
  }
  EXPECT_FALSE(libprotobuf_accepts(in_content(100)));
}

// ---- encoding ----

TEST(CodecEncode, ContentKeepsEverythingButTheId) {
  const std::string content = bytes({0x08, 0x07,                  // id 7
                                     0x12, 0x03, 'a',  'b', 'c',  // data
                                     0x0A, 0x01, 'z',             // field 1 as LEN: unknown
                                     0x20, 0x01,                  // isEnd
                                     0x38, 0x05,                  // unknown field 7
                                     0x08, 0x09,                  // a second id
                                     0x5B, 0x08, 0x01, 0x5C});    // group 11
  const std::string without_ids = content.substr(2, 12) + content.substr(16);
  const std::string forwarded = encode_content(content, 300);
  EXPECT_EQ(forwarded, bytes({0x0A, static_cast<int>(without_ids.size() + 3), 0x08, 0xAC, 0x02}) +
                           without_ids);

  spb::Message reparsed;
  ASSERT_TRUE(reparsed.ParseFromString(forwarded));
  ASSERT_TRUE(reparsed.has_content());
  EXPECT_EQ(reparsed.content().id(), 300u);
  EXPECT_EQ(reparsed.content().data(), "abc");
  EXPECT_TRUE(reparsed.content().isend());
  EXPECT_FALSE(reparsed.content().iserror());
  spb::Content expected;  // the same Content, unknown fields included, with the id replaced
  ASSERT_TRUE(expected.ParseFromString(content));
  expected.set_id(300);
  EXPECT_EQ(reparsed.content().SerializeAsString(), expected.SerializeAsString());

  EXPECT_EQ(encode_content(content, 0),
            bytes({0x0A, static_cast<int>(without_ids.size())}) + without_ids);
}

TEST(CodecEncode, StopsBeforeABrokenField) {
  // Not reachable from decode_message, but the encoder must still emit a valid message.
  const std::string content = bytes({0x12, 0x01, 'a', 0x08, 0x03, 0x20, 0x80});
  EXPECT_EQ(encode_content(content, 5), bytes({0x0A, 0x05, 0x08, 0x05, 0x12, 0x01, 'a'}));
}

TEST(CodecEncode, SizeCoversLongLengthsAndIds) {
  for (size_t data_size : {0u, 1u, 120u, 200u, 20000u}) {
    for (uint32_t id : {0u, 1u, 127u, 128u, 0xFFFFFFFFu}) {
      spb::Content content;
      content.set_data(std::string(data_size, 'd'));
      content.set_id(12345);
      const std::string serialized = content.SerializeAsString();
      content.set_id(id);
      EXPECT_EQ(encode_content(serialized, id), content_message(content));
    }
  }
}

TEST(CodecEncode, EndNoticeIsContentWithIdAndIsError) {
  char out[kMaxNoticeSize];
  for (uint32_t id : {0u, 1u, 300u, 0xFFFFFFFFu}) {
    const size_t size = write_end_notice(out, id);
    ASSERT_LE(size, kMaxNoticeSize);
    spb::Content expected;
    expected.set_id(id);
    expected.set_iserror(true);
    EXPECT_EQ(std::string(out, size), content_message(expected));
  }
  EXPECT_EQ(std::string(out, write_end_notice(out, 0)), bytes({0x0A, 0x02, 0x18, 0x01}));
}

TEST(CodecEncode, BoolMessagesMatchTheGeneratedSerializer) {
  char out[3];
  EXPECT_EQ(std::string(out, write_bool_message(out, field::kIsFirst, false)), bytes({0x10, 0x00}));
  using Setter = void (spb::Message::*)(bool);
  const std::pair<uint32_t, Setter> fields[] = {
      {field::kIsFirst, &spb::Message::set_isfirst},
      {field::kStable, &spb::Message::set_stable},
      {field::kHeartbeat, &spb::Message::set_heartbeat},
      {field::kTryAnother, &spb::Message::set_tryanother}};
  for (const auto& [number, set] : fields) {
    for (bool value : {false, true}) {
      spb::Message expected;
      (expected.*set)(value);
      EXPECT_EQ(std::string(out, write_bool_message(out, number, value)),
                expected.SerializeAsString());
    }
  }
}

// ---- the exchange netflux 3.0.0 performs (protocol.md) ----

// Decodes what `from` sent and re-encodes it the way the server forwards it with `id`.
std::string relay(const std::string& sent, uint32_t id, DecodedMessage& got) {
  EXPECT_TRUE(decode(sent, got));
  EXPECT_EQ(got.type, MessageType::kContent);
  return encode_content(got.content, id);
}

spb::Content make_content(uint32_t id, const std::string* data, bool is_end) {
  spb::Content c;
  c.set_id(id);
  if (data) c.set_data(*data);
  c.set_isend(is_end);
  return c;
}

TEST(CodecNetflux, JoinExchangeIsRelayedByteExactly) {
  const uint32_t x = 0x5EEDu;
  const std::string offer = "v=0 offer", answer = "v=0 answer", candidate = "candidate:1";
  char out[3];
  DecodedMessage got;

  // J < isFirst=false
  spb::Message is_first;
  is_first.set_isfirst(false);
  EXPECT_EQ(std::string(out, write_bool_message(out, field::kIsFirst, false)),
            is_first.SerializeAsString());

  // J > content{data: offer}  ->  M < content{id: X, data: offer}
  EXPECT_EQ(relay(content_message(make_content(0, &offer, false)), x, got),
            content_message(make_content(x, &offer, false)));
  EXPECT_EQ(got.content_id, 0u);
  EXPECT_FALSE(got.content_ends);

  // M > content{id: X, data: answer}  ->  J < content{data: answer}
  EXPECT_EQ(relay(content_message(make_content(x, &answer, false)), 0, got),
            content_message(make_content(0, &answer, false)));
  EXPECT_EQ(got.content_id, x);
  EXPECT_FALSE(got.content_ends);

  // ICE candidates both ways
  EXPECT_EQ(relay(content_message(make_content(0, &candidate, false)), x, got),
            content_message(make_content(x, &candidate, false)));
  EXPECT_EQ(relay(content_message(make_content(x, &candidate, false)), 0, got),
            content_message(make_content(0, &candidate, false)));

  // J > content{isEnd: true}  ->  M < content{id: X, isEnd: true}; and back.
  EXPECT_EQ(relay(content_message(make_content(0, nullptr, true)), x, got),
            content_message(make_content(x, nullptr, true)));
  EXPECT_TRUE(got.content_ends);
  EXPECT_EQ(relay(content_message(make_content(x, nullptr, true)), 0, got),
            content_message(make_content(0, nullptr, true)));
  EXPECT_TRUE(got.content_ends);
  EXPECT_EQ(got.content_id, x);

  // J > stable; heartbeats both ways.
  spb::Message stable;
  stable.set_stable(true);
  ASSERT_TRUE(decode(stable.SerializeAsString(), got));
  EXPECT_EQ(got.type, MessageType::kStable);
  EXPECT_TRUE(got.flag);
  spb::Message heartbeat;
  heartbeat.set_heartbeat(true);
  ASSERT_TRUE(decode(heartbeat.SerializeAsString(), got));
  EXPECT_EQ(got.type, MessageType::kHeartbeat);
  EXPECT_EQ(std::string(out, write_bool_message(out, field::kHeartbeat, true)),
            heartbeat.SerializeAsString());
}

// ---- differential run ----

// Builds protobuf-shaped inputs that stress the parser's edges: padded and wrapping varints,
// 5-byte tags with high bits, padded lengths, groups, wrong wire types, merges, and then
// breaks some of them with mutations, truncations and splices.
class InputGenerator {
 public:
  explicit InputGenerator(uint64_t seed) : rng_(seed) {}

  std::string next() {
    const uint64_t strategy = below(100);
    if (strategy < 15) return random_bytes();
    std::string s = message();
    if (strategy < 25 && !corpus_.empty()) s += corpus_[below(corpus_.size())];
    if (corpus_.size() < 64) {
      corpus_.push_back(s);
    } else {
      corpus_[below(corpus_.size())] = s;
    }
    if (strategy >= 55) {
      for (uint64_t n = 1 + below(3); n > 0; --n) mutate(s);
    }
    return s;
  }

  uint32_t random_id() {
    switch (below(4)) {
      case 0:
        return 0;
      case 1:
        return static_cast<uint32_t>(1 + below(200));
      default:
        return static_cast<uint32_t>(rng_());
    }
  }

 private:
  uint64_t below(uint64_t n) { return rng_() % n; }
  bool chance(uint64_t percent) { return below(100) < percent; }

  uint64_t random_value() {
    switch (below(6)) {
      case 0:
        return 0;
      case 1:
        return 1;
      case 2:
        return below(300);
      case 3:
        return (uint64_t{1} << 32) + below(4);
      case 4:
        return ~uint64_t{0} - below(2);
      default:
        return rng_() >> below(64);
    }
  }

  void put_varint(std::string& s, uint64_t value) {
    if (chance(5)) {  // 10 bytes whose last byte carries bits beyond 64
      for (int i = 0; i < 9; ++i) s.push_back(static_cast<char>(0x80 | below(128)));
      s.push_back(static_cast<char>(below(128)));
      return;
    }
    do {
      s.push_back(static_cast<char>((value & 0x7f) | 0x80));
      value >>= 7;
    } while (value != 0);
    if (chance(8)) {  // padding: may or may not still fit in 10 bytes
      for (uint64_t pad = 1 + below(5); pad > 0; --pad) s.push_back(static_cast<char>(0x80));
    }
    s.back() = static_cast<char>(s.back() & 0x7f);
  }

  void put_tag(std::string& s, uint32_t field_number, uint32_t wire_type) {
    const uint32_t tag = (field_number << 3) | wire_type;
    if (chance(4)) {  // five bytes, high bits of the last one beyond 32 bits
      for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(0x80 | ((tag >> (7 * i)) & 0x7f)));
      s.push_back(static_cast<char>((tag >> 28) | (below(8) << 4)));
      return;
    }
    put_varint(s, tag);
  }

  void put_length(std::string& s, size_t length) {
    if (chance(4)) {  // padded to 5 bytes; sometimes a 5th byte >= 8
      for (int i = 0; i < 4; ++i)
        s.push_back(static_cast<char>(0x80 | ((length >> (7 * i)) & 0x7f)));
      s.push_back(static_cast<char>(chance(30) ? 8 + below(120) : 0));
      return;
    }
    if (chance(2)) {
      put_varint(s, length + below(3) - 1);  // off by one either way
      return;
    }
    put_varint(s, length);
  }

  uint32_t random_field() {
    switch (below(10)) {
      case 0:
        return static_cast<uint32_t>(below(1u << 29));
      case 1:
        return 0;
      default:
        return static_cast<uint32_t>(1 + below(8));
    }
  }

  void put_unknown(std::string& s, int depth) {
    const uint32_t number = random_field();
    uint32_t wire = static_cast<uint32_t>(below(100) < 3 ? 6 + below(2) : below(6));
    if (wire == 4) wire = 0;
    put_tag(s, number, wire);
    switch (wire) {
      case 0:
        put_varint(s, random_value());
        break;
      case 1:
        for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(rng_()));
        break;
      case 2: {
        const std::string payload = chance(50) ? content(depth + 1) : random_bytes();
        put_length(s, payload.size());
        s += payload;
        break;
      }
      case 3:
        if (depth < 4) {
          for (uint64_t n = below(3); n > 0; --n) put_unknown(s, depth + 1);
        }
        put_tag(s, chance(95) ? number : random_field(), 4);
        break;
      case 5:
        for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(rng_()));
        break;
      default:
        break;
    }
  }

  std::string content(int depth) {
    std::string s;
    for (uint64_t n = below(5); n > 0; --n) {
      switch (below(7)) {
        case 0:
          put_tag(s, 1, 0);
          put_varint(s, random_value());
          break;
        case 1: {
          put_tag(s, 2, 2);
          const uint64_t size = below(6);
          put_length(s, size);
          for (uint64_t i = 0; i < size; ++i) s.push_back(static_cast<char>(rng_()));
          break;
        }
        case 2:
        case 3:
          put_tag(s, static_cast<uint32_t>(below(2) + 3), 0);
          put_varint(s, chance(70) ? below(2) : random_value());
          break;
        case 4: {  // a known field with another wire type: an unknown field to protobuf
          const uint32_t number = static_cast<uint32_t>(1 + below(4));
          if (number == 2) {
            put_tag(s, 2, 5);
            s.append(4, 'f');
          } else {
            put_tag(s, number, 2);
            put_length(s, 1);
            s.push_back('w');
          }
          break;
        }
        default:
          put_unknown(s, depth + 1);
      }
    }
    return s;
  }

  std::string message() {
    std::string s;
    for (uint64_t n = below(5); n > 0; --n) {
      switch (below(6)) {
        case 0:
        case 1: {
          const std::string payload = content(1);
          put_tag(s, 1, 2);
          put_length(s, payload.size());
          s += payload;
          break;
        }
        case 2:
        case 3:
          put_tag(s, static_cast<uint32_t>(2 + below(4)), chance(90) ? 0 : 2);
          put_varint(s, chance(70) ? below(2) : random_value());
          break;
        default:
          put_unknown(s, 0);
      }
    }
    return s;
  }

  char interesting_byte() {
    static constexpr unsigned char kBytes[] = {0x00, 0x01, 0x02, 0x08, 0x0A, 0x0B, 0x0C, 0x10,
                                               0x12, 0x18, 0x20, 0x28, 0x3B, 0x3C, 0x7F, 0x80,
                                               0x81, 0xFF, 0x0E, 0x0F, 0x05, 0x09};
    return static_cast<char>(kBytes[below(sizeof kBytes)]);
  }

  std::string random_bytes() {
    std::string s;
    const bool structured = chance(60);
    for (uint64_t n = below(24); n > 0; --n) {
      s.push_back(structured ? interesting_byte() : static_cast<char>(rng_()));
    }
    return s;
  }

  void mutate(std::string& s) {
    if (s.empty()) {
      s.push_back(interesting_byte());
      return;
    }
    const size_t at = below(s.size());
    switch (below(6)) {
      case 0:
        s[at] = static_cast<char>(s[at] ^ (1 << below(8)));
        break;
      case 1:
        s[at] = interesting_byte();
        break;
      case 2:
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), interesting_byte());
        break;
      case 3:
        s.erase(at, 1);
        break;
      case 4:
        s.resize(at);
        break;
      default:
        s += s.substr(at, below(8));
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::string> corpus_;  // earlier messages, spliced into later ones
};

TEST(CodecDifferential, AgreesWithLibprotobufOnGeneratedInputs) {
  InputGenerator generator(20240611);
  DecodedMessage got;
  int valid = 0, content = 0, merged = 0;
  for (int i = 0; i < 300000; ++i) {
    const std::string input = generator.next();
    const testing::AssertionResult verdict =
        agrees_with_libprotobuf(input, generator.random_id(), got);
    ASSERT_TRUE(verdict) << "case " << i;
    if (libprotobuf_accepts(input)) {
      ++valid;
      if (got.type == MessageType::kContent) {
        ++content;
        if (!got.content.empty() && got.content.data() == got.scratch.data()) ++merged;
      }
    }
  }
  // The generator must keep exercising both verdicts and the interesting paths.
  EXPECT_GT(valid, 50000);
  EXPECT_LT(valid, 270000);
  EXPECT_GT(content, 12000);
  EXPECT_GT(merged, 2000);
}

}  // namespace
}  // namespace sigver::gen1
