// Keys (4001) and invalid messages (4003): the upgrade completes, then the server closes with
// the application code and a reason; the server stays healthy (spec "Wire", "Errors").
#include "support/harness.h"

namespace sigver::itest {
namespace {

class KeyTest : public SigverTest {
 protected:
  void SetUp() override { Start({.protocol = {"max_key_length = 16"}}); }

  void ExpectKeyRejected(const std::string& path) {
    Peer peer = NewPeer();
    ASSERT_TRUE(peer.ws().open(port(), path)) << path << ": " << peer.ws().last_error();
    const Received got = peer.receive();
    EXPECT_TRUE(IsClose(got, 4001)) << "path " << path;
    EXPECT_FALSE(got.close.reason.empty()) << "4001 should carry a reason";
    EXPECT_TRUE(peer.ws().wait_eof());
  }
};

TEST_F(KeyTest, KeyAtTheLimitIsAccepted) {
  Peer peer = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(peer, "k123456789abcdef", true));  // 16 characters
}

TEST_F(KeyTest, KeyOverTheLimitIsClosedWith4001AfterTheUpgrade) {
  ASSERT_NO_FATAL_FAILURE(ExpectKeyRejected("/k123456789abcdefg"));  // 17 characters
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(KeyTest, EmptyKeyIsClosedWith4001AfterTheUpgrade) {
  ASSERT_NO_FATAL_FAILURE(ExpectKeyRejected("/"));
  ASSERT_NO_FATAL_FAILURE(ExpectKeyRejected("/?only=query"));
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(KeyTest, KeyIsTheRawPathWithoutQuery) {
  Peer first = NewPeer(), second = NewPeer(), encoded = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(first, "a/b?x=1", true));
  ASSERT_NO_FATAL_FAILURE(Join(second, "a/b?y=2", false));  // same key "a/b"
  ASSERT_NO_FATAL_FAILURE(Join(encoded, "a%2Fb", true));    // not percent-decoded
}

TEST(DefaultKeyLimitTest, Allows512CharactersAndRejects513) {
  ServerProcess server(SigverdBinary(), {});
  ASSERT_TRUE(server.ready()) << server.diagnostics();
  Peer ok(server.port());
  bool is_first = false;
  ASSERT_TRUE(ok.join(std::string(512, 'a'), is_first)) << ok.error();
  EXPECT_TRUE(is_first);
  Peer too_long(server.port());
  ASSERT_TRUE(too_long.open(std::string(513, 'a'))) << too_long.error();
  EXPECT_TRUE(IsClose(too_long.receive(), 4001));
}

class BadMessageTest : public SigverTest {
 protected:
  void SetUp() override { Start(); }

  // Sends `frame` from a peer that is the member of a pair, then checks the 4003 close,
  // that its joiner is told, and that the server still works.
  void ExpectClosedWith4003(uint8_t op, const std::string& payload) {
    Peer member, joiner;
    uint32_t id = 0;
    ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
    ASSERT_TRUE(member.ws().send_frame(op, payload));
    const Received got = member.receive();
    EXPECT_TRUE(IsClose(got, 4003));
    EXPECT_FALSE(got.close.reason.empty()) << "4003 should carry a reason";
    EXPECT_TRUE(member.ws().wait_eof());
    EXPECT_TRUE(IsFlags(joiner.receive(), 0, false, true)) << "the closed member left";
    EXPECT_TRUE(ServerHealthy());
  }
};

TEST_F(BadMessageTest, TextMessageIsClosedWith4003) {
  ExpectClosedWith4003(opcode::kText, "hello");
}

TEST_F(BadMessageTest, GarbageBinaryIsClosedWith4003) {
  ExpectClosedWith4003(opcode::kBinary, std::string("\xff\xff\xff\xff\x0f", 5));
}

TEST_F(BadMessageTest, TruncatedProtobufIsClosedWith4003) {
  // content field announcing 10 bytes, only 2 present
  ExpectClosedWith4003(opcode::kBinary, std::string("\x0a\x0a\x12\x00", 4));
}

TEST_F(BadMessageTest, MessageWithNoTypeIsClosedWith4003) {
  ExpectClosedWith4003(opcode::kBinary, "");
}

// A newer client's message type is a valid Message with only unknown fields: protocol.md
// says to ignore it (protobuf forward compatibility), and the peer keeps relaying.
TEST_F(BadMessageTest, MessageWithOnlyUnknownFieldsIsIgnored) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  ASSERT_TRUE(member.send_raw_message(wire::varint_field(9, 1)));
  ASSERT_TRUE(
      member.send_raw_message(wire::bytes_field(15, "from the future") + wire::varint_field(6, 7)));
  ASSERT_TRUE(member.send_content(id, "still here"));
  EXPECT_TRUE(IsContent(joiner.receive(), 0, "still here"));
  EXPECT_TRUE(ReceivedNothing(member.sync())) << "the member was not closed";
  ASSERT_TRUE(joiner.send_content(0, "and back"));
  EXPECT_TRUE(IsContent(member.receive(), id, "and back"));
}

TEST_F(BadMessageTest, IsFirstFromAPeerIsClosedWith4003) {
  ExpectClosedWith4003(opcode::kBinary, is_first_message(true).SerializeAsString());
}

TEST_F(BadMessageTest, BadMessageFromJoinerTellsItsMember) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  ASSERT_TRUE(joiner.ws().send_text("not protobuf"));
  EXPECT_TRUE(IsClose(joiner.receive(), 4003));
  EXPECT_TRUE(IsFlags(member.receive(), id, false, true));
}

}  // namespace
}  // namespace sigver::itest
