// libFuzzer target: decode_message must agree with libprotobuf's generated parser on every
// input, and a forwarded content must be libprotobuf's content with the id replaced (the
// checks of tests/unit/codec_test.cc's differential test).
#include <google/protobuf/unknown_field_set.h>

#include <cstdlib>
#include <string>

#include "sigver.pb.h"
#include "worker/protocol/gen1/codec.h"

namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

void require(bool condition) {
  if (!condition) std::abort();
}

int case_number(sigver::gen1::MessageType type) { return static_cast<int>(type); }

// Presence of `data` in the content after the last oneof reset (libprotobuf cannot tell an
// empty `data` from an absent one, its schema-less parser can).
bool has_data(const char* data, size_t size) {
  UnknownFieldSet fields;
  require(fields.ParseFromArray(data, static_cast<int>(size)));
  bool found = false, current = false;
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.number() == 1 && f.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      if (!current) found = false;
      current = true;
      UnknownFieldSet content;
      require(content.ParseFromString(f.length_delimited()));
      for (int j = 0; j < content.field_count(); ++j) {
        found |= content.field(j).number() == 2 &&
                 content.field(j).type() == UnknownField::TYPE_LENGTH_DELIMITED;
      }
    } else if (f.number() >= 2 && f.number() <= 5 && f.type() == UnknownField::TYPE_VARINT) {
      current = false;
    }
  }
  return found;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const char* data = reinterpret_cast<const char*>(bytes);
  static sigver::gen1::DecodedMessage got;  // reused, as the server does
  sigver::pb::Message ref;
  const bool ref_ok = ref.ParseFromArray(data, static_cast<int>(size));
  require(sigver::gen1::decode_message(data, size, got) == ref_ok);
  if (!ref_ok) return 0;
  // The generated enum numbers the cases by field number, as MessageType does.
  require(case_number(got.type) == static_cast<int>(ref.type_case()));
  switch (ref.type_case()) {
    case sigver::pb::Message::kIsFirst:
      require(got.flag == ref.isfirst());
      break;
    case sigver::pb::Message::kStable:
      require(got.flag == ref.stable());
      break;
    case sigver::pb::Message::kHeartbeat:
      require(got.flag == ref.heartbeat());
      break;
    case sigver::pb::Message::kTryAnother:
      require(got.flag == ref.tryanother());
      break;
    case sigver::pb::Message::kContent: {
      const sigver::pb::Content& content = ref.content();
      require(got.content_id == content.id());
      require(got.content_ends == (!has_data(data, size) || content.iserror() || content.isend()));
      const uint32_t new_id = size > 0 ? bytes[0] * 0x01010101u : 0;
      std::string forwarded(sigver::gen1::content_message_size(got.content, new_id), '\0');
      require(sigver::gen1::write_content_message(forwarded.data(), got.content, new_id) ==
              forwarded.size());
      sigver::pb::Message reparsed;
      require(reparsed.ParseFromString(forwarded) && reparsed.has_content());
      sigver::pb::Content expected = content;
      expected.set_id(new_id);
      require(reparsed.content().SerializeAsString() == expected.SerializeAsString());
      break;
    }
    default:
      require(!got.flag);
  }
  return 0;
}
