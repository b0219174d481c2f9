// Group membership over real sockets: binding to the oldest member, stable, tryAnother, the
// blocking member (4004) and what peers are told when someone leaves (spec "Joining",
// "Relay").
#include "support/harness.h"

namespace sigver::itest {
namespace {

class GroupTest : public SigverTest {
 protected:
  void SetUp() override { Start(); }

  // Joins `key` as a non-first peer, says hello, and returns the id its member sees.
  void JoinVia(Peer& joiner, Peer& member, const std::string& key, std::string_view hello,
               uint32_t& id) {
    joiner = NewPeer();
    ASSERT_NO_FATAL_FAILURE(Join(joiner, key, false));
    ASSERT_TRUE(joiner.send_content(0, hello));
    ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(member, hello, id));
  }
};

TEST_F(GroupTest, JoinerIsBoundToOldestMemberWithFreshId) {
  const std::string key = random_key();
  Peer member = NewPeer(), stable_peer, joiner;
  uint32_t stable_id = 0, joiner_id = 0;
  ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
  ASSERT_NO_FATAL_FAILURE(JoinVia(stable_peer, member, key, "hello-1", stable_id));
  ASSERT_TRUE(stable_peer.send(stable_message()));
  ASSERT_TRUE(ReceivedNothing(stable_peer.sync()));
  // Two members now; the next joiner goes to the oldest one, with a different id.
  ASSERT_NO_FATAL_FAILURE(JoinVia(joiner, member, key, "hello-2", joiner_id));
  EXPECT_NE(joiner_id, stable_id);
  EXPECT_TRUE(ReceivedNothing(stable_peer.sync()));
}

TEST_F(GroupTest, MemberLeavingSendsIsErrorToEveryBoundJoiner) {
  const std::string key = random_key();
  Peer member = NewPeer(), first, second;
  uint32_t first_id = 0, second_id = 0;
  ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
  ASSERT_NO_FATAL_FAILURE(JoinVia(first, member, key, "a", first_id));
  ASSERT_NO_FATAL_FAILURE(JoinVia(second, member, key, "b", second_id));
  EXPECT_TRUE(IsClose(member.close_cleanly(), 1000));
  EXPECT_TRUE(IsFlags(first.receive(), 0, false, true));
  EXPECT_TRUE(IsFlags(second.receive(), 0, false, true));
}

TEST_F(GroupTest, MemberDroppingTcpSendsIsErrorToBoundJoiner) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  member.ws().close();  // no close frame, just the TCP FIN
  EXPECT_TRUE(IsFlags(joiner.receive(), 0, false, true));
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(GroupTest, JoinerLeavingSendsIsErrorWithItsIdToMember) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  EXPECT_TRUE(IsClose(joiner.close_cleanly(), 1000));
  EXPECT_TRUE(IsFlags(member.receive(), id, false, true));

  Peer other;
  uint32_t other_id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, other, other_id));
  other.ws().close();  // abrupt
  EXPECT_TRUE(IsFlags(member.receive(), other_id, false, true));
}

TEST_F(GroupTest, ContentForAJoinerThatJustLeftIsDropped) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  EXPECT_TRUE(IsClose(joiner.close_cleanly(), 1000));
  ASSERT_TRUE(member.send_content(id, "too-late"));  // the race netflux runs into
  const std::vector<Received> got = member.sync();
  ASSERT_EQ(got.size(), 1u) << "only the leave notice, and the member stays connected";
  EXPECT_TRUE(IsFlags(got[0], id, false, true));
}

TEST_F(GroupTest, NoLeaveNoticeDownAnEndedDirection) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  ASSERT_TRUE(joiner.send(flag_message(0, true, false)));
  ASSERT_TRUE(IsFlags(member.receive(), id, true, false));
  EXPECT_TRUE(IsClose(joiner.close_cleanly(), 1000));
  EXPECT_TRUE(ReceivedNothing(member.sync())) << "joiner->member direction had already ended";

  Peer member2, joiner2;
  uint32_t id2 = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member2, joiner2, id2));
  ASSERT_TRUE(member2.send(flag_message(id2, true, false)));
  ASSERT_TRUE(IsFlags(joiner2.receive(), 0, true, false));
  EXPECT_TRUE(IsClose(member2.close_cleanly(), 1000));
  EXPECT_TRUE(ReceivedNothing(joiner2.sync())) << "member->joiner direction had already ended";
}

