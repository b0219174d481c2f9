// The joining and relay rules of protocol.md, driven through the router with a fake output
// that decodes every message with the generated protobuf classes.
#include "worker/protocol/gen1/router.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "sigver.pb.h"

namespace sigver::gen1 {
namespace {

class FakeOutput : public PeerOutput {
 public:
  char* begin_message(Peer& to, size_t size) override {
    if (closed.count(&to)) return nullptr;
    pending.assign(size, '\0');
    return pending.data();
  }
  void end_message(Peer& to, size_t size) override {
    pb::Message m;
    EXPECT_TRUE(m.ParseFromArray(pending.data(), static_cast<int>(size)));
    inbox[&to].push_back(m);
  }
  void close(Peer& peer, uint16_t code, std::string_view) override { closed[&peer] = code; }
  uint32_t round_trip_us(Peer&) override { return 0; }

  // Pops the oldest message sent to `p` (fails the test if there is none).
  pb::Message take(Peer& p) {
    auto& q = inbox[&p];
    EXPECT_FALSE(q.empty()) << "no message";
    if (q.empty()) return {};
    pb::Message m = q.front();
    q.erase(q.begin());
    return m;
  }
  bool idle(Peer& p) { return inbox[&p].empty(); }

  std::string pending;
  std::map<Peer*, std::vector<pb::Message>> inbox;
  std::map<Peer*, uint16_t> closed;
};

class RouterTest : public ::testing::Test {
 protected:
  Peer& connect(const std::string& key = "room") {
    Peer& p = peers.emplace_back();
    router.open(p, key);
    return p;
  }
  void send(Peer& from, const pb::Message& m) {
    std::string bytes = m.SerializeAsString();
    router.message(from, true, bytes.data(), bytes.size());
  }
  void send_content(Peer& from, uint32_t id, const std::string& data) {
    pb::Message m;
    m.mutable_content()->set_id(id);
    m.mutable_content()->set_data(data);
    send(from, m);
  }
  void stable(Peer& p) {
    pb::Message m;
    m.set_stable(true);
    send(p, m);
  }
  void try_another(Peer& p) {
    pb::Message m;
    m.set_tryanother(true);
    send(p, m);
  }
  void send_end(Peer& from, uint32_t id, bool is_end, bool is_error) {
    pb::Message m;
    m.mutable_content()->set_id(id);
    if (is_end) m.mutable_content()->set_isend(true);
    if (is_error) m.mutable_content()->set_iserror(true);
    send(from, m);
  }
  // A member and a joiner bound to it, initial messages consumed; returns the routing id.
  uint32_t pair(Peer*& m, Peer*& j, const std::string& key = "room") {
    m = &connect(key);
    out.take(*m);
    j = &connect(key);
    out.take(*j);
    return relay_up(*j, *m, "offer");
  }
  void expect_error_notice(Peer& p, uint32_t id) {
    pb::Message m = out.take(p);
    ASSERT_EQ(m.type_case(), pb::Message::kContent);
    EXPECT_TRUE(m.content().iserror());
    EXPECT_EQ(m.content().id(), id);
    EXPECT_TRUE(m.content().data().empty());
  }
  void expect_is_first(Peer& p, bool first) {
    pb::Message m = out.take(p);
    ASSERT_EQ(m.type_case(), pb::Message::kIsFirst);
    EXPECT_EQ(m.isfirst(), first);
  }
  // J -> M relay: returns the id M sees.
  uint32_t relay_up(Peer& j, Peer& m, const std::string& data) {
    send_content(j, 0, data);
    pb::Message got = out.take(m);
    EXPECT_EQ(got.type_case(), pb::Message::kContent);
    EXPECT_EQ(got.content().data(), data);
    EXPECT_NE(got.content().id(), 0u);
    return got.content().id();
  }

