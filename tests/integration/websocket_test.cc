// RFC 6455 framing as the server enforces it: ping/pong, the close handshake, protocol
// violations (1002), size limit (1009), invalid UTF-8 (1007), fragmentation (spec "Errors").
#include "support/harness.h"

namespace sigver::itest {
namespace {

constexpr size_t kMaxMessage = 64 * 1024;

class WebSocketTest : public SigverTest {
 protected:
  void SetUp() override { Start({.protocol = {"max_message_size = 64k"}}); }

  // A peer that joined a fresh group as its first member.
  void OpenPeer(Peer& peer) {
    peer = NewPeer();
    ASSERT_NO_FATAL_FAILURE(Join(peer, random_key(), true));
  }

  // Sends raw frame bytes and expects the server to close with `code`, then the TCP close,
  // and the server to stay healthy.
  void ExpectViolation(const std::string& frame_bytes, uint16_t code) {
    Peer peer;
    ASSERT_NO_FATAL_FAILURE(OpenPeer(peer));
    ASSERT_TRUE(peer.ws().send_raw(frame_bytes));
    EXPECT_TRUE(IsClose(peer.ws().wait_close(), code));
    EXPECT_TRUE(peer.ws().wait_eof()) << "the server must close the TCP connection";
    EXPECT_TRUE(ServerHealthy());
  }
};

TEST_F(WebSocketTest, PingIsAnsweredWithPongCarryingTheSamePayload) {
  Peer peer;
  ASSERT_NO_FATAL_FAILURE(OpenPeer(peer));
  std::string payload;
  for (int i = 0; i < 125; ++i) payload.push_back(static_cast<char>(i * 7));
  ASSERT_TRUE(peer.ws().send_ping(payload));
  const Received pong = peer.receive();
  ASSERT_EQ(pong.kind, Received::Kind::kPong) << pong.describe();
  EXPECT_EQ(pong.raw, payload);
  EXPECT_FALSE(pong.frame.masked) << "server frames are never masked";
  ASSERT_TRUE(peer.ws().send_ping(""));
  const Received empty = peer.receive();
  ASSERT_EQ(empty.kind, Received::Kind::kPong) << empty.describe();
  EXPECT_EQ(empty.raw, "");
}

TEST_F(WebSocketTest, ClientCloseIsEchoedAndTheConnectionEnds) {
  Peer peer;
  ASSERT_NO_FATAL_FAILURE(OpenPeer(peer));
  ASSERT_TRUE(peer.ws().send_close(1000, "done"));
  const CloseResult echo = peer.ws().wait_close();
  EXPECT_TRUE(IsClose(echo, 1000));
  EXPECT_TRUE(peer.ws().wait_eof());
}

TEST_F(WebSocketTest, EmptyClientCloseIsAnswered) {
  Peer peer;
  ASSERT_NO_FATAL_FAILURE(OpenPeer(peer));
  ASSERT_TRUE(peer.ws().send_frame(opcode::kClose, ""));
  const CloseResult echo = peer.ws().wait_close();
  EXPECT_EQ(echo.status, ReadStatus::kFrame) << echo.describe();
  if (echo.close.has_code) {
    EXPECT_EQ(echo.close.code, 1000) << echo.describe();
  }
  EXPECT_TRUE(peer.ws().wait_eof());
}

TEST_F(WebSocketTest, FragmentedMessageWithInterleavedPingIsReassembled) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  const std::string message = content_message(0, "fragmented-payload").SerializeAsString();
  const size_t third = message.size() / 3;
  ASSERT_TRUE(joiner.ws().send_frame(opcode::kBinary, message.substr(0, third), {.fin = false}));
  ASSERT_TRUE(joiner.ws().send_ping("mid"));
  ASSERT_TRUE(
      joiner.ws().send_frame(opcode::kContinuation, message.substr(third, third), {.fin = false}));
  ASSERT_TRUE(joiner.ws().send_frame(opcode::kContinuation, message.substr(2 * third)));
  const Received pong = joiner.receive();
  EXPECT_EQ(pong.kind, Received::Kind::kPong) << pong.describe();
  EXPECT_TRUE(IsContent(member.receive(), id, "fragmented-payload"));
}

TEST_F(WebSocketTest, MessageAtTheSizeLimitIsRelayed) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  // Message{content{data}} adds 2+3 bytes of tags and lengths (+3 for each length varint).
  const std::string data(kMaxMessage - 8, 'm');
  const std::string message = content_message(0, data).SerializeAsString();
  ASSERT_LE(message.size(), kMaxMessage);
  ASSERT_TRUE(joiner.send_raw_message(message));
  const Received got = member.receive();
  ASSERT_TRUE(got.is_content()) << got.describe();
  EXPECT_EQ(got.content().data().size(), data.size());
}