TEST_F(GroupTest, LastMemberLeavingEmptiesTheGroup) {
  const std::string key = random_key();
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id, key));
  EXPECT_TRUE(IsClose(member.close_cleanly(), 1000));
  EXPECT_TRUE(IsFlags(joiner.receive(), 0, false, true));
  // The joiner never said stable, so the group has no member left.
  Peer next = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(next, key, true));
}

TEST_F(GroupTest, StableMakesTheJoinerAMemberThatLaterJoinersReachViaTryAnother) {
  const std::string key = random_key();
  Peer member = NewPeer(), helper, joiner;
  uint32_t helper_id = 0, joiner_id_at_member = 0;
  ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
  ASSERT_NO_FATAL_FAILURE(JoinVia(helper, member, key, "helper-hello", helper_id));
  ASSERT_TRUE(helper.send(stable_message()));
  ASSERT_TRUE(ReceivedNothing(helper.sync()));

  // The new joiner tries the oldest member first, fails, and asks for another.
  ASSERT_NO_FATAL_FAILURE(JoinVia(joiner, member, key, "joiner-hello", joiner_id_at_member));
  ASSERT_TRUE(joiner.send(try_another_message()));
  EXPECT_TRUE(IsFlags(member.receive(), joiner_id_at_member, false, true));
  EXPECT_TRUE(IsIsFirst(joiner.receive(), false));

  // Now it is bound to the stable peer, under a new id.
  ASSERT_TRUE(joiner.send_content(0, "via-helper"));
  uint32_t joiner_id_at_helper = 0;
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(helper, "via-helper", joiner_id_at_helper));
  EXPECT_NE(joiner_id_at_helper, joiner_id_at_member);
  ASSERT_TRUE(helper.send_content(joiner_id_at_helper, "from-helper"));
  EXPECT_TRUE(IsContent(joiner.receive(), 0, "from-helper"));
  EXPECT_TRUE(ReceivedNothing(member.sync())) << "the old binding is over";

  // The helper is both a member and still a joiner of `member` (its relay stays open after
  // stable): content with another id goes to its own member.
  ASSERT_TRUE(helper.send_content(0, "helper-up"));
  EXPECT_TRUE(IsContent(member.receive(), helper_id, "helper-up"));
  ASSERT_TRUE(member.send_content(helper_id, "helper-down"));
  EXPECT_TRUE(IsContent(helper.receive(), 0, "helper-down"));
  EXPECT_TRUE(ReceivedNothing(joiner.sync()));
}

TEST_F(GroupTest, PeerInBothRolesRoutesByIdAndDropsOnItsEndedDirection) {
  const std::string key = random_key();
  Peer member = NewPeer(), helper, joiner;
  uint32_t helper_id = 0, unused = 0;
  ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
  ASSERT_NO_FATAL_FAILURE(JoinVia(helper, member, key, "helper-hello", helper_id));
  ASSERT_TRUE(helper.send(stable_message()));
  ASSERT_NO_FATAL_FAILURE(JoinVia(joiner, member, key, "joiner-hello", unused));
  ASSERT_TRUE(joiner.send(try_another_message()));
  ASSERT_TRUE(IsFlags(member.receive(), unused, false, true));
  ASSERT_TRUE(IsIsFirst(joiner.receive(), false));
  ASSERT_TRUE(joiner.send_content(0, "to-helper"));
  uint32_t joiner_id = 0;
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(helper, "to-helper", joiner_id));

  // The helper ends its own relay to its member (netflux does after joining)...
  ASSERT_TRUE(helper.send(flag_message(0, true, false)));
  EXPECT_TRUE(IsFlags(member.receive(), helper_id, true, false));
  // ...so content that is not for its joiner has nowhere to go, and is dropped,
  ASSERT_TRUE(helper.send_content(0, "dropped"));
  ASSERT_TRUE(helper.send_content(joiner_id + 1, "dropped-too"));
  // while content for its joiner still gets through.
  ASSERT_TRUE(helper.send_content(joiner_id, "to-joiner"));
  EXPECT_TRUE(IsContent(joiner.receive(), 0, "to-joiner"));
  EXPECT_TRUE(ReceivedNothing(member.sync()));
}

