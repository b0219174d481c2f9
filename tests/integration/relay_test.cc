// Relay between a joining peer and its member: ids, bytes, flags, unknown fields, and the end
// of a direction (spec "Relay").
#include "support/harness.h"

namespace sigver::itest {
namespace {

class RelayTest : public SigverTest {
 protected:
  void SetUp() override { Start(); }
};

std::string all_byte_values() {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  return bytes;
}

TEST_F(RelayTest, FirstPeerIsFirstAndLaterPeersAreNot) {
  const std::string key = random_key();
  Peer first = NewPeer(), second = NewPeer(), third = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(first, key, true));
  ASSERT_NO_FATAL_FAILURE(Join(second, key, false));
  ASSERT_NO_FATAL_FAILURE(Join(third, key, false));
  // Another key is another group.
  Peer other = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(other, random_key(), true));
}

TEST_F(RelayTest, JoinerContentReachesMemberWithNonZeroIdAndSameBytes) {
  const std::string key = random_key();
  Peer member = NewPeer(), joiner = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
  ASSERT_NO_FATAL_FAILURE(Join(joiner, key, false));
  const std::string payload = all_byte_values();
  ASSERT_TRUE(joiner.send_content(0, payload));
  const Received first = member.receive();
  ASSERT_TRUE(first.is_content()) << first.describe();
  const uint32_t id = first.content().id();
  EXPECT_NE(id, 0u);
  EXPECT_EQ(first.content().data(), payload);
  // An id set by the joiner is ignored: the member still sees the binding's id.
  ASSERT_TRUE(joiner.send_content(123456, "second"));
  EXPECT_TRUE(IsContent(member.receive(), id, "second"));
  // A larger payload (several TCP segments) arrives intact.
  const std::string big(200 * 1024, 'z');
  ASSERT_TRUE(joiner.send_content(0, big));
  const Received large = member.receive();
  ASSERT_TRUE(large.is_content()) << large.describe();
  EXPECT_EQ(large.content().id(), id);
  EXPECT_EQ(large.content().data().size(), big.size());
  EXPECT_TRUE(large.content().data() == big);
}

TEST_F(RelayTest, MemberContentReachesJoinerWithoutId) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  const std::string payload = all_byte_values();
  ASSERT_TRUE(member.send_content(id, payload));
  EXPECT_TRUE(IsContent(joiner.receive(), 0, payload));
  // Both directions keep working in turn.
  ASSERT_TRUE(joiner.send_content(0, "again-up"));
  EXPECT_TRUE(IsContent(member.receive(), id, "again-up"));
  ASSERT_TRUE(member.send_content(id, "again-down"));
  EXPECT_TRUE(IsContent(joiner.receive(), 0, "again-down"));
}

TEST_F(RelayTest, IsEndFromJoinerIsForwardedAndEndsThatDirectionOnly) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  ASSERT_TRUE(joiner.send(flag_message(0, true, false)));
  EXPECT_TRUE(IsFlags(member.receive(), id, true, false));
  ASSERT_TRUE(joiner.send_content(0, "late"));
  ASSERT_TRUE(ReceivedNothing(joiner.sync()));  // the server has handled "late"
  EXPECT_TRUE(ReceivedNothing(member.sync())) << "content after isEnd must be dropped";
  // The other direction is still open.
  ASSERT_TRUE(member.send_content(id, "still-open"));
  EXPECT_TRUE(IsContent(joiner.receive(), 0, "still-open"));
}

TEST_F(RelayTest, IsErrorFromMemberIsForwardedAndEndsThatDirectionOnly) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  ASSERT_TRUE(member.send(flag_message(id, false, true)));
  EXPECT_TRUE(IsFlags(joiner.receive(), 0, false, true));
  ASSERT_TRUE(member.send_content(id, "late"));
  ASSERT_TRUE(ReceivedNothing(member.sync()));
  EXPECT_TRUE(ReceivedNothing(joiner.sync())) << "content after isError must be dropped";
  ASSERT_TRUE(joiner.send_content(0, "still-open"));
  EXPECT_TRUE(IsContent(member.receive(), id, "still-open"));
}

TEST_F(RelayTest, IsEndFromMemberAndIsErrorFromJoinerAreForwarded) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  ASSERT_TRUE(member.send(flag_message(id, true, false)));
  EXPECT_TRUE(IsFlags(joiner.receive(), 0, true, false));
  ASSERT_TRUE(joiner.send(flag_message(0, false, true)));
  EXPECT_TRUE(IsFlags(member.receive(), id, false, true));
}

TEST_F(RelayTest, FlagWithDataIsForwardedIntact) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  pb::Message last = content_message(0, "last-words");
  last.mutable_content()->set_isend(true);
  ASSERT_TRUE(joiner.send(last));
  const Received got = member.receive();
  ASSERT_TRUE(got.is_content()) << got.describe();
  EXPECT_EQ(got.content().id(), id);
  EXPECT_EQ(got.content().data(), "last-words");
  EXPECT_TRUE(got.content().isend());
  EXPECT_FALSE(got.content().iserror());
}