  FakeOutput out;
  Router router{out, 42};
  std::deque<Peer> peers;
};

TEST_F(RouterTest, FirstPeerIsFirstSecondIsNot) {
  Peer& a = connect();
  expect_is_first(a, true);
  Peer& b = connect();
  expect_is_first(b, false);
  EXPECT_TRUE(a.is_member);
  EXPECT_FALSE(b.is_member);
  EXPECT_EQ(b.member, &a);
}

TEST_F(RouterTest, RelaysBothWaysWithIds) {
  Peer& m = connect();
  out.take(m);
  Peer& j = connect();
  out.take(j);
  // Whatever id the joiner puts is replaced by its routing id.
  send_content(j, 777, "offer");
  pb::Message at_m = out.take(m);
  uint32_t id = at_m.content().id();
  EXPECT_NE(id, 0u);
  EXPECT_NE(id, 777u);
  EXPECT_EQ(at_m.content().data(), "offer");
  send_content(m, id, "answer");
  pb::Message at_j = out.take(j);
  EXPECT_EQ(at_j.content().id(), 0u);
  EXPECT_EQ(at_j.content().data(), "answer");
  EXPECT_TRUE(out.idle(m));
}

TEST_F(RouterTest, DistinctIdsForJoinersOfOneMember) {
  Peer& m = connect();
  out.take(m);
  Peer& j1 = connect();
  Peer& j2 = connect();
  uint32_t id1 = relay_up(j1, m, "a");
  uint32_t id2 = relay_up(j2, m, "b");
  EXPECT_NE(id1, id2);
  send_content(m, id2, "to-j2");
  out.take(j1);  // isFirst
  out.take(j2);  // isFirst
  EXPECT_TRUE(out.idle(j1));
  EXPECT_EQ(out.take(j2).content().data(), "to-j2");
}

TEST_F(RouterTest, EndFlagsAreForwardedAndEndTheDirection) {
  Peer *m, *j;
  uint32_t id = pair(m, j);
  send_end(*j, 0, true, false);
  pb::Message got = out.take(*m);
  EXPECT_TRUE(got.content().isend());
  EXPECT_EQ(got.content().id(), id);
  send_content(*j, 0, "late");  // up direction ended: dropped
  EXPECT_TRUE(out.idle(*m));
  // The other direction is still open until the member ends it too.
  send_content(*m, id, "candidate");
  EXPECT_EQ(out.take(*j).content().data(), "candidate");
  send_end(*m, id, false, true);
  got = out.take(*j);
  EXPECT_TRUE(got.content().iserror());
  EXPECT_EQ(got.content().id(), 0u);
  send_content(*m, id, "late");
  EXPECT_TRUE(out.idle(*j));
}

TEST_F(RouterTest, ContentWithoutDataEndsTheDirection) {
  Peer *m, *j;
  uint32_t id = pair(m, j);
  pb::Message bare;
  bare.mutable_content()->set_id(5);
  send(*j, bare);
  pb::Message got = out.take(*m);
  EXPECT_EQ(got.content().id(), id);
  send_content(*j, 0, "dropped");
  EXPECT_TRUE(out.idle(*m));
}

TEST_F(RouterTest, UnknownContentFieldsArePreserved) {
  Peer *m, *j;
  uint32_t id = pair(m, j);
  // Content{id: 9, data: "x", field 7 (varint 300), field 9 (bytes "zz")} by hand.
  const std::string content = std::string("\x08\x09\x12\x01x\x38\xac\x02\x4a\x02zz", 12);
  std::string msg = "\x0a" + std::string(1, static_cast<char>(content.size())) + content;
  router.message(*j, true, msg.data(), msg.size());
  pb::Message got = out.take(*m);
  EXPECT_EQ(got.content().id(), id);
  EXPECT_EQ(got.content().data(), "x");
  std::string unknown;
  got.content().GetReflection()->GetUnknownFields(got.content()).SerializeToString(&unknown);
  EXPECT_EQ(unknown, std::string("\x38\xac\x02\x4a\x02zz", 7));
}

TEST_F(RouterTest, MemberLeavingNotifiesBoundJoiner) {
  Peer *m, *j;
  pair(m, j);
  router.leave(*m);
  expect_error_notice(*j, 0);
  EXPECT_EQ(j->member, nullptr);
}

TEST_F(RouterTest, JoinerLeavingNotifiesMember) {
  Peer *m, *j;
  uint32_t id = pair(m, j);
  router.leave(*j);
  expect_error_notice(*m, id);
  EXPECT_EQ(router.find_by_id(id), nullptr);
}

TEST_F(RouterTest, NoNoticeDownAnEndedDirection) {
  Peer *m, *j;
  uint32_t id = pair(m, j);
  send_end(*j, 0, true, false);
  out.take(*m);
  router.leave(*j);  // up direction already ended: nothing more for the member
  EXPECT_TRUE(out.idle(*m));
  (void)id;
}

TEST_F(RouterTest, StableMakesAMemberAndKeepsTheRelayOpen) {
  Peer *m, *j;
  uint32_t id = pair(m, j);
  stable(*j);
  EXPECT_TRUE(j->is_member);
  send_content(*j, 0, "ice");
  EXPECT_EQ(out.take(*m).content().id(), id);
  send_content(*m, id, "ice2");
  EXPECT_EQ(out.take(*j).content().data(), "ice2");
  // A third peer is bound to the oldest member.
  Peer& k = connect();
  expect_is_first(k, false);
  EXPECT_EQ(k.member, m);
}

TEST_F(RouterTest, TryAnotherMovesToTheNextMemberWithAFreshId) {
  Peer *m, *j;
  uint32_t id = pair(m, j);
  stable(*j);  // j becomes a second member
  Peer& k = connect();
  out.take(k);
  uint32_t k_id = relay_up(k, *m, "offer");
  try_another(k);
  expect_error_notice(*m, k_id);
  expect_is_first(k, false);
  EXPECT_EQ(k.member, j);
  uint32_t k_id2 = relay_up(k, *j, "offer2");
  EXPECT_NE(k_id2, k_id);
  // The old id no longer routes.
  send_content(*m, k_id, "stale");
  EXPECT_TRUE(out.idle(k));
  (void)id;
}

TEST_F(RouterTest, TryAnotherAfterAllTriedStartsOverAtTheOldest) {
  Peer *m, *j;
  pair(m, j);
  stable(*j);
  Peer& k = connect();
  out.take(k);
  try_another(k);  // m tried -> j
  out.take(*m);
  expect_is_first(k, false);
  EXPECT_EQ(k.member, j);
  try_another(k);  // both tried -> start over at m
  expect_is_first(k, false);
  EXPECT_EQ(k.member, m);
}

TEST_F(RouterTest, LastMemberBlockingIsReplaced) {
  Peer *m, *j;
  uint32_t id = pair(m, j);
  try_another(*j);
  expect_error_notice(*m, id);
  expect_is_first(*j, true);
  EXPECT_EQ(out.closed[m], 4004);
  EXPECT_TRUE(j->is_member);
  const Group* g = router.find_group("room");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(g->members.size(), 1u);
  EXPECT_EQ(g->members[0], j);
  EXPECT_EQ(m->group, nullptr);
  // The next peer joins through the new member.
  Peer& k = connect();
  expect_is_first(k, false);
  EXPECT_EQ(k.member, j);
}

TEST_F(RouterTest, MemberReplacementNotifiesItsOtherJoiners) {
  Peer& m = connect();
  out.take(m);
  Peer& j = connect();
  out.take(j);
  Peer& k = connect();
  out.take(k);
  try_another(j);  // only member m, tried by j: m is replaced, k's binding ends
  EXPECT_EQ(out.closed[&m], 4004);
  expect_is_first(j, true);
  expect_error_notice(k, 0);
}

TEST_F(RouterTest, KeysAreSeparateGroups) {
  Peer& a = connect("one");
  Peer& b = connect("two");
  expect_is_first(a, true);
  expect_is_first(b, true);
  EXPECT_EQ(router.counters().groups, 2u);
  router.leave(a);
  EXPECT_EQ(router.counters().groups, 1u);
  EXPECT_EQ(router.find_group("one"), nullptr);
}

TEST_F(RouterTest, PeerBothMemberAndJoinerRoutesById) {
  Peer *m, *j;
  uint32_t j_id = pair(m, j);
  stable(*j);
  // k is bound to m; make m leave so that a new peer gets bound to j.
  Peer& k = connect();
  out.take(k);
  try_another(k);  // -> j
  out.take(*m);
  out.take(k);
  uint32_t k_id = relay_up(k, *j, "offer-k");
  // j is a member (k bound to it) and a joiner (its binding to m is open).
  send_content(*j, k_id, "to-k");
  EXPECT_EQ(out.take(k).content().data(), "to-k");
  EXPECT_TRUE(out.idle(*m));
  send_content(*j, 0, "to-m");
  pb::Message got = out.take(*m);
  EXPECT_EQ(got.content().id(), j_id);
  EXPECT_EQ(got.content().data(), "to-m");
}

TEST_F(RouterTest, ContentMatchingNoBindingIsDropped) {
  Peer& m = connect();
  out.take(m);
  send_content(m, 12345, "nobody");
  send_content(m, 0, "nobody");
  EXPECT_TRUE(out.idle(m));
}

TEST_F(RouterTest, EveryoneLeavingRemovesTheGroupAndFreshJoinIsFirst) {
  Peer *m, *j;
  pair(m, j);
  router.leave(*m);
  out.take(*j);
  router.leave(*j);
  EXPECT_EQ(router.counters().groups, 0u);
  Peer& n = connect();
  expect_is_first(n, true);
}

TEST_F(RouterTest, JoinerWhoseMemberLeftBecomesFirstOnTryAnother) {
  Peer *m, *j;
  pair(m, j);
  router.leave(*m);
  out.take(*j);
  try_another(*j);
  expect_is_first(*j, true);
  EXPECT_TRUE(j->is_member);
}

TEST_F(RouterTest, LeaveIsIdempotent) {
  Peer *m, *j;
  pair(m, j);
  router.leave(*j);
  out.take(*m);
  router.leave(*j);
  EXPECT_TRUE(out.idle(*m));
}

TEST_F(RouterTest, ExportedGroupImportsWholeIntoAnotherRouter) {
  Peer *m, *j;
  uint32_t id = pair(m, j, "moving");
  stable(*j);
  Peer& k = connect("moving");
  out.take(k);
  uint32_t k_id = relay_up(k, *m, "k-offer");
  std::vector<ExportedPeer> exported;
  router.export_group("moving", exported);
  ASSERT_EQ(exported.size(), 3u);
  EXPECT_EQ(router.find_group("moving"), nullptr);
  EXPECT_EQ(router.find_by_id(id), nullptr);
  EXPECT_EQ(m->group, nullptr);

  FakeOutput out2;
  Router other(out2, 7);
  Peer& existing = peers.emplace_back();  // joined the new owner while the group travelled
  other.open(existing, "moving");
  other.import_group("moving", exported);
  const Group* g = other.find_group("moving");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(g->members.size(), 3u);
  EXPECT_EQ(g->members[0], m) << "imported members are older than local ones";
  EXPECT_EQ(g->members[1], j);
  EXPECT_EQ(g->members[2], &existing);
  EXPECT_EQ(other.find_by_id(id), j);
  EXPECT_EQ(other.find_by_id(k_id), &k);
  // Relays keep their ids in the new router.
  pb::Message up;
  up.mutable_content()->set_data("after");
  std::string bytes = up.SerializeAsString();
  other.message(k, true, bytes.data(), bytes.size());
  pb::Message got = out2.take(*m);
  EXPECT_EQ(got.content().id(), k_id);
  EXPECT_EQ(got.content().data(), "after");
  // k's tried list survived: after tryAnother it goes to j, not back to m.
  pb::Message again;
  again.set_tryanother(true);
  bytes = again.SerializeAsString();
  other.message(k, true, bytes.data(), bytes.size());
  EXPECT_EQ(k.member, j);
}

TEST_F(RouterTest, PeerOverMaxPeersPerKeyIsClosedWith1013AndJoinsNothing) {
  ProtocolSettings settings;
  settings.max_peers_per_key = 2;
  router.configure(settings);
  Peer& first = connect();
  EXPECT_TRUE(out.take(first).isfirst());
  Peer& second = connect();
  Peer& third = peers.emplace_back();
  router.open(third, "room");
  EXPECT_EQ(out.closed[&third], 1013);
  EXPECT_EQ(third.group, nullptr);
  EXPECT_EQ(router.find_group("room")->peers.size(), 2u);
  router.leave(third);  // the worker closes it like any peer: nothing to undo
  // Another key is not affected, and room has space again once one leaves.
  Peer& elsewhere = peers.emplace_back();
  router.open(elsewhere, "other");
  EXPECT_EQ(out.closed.count(&elsewhere), 0u);
  router.leave(second);
  Peer& fourth = peers.emplace_back();
  router.open(fourth, "room");
  EXPECT_EQ(out.closed.count(&fourth), 0u);
  EXPECT_NE(fourth.group, nullptr);
}

}  // namespace
}  // namespace sigver::gen1