TEST_F(GroupTest, TryAnotherCyclesThroughMembersThenStartsOver) {
  const std::string key = random_key();
  Peer oldest = NewPeer(), second, third, joiner;
  uint32_t unused = 0;
  ASSERT_NO_FATAL_FAILURE(Join(oldest, key, true));
  ASSERT_NO_FATAL_FAILURE(JoinVia(second, oldest, key, "s", unused));
  ASSERT_TRUE(second.send(stable_message()));
  ASSERT_TRUE(ReceivedNothing(second.sync()));
  ASSERT_NO_FATAL_FAILURE(JoinVia(third, oldest, key, "t", unused));
  ASSERT_TRUE(third.send(stable_message()));
  ASSERT_TRUE(ReceivedNothing(third.sync()));

  Peer* expected_order[] = {&oldest, &second, &third, &oldest};
  std::vector<uint32_t> ids;
  joiner = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(joiner, key, false));
  for (size_t step = 0; step < std::size(expected_order); ++step) {
    SCOPED_TRACE("binding number " + std::to_string(step));
    Peer& member = *expected_order[step];
    const std::string hello = "try-" + std::to_string(step);
    ASSERT_TRUE(joiner.send_content(0, hello));
    uint32_t id = 0;
    ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(member, hello, id));
    for (uint32_t previous : ids) EXPECT_NE(id, previous) << "ids must be fresh per binding";
    ids.push_back(id);
    if (step + 1 == std::size(expected_order)) break;
    ASSERT_TRUE(joiner.send(try_another_message()));
    EXPECT_TRUE(IsFlags(member.receive(), id, false, true));
    ASSERT_TRUE(IsIsFirst(joiner.receive(), false));
  }
}

TEST_F(GroupTest, TryAnotherAgainstTheOnlyMemberReplacesItWith4004) {
  const std::string key = random_key();
  Peer blocker, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(blocker, joiner, id, key));
  ASSERT_TRUE(joiner.send(try_another_message()));
  EXPECT_TRUE(IsIsFirst(joiner.receive(), true));
  EXPECT_TRUE(IsFlags(blocker.receive(), id, false, true)) << "the binding ends first";
  EXPECT_TRUE(IsClose(blocker.receive(), 4004));
  EXPECT_TRUE(blocker.ws().wait_eof());

  // The replacement is the group's member now.
  Peer next = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(next, key, false));
  ASSERT_TRUE(next.send_content(0, "to-new-member"));
  uint32_t next_id = 0;
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(joiner, "to-new-member", next_id));
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(GroupTest, StableAfterTheGroupVanishedRecreatesIt) {
  const std::string key = random_key();
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id, key));
  EXPECT_TRUE(IsClose(member.close_cleanly(), 1000));
  EXPECT_TRUE(IsFlags(joiner.receive(), 0, false, true));
  ASSERT_TRUE(joiner.send(stable_message()));
  ASSERT_TRUE(ReceivedNothing(joiner.sync()));
  Peer next = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(next, key, false));
  ASSERT_TRUE(next.send_content(0, "hi"));
  uint32_t next_id = 0;
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(joiner, "hi", next_id));
}

TEST_F(GroupTest, OneLeavingPeerDoesNotDisturbOtherBindings) {
  const std::string key = random_key();
  Peer member = NewPeer(), staying, leaving;
  uint32_t staying_id = 0, leaving_id = 0;
  ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
  ASSERT_NO_FATAL_FAILURE(JoinVia(staying, member, key, "stay", staying_id));
  ASSERT_NO_FATAL_FAILURE(JoinVia(leaving, member, key, "leave", leaving_id));
  leaving.ws().close();
  EXPECT_TRUE(IsFlags(member.receive(), leaving_id, false, true));
  ASSERT_TRUE(member.send_content(staying_id, "still-here"));
  EXPECT_TRUE(IsContent(staying.receive(), 0, "still-here"));
  ASSERT_TRUE(staying.send_content(0, "me-too"));
  EXPECT_TRUE(IsContent(member.receive(), staying_id, "me-too"));
}

}  // namespace
}  // namespace sigver::itest
