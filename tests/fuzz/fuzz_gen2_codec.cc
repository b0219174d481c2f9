// libFuzzer target: generation 2's decode_message must agree with libprotobuf's parser
// (classes generated from proto/sigver2.proto) on every input, case and value, and what the
// encoders write from the decoded values must parse back to them (the checks of
// tests/unit/gen2_codec_test.cc's differential test).
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "sigver2.pb.h"
#include "worker/protocol/gen2/codec.h"

namespace {

using namespace sigver::gen2;
using sigver::fuzz::require;
namespace pb = sigver::pb2;

// Content relayed from these values parses back to them, data always present.
void check_relay(const DecodedMessage& got) {
  std::string out(content_size(got.sender_id, got.recipient_id, got.data.size()), '\0');
  require(write_content(out.data(), got.sender_id, got.recipient_id, got.data) == out.size(),
          "write_content wrote another size than content_size");
  pb::Message back;
  require(back.ParseFromString(out) && back.has_content(), "relayed content does not parse");
  require(back.content().senderid() == got.sender_id &&
              back.content().recipientid() == got.recipient_id &&
              back.content().data() == got.data && !back.content().lastdata(),
          "relayed content differs");
  DecodedMessage again;
  require(decode_message(out.data(), out.size(), again) && again.data == got.data,
          "relayed content does not decode to itself");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  const char* data = reinterpret_cast<const char*>(bytes);
  pb::Message ref;
  const bool ref_ok = ref.ParseFromArray(data, static_cast<int>(size));
  DecodedMessage got;
  require(decode_message(data, size, got) == ref_ok, "the verdict differs from libprotobuf's");
  if (!ref_ok) return 0;
  require(static_cast<int>(got.type) == static_cast<int>(ref.type_case()), "the case differs");
  switch (ref.type_case()) {
    case pb::Message::kHeartbeat:
      require(got.flag == ref.heartbeat(), "heartbeat");
      break;
    case pb::Message::kConnected:
      require(got.flag == ref.connected(), "connected");
      break;
    case pb::Message::kContent: {
      const pb::Content& c = ref.content();
      require(got.sender_id == c.senderid() && got.recipient_id == c.recipientid() &&
                  got.last_data == c.lastdata() && got.data == c.data(),
              "content fields");
      require(got.data.empty() || (got.data.data() >= data && got.data.data() < data + size),
              "data is not a view into the input");
      check_relay(got);
      break;
    }
    case pb::Message::kConnect: {
      require(got.connect_id == ref.connect().id(), "connect id");
      std::vector<uint32_t> members;
      MemberReader reader(got.connect);
      uint32_t id;
      while (reader.next(id)) members.push_back(id);
      require(members == std::vector<uint32_t>(ref.connect().members().begin(),
                                               ref.connect().members().end()),
              "members");
      break;
    }
    default:
      require(!got.flag, "a flag without a case");
  }
  return 0;
}