TEST_F(RelayTest, ContentWithoutDataEndsTheDirection) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  // The seed's end of subscription: a content with no data field at all.
  ASSERT_TRUE(joiner.send_raw_message(wire::content_message("")));
  const Received got = member.receive();
  ASSERT_TRUE(got.is_content()) << got.describe();
  EXPECT_EQ(got.content().id(), id);
  EXPECT_EQ(wire::find(wire::content_fields(got.raw), 2), nullptr)
      << "data must stay absent: " << got.describe();
  ASSERT_TRUE(joiner.send_content(0, "late"));
  ASSERT_TRUE(ReceivedNothing(joiner.sync()));
  EXPECT_TRUE(ReceivedNothing(member.sync())) << "content after a data-less content is dropped";
}

TEST_F(RelayTest, UnknownContentFieldsArePreservedBothWays) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));

  const std::string up = wire::content_message(
      wire::bytes_field(2, "x") + wire::varint_field(9, 42) + wire::bytes_field(10, "keep-me"));
  ASSERT_TRUE(joiner.send_raw_message(up));
  const Received at_member = member.receive();
  ASSERT_TRUE(at_member.is_content()) << at_member.describe();
  EXPECT_EQ(at_member.content().id(), id);
  EXPECT_EQ(at_member.content().data(), "x");
  const auto up_fields = wire::content_fields(at_member.raw);
  const wire::Field* nine = wire::find(up_fields, 9);
  const wire::Field* ten = wire::find(up_fields, 10);
  ASSERT_NE(nine, nullptr) << at_member.describe();
  ASSERT_NE(ten, nullptr) << at_member.describe();
  EXPECT_EQ(nine->wire_type, 0u);
  EXPECT_EQ(nine->varint, 42u);
  EXPECT_EQ(ten->wire_type, 2u);
  EXPECT_EQ(ten->bytes, "keep-me");

  const std::string down = wire::content_message(
      wire::varint_field(1, id) + wire::bytes_field(2, "y") + wire::varint_field(11, 7));
  ASSERT_TRUE(member.send_raw_message(down));
  const Received at_joiner = joiner.receive();
  ASSERT_TRUE(at_joiner.is_content()) << at_joiner.describe();
  EXPECT_EQ(at_joiner.content().data(), "y");
  const auto down_fields = wire::content_fields(at_joiner.raw);
  EXPECT_EQ(wire::find(down_fields, 1), nullptr) << "id must be absent: " << at_joiner.describe();
  const wire::Field* eleven = wire::find(down_fields, 11);
  ASSERT_NE(eleven, nullptr) << at_joiner.describe();
  EXPECT_EQ(eleven->varint, 7u);
}

TEST_F(RelayTest, MemberAddressesEachJoinerById) {
  const std::string key = random_key();
  Peer member = NewPeer(), first = NewPeer(), second = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
  ASSERT_NO_FATAL_FAILURE(Join(first, key, false));
  ASSERT_NO_FATAL_FAILURE(Join(second, key, false));
  uint32_t first_id = 0, second_id = 0;
  ASSERT_TRUE(first.send_content(0, "from-first"));
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(member, "from-first", first_id));
  ASSERT_TRUE(second.send_content(0, "from-second"));
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(member, "from-second", second_id));
  EXPECT_NE(first_id, second_id);

  ASSERT_TRUE(member.send_content(second_id, "to-second"));
  EXPECT_TRUE(IsContent(second.receive(), 0, "to-second"));
  EXPECT_TRUE(ReceivedNothing(first.sync()));
  ASSERT_TRUE(member.send_content(first_id, "to-first"));
  EXPECT_TRUE(IsContent(first.receive(), 0, "to-first"));
  EXPECT_TRUE(ReceivedNothing(second.sync()));
}

TEST_F(RelayTest, ContentForUnknownIdIsDroppedSilently) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  ASSERT_TRUE(member.send_content(id + 1, "nobody"));
  ASSERT_TRUE(member.send_content(0, "nobody-either"));  // a member with no member of its own
  EXPECT_TRUE(ReceivedNothing(member.sync()));           // not closed, nothing echoed
  EXPECT_TRUE(ReceivedNothing(joiner.sync()));
  // A first peer's content has nowhere to go either.
  Peer alone = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(alone, random_key(), true));
  ASSERT_TRUE(alone.send_content(0, "void"));
  EXPECT_TRUE(ReceivedNothing(alone.sync()));
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(RelayTest, PeerHeartbeatIsNotAnswered) {
  Peer peer = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(peer, random_key(), true));
  ASSERT_TRUE(peer.send(heartbeat_message()));
  EXPECT_TRUE(ReceivedNothing(peer.sync()));
}

}  // namespace
}  // namespace sigver::itest