TEST_F(WebSocketTest, OversizedMessageIsClosedWith1009) {
  ExpectViolation(encode_frame(opcode::kBinary, std::string(kMaxMessage + 1, 'x')), 1009);
}

TEST_F(WebSocketTest, OversizedFragmentedMessageIsClosedWith1009) {
  const std::string half(kMaxMessage / 2 + 1, 'y');
  ExpectViolation(encode_frame(opcode::kBinary, half, {.fin = false}) +
                      encode_frame(opcode::kContinuation, half),
                  1009);
}

TEST_F(WebSocketTest, UnmaskedFrameIsClosedWith1002) {
  ExpectViolation(
      encode_frame(opcode::kBinary, heartbeat_message().SerializeAsString(), {.masked = false}),
      1002);
}

TEST_F(WebSocketTest, ReservedOpcodeIsClosedWith1002) {
  ExpectViolation(encode_frame(0x3, "x"), 1002);
}

TEST_F(WebSocketTest, ReservedControlOpcodeIsClosedWith1002) {
  ExpectViolation(encode_frame(0xB, "x"), 1002);
}

TEST_F(WebSocketTest, RsvBitsAreClosedWith1002) {
  ExpectViolation(
      encode_frame(opcode::kBinary, heartbeat_message().SerializeAsString(), {.rsv = 4}), 1002);
}

TEST_F(WebSocketTest, FragmentedPingIsClosedWith1002) {
  ExpectViolation(encode_frame(opcode::kPing, "abc", {.fin = false}), 1002);
}

TEST_F(WebSocketTest, OversizedControlFrameIsClosedWith1002) {
  ExpectViolation(encode_frame(opcode::kPing, std::string(126, 'p')), 1002);
}

TEST_F(WebSocketTest, ContinuationWithoutStartIsClosedWith1002) {
  ExpectViolation(encode_frame(opcode::kContinuation, "orphan"), 1002);
}

TEST_F(WebSocketTest, NewMessageInsideFragmentedOneIsClosedWith1002) {
  ExpectViolation(
      encode_frame(opcode::kBinary, "ab", {.fin = false}) + encode_frame(opcode::kBinary, "cd"),
      1002);
}

TEST_F(WebSocketTest, InvalidCloseCodeIsClosedWith1002) {
  ExpectViolation(encode_frame(opcode::kClose, close_payload(1005, "")), 1002);
}

TEST_F(WebSocketTest, OneByteClosePayloadIsClosedWith1002) {
  ExpectViolation(encode_frame(opcode::kClose, "x"), 1002);
}

TEST_F(WebSocketTest, InvalidUtf8CloseReasonIsClosedWith1007) {
  ExpectViolation(encode_frame(opcode::kClose, close_payload(1000, "bad\xc3\x28")), 1007);
}

TEST_F(WebSocketTest, ViolationByMemberEndsItsJoinersBinding) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  ASSERT_TRUE(member.ws().send_raw(encode_frame(0x3, "x")));
  EXPECT_TRUE(IsClose(member.ws().wait_close(), 1002));
  EXPECT_TRUE(IsFlags(joiner.receive(), 0, false, true));
}

}  // namespace
}  // namespace sigver::itest
