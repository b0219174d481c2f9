// Generation 2's rules (protocol-v2.md: Joining, Relay, Heartbeat, Errors), driven through
// the router with a fake output that keeps every message's bytes and decodes them with the
// classes generated from proto/sigver2.proto; then netflux 4.3.1's exchange replayed byte
// for byte, and groups moved between two routers.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sigver2.pb.h"
#include "wire_bytes.h"
#include "worker/protocol/gen2/router.h"

namespace sigver::gen2 {
namespace {

namespace pb = sigver::pb2;
using test::bytes;
using test::varint;

class FakeOutput : public PeerOutput {
 public:
  char* begin_message(Peer& to, size_t size) override {
    if (closed.count(&to) || full.count(&to)) return nullptr;
    pending.assign(size, '\xAA');
    return pending.data();
  }
  void end_message(Peer& to, size_t size) override {
    EXPECT_EQ(size, pending.size());
    EXPECT_NE(to.group, nullptr) << "a message to a peer outside of any group";
    pb::Message m;
    EXPECT_TRUE(m.ParseFromString(pending)) << "the router wrote an invalid message";
    inbox[&to].push_back(pending);
  }
  void close(Peer& peer, uint16_t code, std::string_view why) override {
    EXPECT_EQ(peer.group, nullptr) << "closed before it left its group";
    EXPECT_FALSE(why.empty());
    closed[&peer] = code;
  }
  uint32_t round_trip_us(Peer&) override { return 0; }

  // The oldest message sent to `p`, as bytes or decoded (fails the test if there is none).
  std::string take_raw(Peer& p) {
    auto& q = inbox[&p];
    EXPECT_FALSE(q.empty()) << "no message";
    if (q.empty()) return {};
    std::string m = q.front();
    q.pop_front();
    return m;
  }
  pb::Message take(Peer& p) {
    pb::Message m;
    m.ParseFromString(take_raw(p));
    return m;
  }
  bool idle(Peer& p) { return inbox[&p].empty(); }
  uint16_t code(Peer& p) { return closed.count(&p) ? closed[&p] : 0; }

  std::string pending;
  std::map<Peer*, std::deque<std::string>> inbox;
  std::map<Peer*, uint16_t> closed;
  std::set<Peer*> full;  // its next writes fail, as for a peer over its outbound bound
};

class Gen2RouterTest : public ::testing::Test {
 protected:
  Peer& open(const std::string& key = "room", const std::string& query = "") {
    Peer& p = peers.emplace_back();
    router.read_query(p, query);
    router.open(p, key);
    return p;
  }
  void send(Peer& from, const std::string& message) {
    router.message(from, true, message.data(), message.size());
  }
  void send(Peer& from, const pb::Message& m) { send(from, m.SerializeAsString()); }
  void connect(Peer& p, uint32_t id, std::initializer_list<uint32_t> members = {}) {
    pb::Message m;
    m.mutable_connect()->set_id(id);
    for (uint32_t member : members) m.mutable_connect()->add_members(member);
    send(p, m);
  }
  // What netflux sends: every field set, lastData false unless told.
  void content(Peer& from, uint32_t sender, uint32_t recipient, const std::string& data,
               bool last_data = false) {
    send(from, bytes({0x12}) +
                   varint(5 + varint(sender).size() + varint(recipient).size() +
                          varint(data.size()).size() + data.size()) +
                   bytes({0x08}) + varint(sender) + bytes({0x10}) + varint(recipient) +
                   bytes({0x18, last_data ? 1 : 0, 0x22}) + varint(data.size()) + data);
  }
  void heartbeat(Peer& from, bool value = true) {
    pb::Message m;
    m.set_heartbeat(value);
    send(from, m);
  }
  void expect_connected(Peer& p, bool value) {
    EXPECT_EQ(out.take_raw(p), bytes({0x20, value ? 1 : 0}));
  }
  // A peer that opened and connected as the group's first member.
  Peer& first_member(uint32_t id, const std::string& key = "room", const std::string& query = "") {
    Peer& p = open(key, query);
    connect(p, id);
    expect_connected(p, true);
    return p;
  }
  // A peer that opened and connected with no members: bound to a member.
  Peer& joiner(uint32_t id, const std::string& key = "room") {
    Peer& p = open(key);
    connect(p, id);
    expect_connected(p, false);
    return p;
  }
  // A joiner that then reached `known` over WebRTC: a member by rule 3.
  Peer& second_member(uint32_t id, uint32_t known, const std::string& key = "room") {
    Peer& p = joiner(id, key);
    connect(p, id, {known});
    expect_connected(p, true);
    return p;
  }
  // J -> M: the content M receives, checked, and the binding id it carries.
  uint32_t up(Peer& j, Peer& m, const std::string& data = "request") {
    content(j, j.netflux_id, 0, data);
    pb::Message got = out.take(m);
    EXPECT_EQ(got.type_case(), pb::Message::kContent);
    EXPECT_EQ(got.content().recipientid(), 0u);
    EXPECT_EQ(got.content().data(), data);
    EXPECT_NE(got.content().senderid(), 0u);
    EXPECT_EQ(got.content().senderid(), j.id);
    return got.content().senderid();
  }
  // M -> J by binding id s: checks what J receives.
  void down(Peer& m, Peer& j, uint32_t s, const std::string& data = "response") {
    content(m, 0, s, data);
    pb::Message got = out.take(j);
    EXPECT_EQ(got.type_case(), pb::Message::kContent);
    EXPECT_EQ(got.content().senderid(), 0u);
    EXPECT_EQ(got.content().recipientid(), s);
    EXPECT_EQ(got.content().data(), data);
  }
  void expect_end_notice(Peer& to, uint32_t sender, uint32_t recipient) {
    EXPECT_EQ(out.take_raw(to),
              bytes({0x12, static_cast<int>(2 + varint(sender).size() + varint(recipient).size()),
                     0x08}) +
                  varint(sender) + bytes({0x10}) + varint(recipient));
  }
  const Group& group(const std::string& key = "room") {
    const Group* g = router.find_group(key);
    EXPECT_NE(g, nullptr);
    static const Group kNone;
    return g ? *g : kNone;
  }
  std::vector<Peer*> members(const std::string& key = "room") { return group(key).members; }
  void all_idle() {
    for (Peer& p : peers) EXPECT_TRUE(out.idle(p)) << "peer " << p.netflux_id << " has mail";
  }

  FakeOutput out;
  Router router{out, 42};
  std::deque<Peer> peers;
};

// ---- Wire ----

TEST_F(Gen2RouterTest, OpenWaitsForConnectInTheKeysListButInNoGroup) {
  Peer& p = open();
  EXPECT_EQ(p.generation, 2);
  EXPECT_EQ(p.group, router.find_group("room"));
  EXPECT_EQ(group().peers, std::vector<Peer*>{&p});
  EXPECT_TRUE(members().empty());
  EXPECT_FALSE(p.is_member);
  EXPECT_EQ(p.member, nullptr);
  EXPECT_TRUE(out.idle(p)) << "the client speaks first";
  EXPECT_EQ(router.counters().peers, 1u);
  EXPECT_EQ(router.counters().groups, 1u);
}

TEST_F(Gen2RouterTest, OpenForgetsAnEarlierGenerationsRouting) {
  // A late generation-2 peer: generation 1 made it leave, leaving values of its own behind.
  Peer& p = peers.emplace_back();
  p.generation = 1;
  p.serial = 99;
  p.tried.add(99);
  p.netflux_id = 5;
  router.open(p, "room");
  EXPECT_EQ(p.generation, 2);
  EXPECT_EQ(p.tried.size(), 0u);
  EXPECT_EQ(p.netflux_id, 0u);
  EXPECT_FALSE(p.is_member || p.up_open || p.down_open);
  connect(p, 0xA);
  expect_connected(p, true);
}

TEST_F(Gen2RouterTest, InvalidKeyIsClosedWith4741AndJoinsNothing) {
  Peer& empty = open("");
  EXPECT_EQ(out.code(empty), close_code::kBadKey);
  EXPECT_EQ(empty.group, nullptr);
  Peer& long_key = open(std::string(513, 'k'));
  EXPECT_EQ(out.code(long_key), 4741);
  Peer& longest = open(std::string(512, 'k'));
  EXPECT_EQ(out.code(longest), 0);
  EXPECT_NE(longest.group, nullptr);
  ProtocolSettings settings;
  settings.max_key_length = 4;
  router.configure(settings);
  EXPECT_EQ(out.code(open("abcde")), 4741);
  EXPECT_EQ(out.code(open("a/cd")), 0) << "a key may hold '/'";
  EXPECT_EQ(router.counters().peers, 2u);
}

TEST_F(Gen2RouterTest, FavoredComesFromAQueryParameterNamedFavored) {
  const struct {
    const char* query;
    bool favored;
  } cases[] = {
      {"favored", true},      {"favored=x", true},  {"a=1&favored", true}, {"favored&b=2", true},
      {"favored=", true},     {"&favored", true},   {"", false},           {"unfavored", false},
      {"favoredx", false},    {"x=favored", false}, {"a=1&b", false},      {"favored2=1", false},
      {"a&&favored=0", true}, {"Favored", false}};
  for (const auto& c : cases) {
    Peer p;
    router.read_query(p, c.query);
    EXPECT_EQ(p.favored, c.favored) << c.query;
  }
  Peer was;
  was.favored = true;
  router.read_query(was, "other");
  EXPECT_FALSE(was.favored);
}

TEST_F(Gen2RouterTest, ClaimsFirstMessagesStartingWithItsBytes) {
  for (int first : {0x08, 0x12, 0x1A}) {
    const std::string m = bytes({first, 0x00});
    EXPECT_TRUE(router.claims_first(true, m.data(), m.size())) << first;
    EXPECT_FALSE(router.claims_first(false, m.data(), m.size())) << "text " << first;
  }
  for (int first : {0x0A, 0x10, 0x18, 0x20, 0x28, 0x00, 0xFF}) {
    const std::string m = bytes({first, 0x01});
    EXPECT_FALSE(router.claims_first(true, m.data(), m.size())) << first;
  }
  EXPECT_FALSE(router.claims_first(true, "", 0));
}

TEST_F(Gen2RouterTest, RejectsFirstWhatItWouldClose) {
  const struct {
    bool binary;
    std::string message;
    bool rejected;
  } cases[] = {{true, bytes({0x1A, 0x00}), false},
               {true, bytes({0x08, 0x01}), false},
               {true, bytes({0x12, 0x00}), false},
               {false, bytes({0x1A, 0x00}), true},
               {true, "", true},
               {true, bytes({0x12, 0x05}), true},
               {true, bytes({0x28, 0x01}), true},
               {true, bytes({0x20, 0x01}), true}};
  for (const auto& c : cases) {
    EXPECT_EQ(router.rejects_first(c.binary, c.message.data(), c.message.size()), c.rejected);
  }
}

// ---- Joining ----

TEST_F(Gen2RouterTest, Rule1FirstConnectMakesTheOnlyMember) {
  Peer& a = open();
  connect(a, 0xA);
  EXPECT_EQ(out.take_raw(a), bytes({0x20, 0x01}));
  EXPECT_TRUE(a.is_member);
  EXPECT_EQ(a.netflux_id, 0xAu);
  EXPECT_EQ(members(), std::vector<Peer*>{&a});
  EXPECT_EQ(a.member, nullptr);
}

TEST_F(Gen2RouterTest, Rule1AGroupWhoseMembersAllLeftStartsAgain) {
  Peer& m = first_member(0xA);
  Peer& waiting = open();
  Peer& j = joiner(0xB);
  const uint32_t s = j.id;
  router.leave(m);
  expect_end_notice(j, 0, s);  // j's binding ended with a notice
  EXPECT_EQ(j.member, nullptr);
  connect(waiting, 0xC);
  expect_connected(waiting, true);
  EXPECT_EQ(members(), std::vector<Peer*>{&waiting});
}

TEST_F(Gen2RouterTest, Rule2ALoneMemberStaysAndItsIdIsUpdated) {
  Peer& a = first_member(0xA);
  connect(a, 0xA);  // netflux: its mesh of one is built
  expect_connected(a, true);
  connect(a, 0xAA, {0x77});  // nothing overlaps, but it is the only member
  expect_connected(a, true);
  EXPECT_EQ(a.netflux_id, 0xAAu) << "known by the id of its latest connect";
  EXPECT_EQ(members(), std::vector<Peer*>{&a});
}

TEST_F(Gen2RouterTest, Rule2AMemberThatOverlapsAnyMemberStays) {
  Peer& a = first_member(0xA);
  Peer& b = second_member(0xB, 0xA);
  Peer& c = joiner(0xC);
  connect(c, 0xC, {0xB});  // overlaps b, not a (the member it is bound to)
  expect_connected(c, true);
  connect(a, 0xA, {0xC, 0x999});  // overlaps c only
  expect_connected(a, true);
  EXPECT_EQ(members(), (std::vector<Peer*>{&a, &b, &c}));
}

TEST_F(Gen2RouterTest, Rule2AMemberThatLostTheGroupIsBoundLikeAJoiner) {
  Peer& a = first_member(0xA);
  Peer& b = second_member(0xB, 0xA);
  // k joins through b, then b loses the group: no overlap with a.
  Peer& k = open();
  connect(k, 0xC);
  expect_connected(k, false);
  ASSERT_EQ(k.member, &a);
  connect(k, 0xC);  // tried a: now bound to b
  expect_connected(k, false);
  ASSERT_EQ(k.member, &b);
  const uint32_t k_id = up(k, b);
  connect(b, 0xB, {0x999});
  expect_connected(b, false);
  EXPECT_FALSE(b.is_member);
  EXPECT_EQ(members(), std::vector<Peer*>{&a});
  EXPECT_EQ(b.member, &a);
  EXPECT_NE(b.id, 0u);
  // Its joiner's binding ended with an end notice, as if b had left.
  expect_end_notice(k, 0, k_id);
  EXPECT_EQ(k.member, nullptr);
  EXPECT_EQ(router.find_by_id(k_id), nullptr);
  all_idle();
}

TEST_F(Gen2RouterTest, OverlapIgnoresTheSendersOwnIdAndUnknownIds) {
  Peer& a = first_member(0xA);
  Peer& b = second_member(0xB, 0xA);
  connect(b, 0xB, {0xB, 0x5});  // its own id says nothing about its links to the group
  expect_connected(b, false);
  EXPECT_FALSE(b.is_member);
  EXPECT_EQ(b.member, &a);
}

TEST_F(Gen2RouterTest, Rule3AJoinerWhoseMembersOverlapBecomesAMemberAndKeepsItsBinding) {
  Peer& a = first_member(0xA);
  Peer& j = joiner(0xB);
  const uint32_t s = up(j, a);
  connect(j, 0xB, {0xA});
  expect_connected(j, true);
  EXPECT_TRUE(j.is_member);
  EXPECT_EQ(members(), (std::vector<Peer*>{&a, &j})) << "last in order";
  // The binding stays open both ways: netflux still relays ICE candidates on it.
  EXPECT_EQ(j.member, &a);
  EXPECT_EQ(j.id, s);
  EXPECT_EQ(up(j, a, "candidate"), s);
  down(a, j, s, "candidate");
}

TEST_F(Gen2RouterTest, Rule3OverlapWithAnyMemberNotOnlyItsOwn) {
  Peer& a = first_member(0xA);
  Peer& b = second_member(0xB, 0xA);
  Peer& c = joiner(0xC);
  ASSERT_EQ(c.member, &a);
  connect(c, 0xC, {0xB});
  expect_connected(c, true);
  EXPECT_EQ(members(), (std::vector<Peer*>{&a, &b, &c}));
}

TEST_F(Gen2RouterTest, AnEmptyOrForeignListNeverOverlaps) {
  Peer& a = first_member(0xA);
  Peer& j = open();
  connect(j, 0xB, {0x1, 0x2});
  expect_connected(j, false);
  EXPECT_FALSE(j.is_member);
  EXPECT_EQ(j.member, &a);
}

TEST_F(Gen2RouterTest, Rule4TheLoneMemberItTriedIsReplacedAndClosedWith4744) {
  Peer& m = first_member(0xA);
  Peer& j = joiner(0xB);
  Peer& k = joiner(0xC);
  const uint32_t j_id = j.id, k_id = k.id;
  up(j, m);
  connect(j, 0xB);  // netflux's tryAnother: no answer through m
  expect_connected(j, true);
  // m leaves as any member does: every binding to it ends with a notice, j's too.
  expect_end_notice(j, 0, j_id);
  expect_end_notice(k, 0, k_id);
  EXPECT_EQ(out.code(m), close_code::kBlockingMember);
  EXPECT_EQ(m.group, nullptr);
  EXPECT_TRUE(j.is_member);
  EXPECT_EQ(j.member, nullptr);
  EXPECT_EQ(members(), std::vector<Peer*>{&j});
  EXPECT_EQ(router.binding_count(), 0u);
  // k joins through the new member.
  connect(k, 0xC);
  expect_connected(k, false);
  EXPECT_EQ(k.member, &j);
  all_idle();
}

TEST_F(Gen2RouterTest, Rule4TriedIsByIdValue) {
  Peer& m = first_member(0xA);
  Peer& j = joiner(0xB);
  connect(m, 0xAB);  // the lone member re-sends with another id: j has not tried that one
  expect_connected(m, true);
  const uint32_t old_id = j.id;
  connect(j, 0xB);
  expect_connected(j, false);
  EXPECT_EQ(j.member, &m);
  EXPECT_NE(j.id, old_id);
  EXPECT_EQ(out.code(m), 0);
  connect(j, 0xB);  // tried 0xAB now: rule 4
  expect_connected(j, true);
  EXPECT_EQ(out.code(m), 4744);
}

TEST_F(Gen2RouterTest, Rule5BindsToTheOldestUntriedWithAFreshIdEachTime) {
  Peer& a = first_member(0xA);
  Peer& b = second_member(0xB, 0xA);
  Peer& c = second_member(0xC, 0xA);
  Peer& j = joiner(0xD);
  EXPECT_EQ(j.member, &a);
  std::set<uint32_t> ids{j.id};
  connect(j, 0xD);
  expect_connected(j, false);
  EXPECT_EQ(j.member, &b);
  ids.insert(j.id);
  connect(j, 0xD);
  expect_connected(j, false);
  EXPECT_EQ(j.member, &c);
  ids.insert(j.id);
  // All tried: it forgets them and starts again at the oldest.
  connect(j, 0xD);
  expect_connected(j, false);
  EXPECT_EQ(j.member, &a);
  EXPECT_EQ(j.tried.size(), 1u);
  ids.insert(j.id);
  EXPECT_EQ(ids.size(), 4u) << "a fresh id for every binding";
  // Its previous bindings ended silently: nothing went to a, b or c.
  all_idle();
}

TEST_F(Gen2RouterTest, Rule5FavoredMembersComeFirst) {
  Peer& a = first_member(0xA);
  Peer& b = open("room", "favored");
  connect(b, 0xB);
  expect_connected(b, false);
  connect(b, 0xB, {0xA});
  expect_connected(b, true);
  Peer& c = open("room", "x=1&favored=yes");
  connect(c, 0xC);
  expect_connected(c, false);
  EXPECT_EQ(c.member, &b) << "the first favored member";
  connect(c, 0xC, {0xA});
  expect_connected(c, true);
  Peer& j = joiner(0xD);
  EXPECT_EQ(j.member, &b);
  connect(j, 0xD);
  expect_connected(j, false);
  EXPECT_EQ(j.member, &c) << "the next favored one not tried";
  connect(j, 0xD);
  expect_connected(j, false);
  EXPECT_EQ(j.member, &a) << "then the oldest not tried";
  connect(j, 0xD);
  expect_connected(j, false);
  EXPECT_EQ(j.member, &b) << "all tried: favored first again";
}

TEST_F(Gen2RouterTest, APeerForgetsWhatItTriedWhenItBecomesAMember) {
  Peer& a = first_member(0xA);
  Peer& j = joiner(0xB);
  EXPECT_EQ(j.tried.size(), 1u);
  connect(j, 0xB, {0xA});
  expect_connected(j, true);
  EXPECT_EQ(j.tried.size(), 0u);
  (void)a;
}

TEST_F(Gen2RouterTest, ANetfluxIdOfZeroIsAMemberIdLikeAnyOther) {
  Peer& zero = first_member(0);
  Peer& j = joiner(0xB);
  EXPECT_EQ(j.member, &zero);
  connect(j, 0xB);  // tried id 0: the lone member blocks
  expect_connected(j, true);
  EXPECT_EQ(out.code(zero), 4744);
  Peer& k = joiner(0);
  connect(k, 0, {0xB});
  expect_connected(k, true);
}

// ---- Relay ----

TEST_F(Gen2RouterTest, JoinerToMemberCarriesTheBindingIdAsSenderId) {
  Peer& m = first_member(0xA);
  Peer& j = joiner(0xB);
  content(j, 0x12345, 0x777, "request", false);  // its senderId and recipientId are ignored
  const std::string got = out.take_raw(m);
  EXPECT_EQ(got, bytes({0x12}) + varint(5 + varint(j.id).size() + 7) + bytes({0x08}) +
                     varint(j.id) + bytes({0x10, 0x00, 0x22, 0x07}) + "request");
  EXPECT_TRUE(out.idle(j));
}

TEST_F(Gen2RouterTest, MemberToJoinerByRecipientId) {
  Peer& m = first_member(0xA);
  Peer& j1 = joiner(0xB);
  Peer& j2 = joiner(0xC);
  const uint32_t s1 = up(j1, m), s2 = up(j2, m);
  EXPECT_NE(s1, s2);
  content(m, 0x999, s2, "to j2");  // its senderId is ignored
  EXPECT_EQ(out.take_raw(j2), bytes({0x12}) + varint(10 + varint(s2).size()) +
                                  bytes({0x08, 0x00, 0x10}) + varint(s2) + bytes({0x22, 0x05}) +
                                  "to j2");
  EXPECT_TRUE(out.idle(j1));
  down(m, j1, s1);
}

TEST_F(Gen2RouterTest, BindingIdsAreNonZeroAtMost2To31AndUnique) {
  Peer& m = first_member(0xA);
  std::set<uint32_t> ids;
  for (uint32_t i = 0; i < 200; ++i) {
    Peer& j = joiner(0x100 + i);
    EXPECT_GE(j.id, 1u);
    EXPECT_LE(j.id, 0x80000000u);
    ids.insert(j.id);
    EXPECT_EQ(router.find_by_id(j.id), &j);
  }
  EXPECT_EQ(ids.size(), 200u);
  EXPECT_EQ(router.binding_count(), 200u);
  (void)m;
}

TEST_F(Gen2RouterTest, RelayedContentWithoutDataGetsEmptyDataAndNoUnknownFields) {
  Peer& m = first_member(0xA);
  Peer& j = joiner(0xB);
  send(j, bytes({0x12, 0x08, 0x38, 0x05, 0x4B, 0x08, 0x01, 0x4C, 0x18, 0x00}));
  const std::string expected = bytes({0x12}) + varint(5 + varint(j.id).size()) + bytes({0x08}) +
                               varint(j.id) + bytes({0x10, 0x00, 0x22, 0x00});
  EXPECT_EQ(out.take_raw(m), expected);
}

TEST_F(Gen2RouterTest, EndNoticesWhenABoundPeerLeaves) {
  Peer& m = first_member(0xA);
  Peer& j = joiner(0xB);
  Peer& k = joiner(0xC);
  const uint32_t s = up(j, m), t = up(k, m);
  router.leave(j);  // J leaves -> M < content{senderId: S, recipientId: 0}
  expect_end_notice(m, s, 0);
  EXPECT_TRUE(m.is_member) << "the other side stays connected";
  router.leave(m);  // M leaves -> K < content{senderId: 0, recipientId: T}
  expect_end_notice(k, 0, t);
  EXPECT_NE(k.group, nullptr);
  EXPECT_EQ(k.member, nullptr);
  connect(k, 0xC);  // it re-sends connect when it wants
  expect_connected(k, true);
  all_idle();
}

TEST_F(Gen2RouterTest, LastDataIsForwardedWithoutTheFlagThenClosesThatDirection) {
  Peer& m = first_member(0xA);
  Peer& j = joiner(0xB);
  const uint32_t s = j.id;
  content(j, 0, 0, "last up", true);
  EXPECT_EQ(out.take_raw(m), bytes({0x12}) + varint(5 + varint(s).size() + 7) + bytes({0x08}) +
                                 varint(s) + bytes({0x10, 0x00, 0x22, 0x07}) + "last up");
  content(j, 0, 0, "dropped");
  EXPECT_TRUE(out.idle(m));
  down(m, j, s, "still open down");
  content(m, 0, s, "last down", true);
  pb::Message got = out.take(j);
  EXPECT_EQ(got.content().data(), "last down");
  EXPECT_FALSE(got.content().lastdata());
  content(m, 0, s, "dropped");
  EXPECT_TRUE(out.idle(j));
  // No end notice goes down a closed direction, either way.
  router.leave(j);
  EXPECT_TRUE(out.idle(m));
}

TEST_F(Gen2RouterTest, NoEndNoticeDownAClosedDirectionWhenTheMemberLeaves) {
  Peer& m = first_member(0xA);
  Peer& j = joiner(0xB);
  content(m, 0, j.id, "bye", true);
  out.take(j);
  router.leave(m);
  EXPECT_TRUE(out.idle(j));
  EXPECT_EQ(j.member, nullptr);
}

TEST_F(Gen2RouterTest, SilentDrops) {
  Peer& m = first_member(0xA);
  Peer& waiting = open();
  content(waiting, 0, 0, "before its first connect");
  content(m, 0, 0, "a first member has no binding");
  content(m, 0, 12345, "an unknown recipient");
  Peer& other = first_member(0xE, "other");
  Peer& j = joiner(0xB);
  Peer& oj = joiner(0xF, "other");
  content(m, 0, oj.id, "another member's joiner");
  content(other, 0, j.id, "another member's joiner");
  all_idle();
  EXPECT_EQ(out.code(m), 0);
  EXPECT_EQ(router.counters().messages_relayed, 0u);
}

TEST_F(Gen2RouterTest, AMemberWithJoinersAndItsOwnBindingRoutesById) {
  Peer& a = first_member(0xA);
  Peer& b = joiner(0xB);
  const uint32_t b_id = up(b, a);
  connect(b, 0xB, {0xA});
  expect_connected(b, true);
  Peer& k = open();
  connect(k, 0xC);
  expect_connected(k, false);
  connect(k, 0xC);  // tried a: bound to b
  expect_connected(k, false);
  ASSERT_EQ(k.member, &b);
  const uint32_t k_id = up(k, b);
  // b is a member (k bound to it) and a joiner (its binding to a is open).
  down(b, k, k_id, "to k");
  EXPECT_TRUE(out.idle(a)) << "no copy to b's own member (sigver's leak)";
  content(b, 0, 0, "to a");
  EXPECT_EQ(out.take(a).content().senderid(), b_id);
  content(b, 0, 0x4242, "unknown: to a too");
  EXPECT_EQ(out.take(a).content().data(), "unknown: to a too");
  // Its own member's direction closed: anything but its joiners' ids is dropped.
  content(b, 0, 0, "last to a", true);
  out.take(a);
  content(b, 0, 0, "dropped");
  EXPECT_TRUE(out.idle(a));
  down(b, k, k_id, "k still");
  all_idle();
}

TEST_F(Gen2RouterTest, CountersCountRelayedContents) {
  Peer& m = first_member(0xA);
  Peer& j = joiner(0xB);
  up(j, m, "12345");
  const GenerationCounters c = router.counters();
  EXPECT_EQ(c.messages_relayed, 1u);
  EXPECT_EQ(c.bytes_relayed, content_size(j.id, 0, 5));
  EXPECT_EQ(c.groups, 1u);
  EXPECT_EQ(c.peers, 2u);
}

TEST_F(Gen2RouterTest, ACongestedRecipientGetsNothingAndNothingBreaks) {
  Peer& m = first_member(0xA);
  Peer& j = joiner(0xB);
  out.full.insert(&m);
  content(j, 0, 0, "lost");
  EXPECT_EQ(router.counters().messages_relayed, 0u);
  out.full.clear();
  up(j, m);
}

// ---- Heartbeat ----

TEST_F(Gen2RouterTest, ASilentPeerGetsTwoHeartbeatsThenIsClosedWith4742) {
  Peer& p = open();  // before its first connect: heartbeats are all it may get
  router.tick(p);
  EXPECT_EQ(out.take_raw(p), bytes({0x08, 0x01}));
  router.tick(p);
  EXPECT_EQ(out.take_raw(p), bytes({0x08, 0x01}));
  router.tick(p);
  EXPECT_TRUE(out.idle(p));
  EXPECT_EQ(out.code(p), close_code::kHeartbeat);
  EXPECT_EQ(p.group, nullptr);
  EXPECT_EQ(router.counters().heartbeat_timeouts, 1u);
  EXPECT_EQ(router.find_group("room"), nullptr);
}

TEST_F(Gen2RouterTest, AnyHeartbeatFromThePeerResetsItsCounterAndIsNotAnswered) {
  Peer& m = first_member(0xA);
  for (bool value : {true, false, true}) {
    router.tick(m);
    router.tick(m);
    EXPECT_EQ(m.missed_heartbeats, 2);
    heartbeat(m, value);
    EXPECT_EQ(m.missed_heartbeats, 0);
    out.take(m);
    out.take(m);
    EXPECT_TRUE(out.idle(m)) << "not answered";
  }
  EXPECT_EQ(out.code(m), 0);
  Peer& waiting = open();
  heartbeat(waiting);  // a heartbeat first joins nothing
  EXPECT_FALSE(waiting.is_member);
  EXPECT_TRUE(out.idle(waiting));
}

TEST_F(Gen2RouterTest, OtherMessagesDoNotCountAsHeartbeats) {
  Peer& m = first_member(0xA);
  router.tick(m);
  router.tick(m);
  connect(m, 0xA);
  out.take(m);
  out.take(m);
  out.take(m);
  router.tick(m);
  EXPECT_EQ(out.code(m), 4742);
}

TEST_F(Gen2RouterTest, HeartbeatMissesAreConfigurableAndAClosedMemberLeaves) {
  ProtocolSettings settings;
  settings.heartbeat_misses = 1;
  router.configure(settings);
  Peer& m = first_member(0xA);
  Peer& j = joiner(0xB);
  const uint32_t s = j.id;
  router.tick(m);
  EXPECT_EQ(out.code(m), 4742);
  expect_end_notice(j, 0, s);
}

// ---- Errors ----

TEST_F(Gen2RouterTest, MessagesThatClose4743) {
  const struct {
    const char* what;
    bool binary;
    std::string message;
  } cases[] = {
      {"text", false, bytes({0x08, 0x01})},
      {"invalid protobuf", true, bytes({0x12, 0x05, 0x01})},
      {"empty", true, ""},
      {"only unknown fields", true, bytes({0x28, 0x01, 0x32, 0x00})},
      {"connected from a peer", true, bytes({0x20, 0x01})},
      {"connected=false", true, bytes({0x20, 0x00})},
  };
  for (const auto& c : cases) {
    Peer& m = first_member(0xA, c.what);
    Peer& j = joiner(0xB, c.what);
    const uint32_t s = j.id;
    router.message(j, c.binary, c.message.data(), c.message.size());
    EXPECT_EQ(out.code(j), close_code::kBadMessage) << c.what;
    EXPECT_EQ(j.group, nullptr) << c.what;
    expect_end_notice(m, s, 0);  // it left as any peer does
  }
  all_idle();
}

TEST_F(Gen2RouterTest, UnknownFieldsNextToAKnownTypeAreIgnored) {
  Peer& p = open();
  send(p, bytes({0x28, 0x01, 0x1A, 0x02, 0x08, 0x0A, 0x32, 0x00}));  // connect{id: 10}
  expect_connected(p, true);
  EXPECT_EQ(p.netflux_id, 10u);
  EXPECT_EQ(out.code(p), 0);
}

TEST_F(Gen2RouterTest, FullKeyIsClosedWith1013AtOpenAndJoinsNothing) {
  ProtocolSettings settings;
  settings.max_peers_per_key = 2;
  router.configure(settings);
  Peer& m = first_member(0xA);
  Peer& waiting = open();  // waiting for its first connect counts: it holds a place
  Peer& third = open();
  EXPECT_EQ(out.code(third), close_code::kTryAgainLater);
  EXPECT_EQ(third.group, nullptr);
  EXPECT_EQ(group().peers.size(), 2u);
  router.leave(third);  // the worker closes it like any peer: nothing to undo
  connect(third, 0xC);
  EXPECT_TRUE(out.idle(third));
  EXPECT_EQ(out.code(open("other")), 0) << "another key is not affected";
  router.leave(waiting);
  Peer& fourth = open();
  EXPECT_EQ(out.code(fourth), 0);
  (void)m;
}

TEST_F(Gen2RouterTest, LeaveIsIdempotentAndRemovesTheLastPeersGroup) {
  Peer& m = first_member(0xA);
  Peer& j = joiner(0xB);
  router.leave(j);
  out.take(m);
  router.leave(j);
  EXPECT_TRUE(out.idle(m));
  router.leave(m);
  EXPECT_EQ(router.find_group("room"), nullptr);
  EXPECT_EQ(router.counters().groups, 0u);
  EXPECT_EQ(router.counters().peers, 0u);
  Peer& never = open();
  router.leave(never);
  router.leave(never);
  EXPECT_EQ(router.find_group("room"), nullptr);
  all_idle();
}

TEST_F(Gen2RouterTest, KeysAreSeparateGroups) {
  Peer& a = first_member(0xA, "one");
  Peer& b = first_member(0xA, "two");
  EXPECT_EQ(router.counters().groups, 2u);
  auto keys = router.keys();
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"one", "two"}));
  router.leave(a);
  EXPECT_EQ(router.find_group("one"), nullptr);
  EXPECT_TRUE(b.is_member);
}

// ---- protocol-v2.md, "What netflux 4.3.1 does on the wire", byte for byte ----

TEST_F(Gen2RouterTest, NetfluxWireExchangeReplayedByteForByte) {
  const uint32_t A = 0x9ABCDEF0u, B = 0x3456789Au, C = 0x21436587u;
  const std::string request(14, 'q'), response(14, 'r');
  // M > connect{id: A}  1a 06 08 <A>   M < 20 01, twice
  Peer& m = open();
  send(m, bytes({0x1A, 0x06, 0x08}) + varint(A));
  EXPECT_EQ(out.take_raw(m), bytes({0x20, 0x01}));
  send(m, bytes({0x1A, 0x06, 0x08}) + varint(A));
  EXPECT_EQ(out.take_raw(m), bytes({0x20, 0x01}));
  // J > connect{id: B}  1a 06 08 <B>   J < 20 00
  Peer& j = open();
  send(j, bytes({0x1A, 0x06, 0x08}) + varint(B));
  EXPECT_EQ(out.take_raw(j), bytes({0x20, 0x00}));
  const uint32_t S = j.id;
  // J > 12 1a 08 <B> 10 00 18 00 22 0e ..   M < 12 <n> 08 <S> 10 00 22 0e ..
  send(j, bytes({0x12, 0x1A, 0x08}) + varint(B) + bytes({0x10, 0x00, 0x18, 0x00, 0x22, 0x0E}) +
              request);
  const std::string to_m = bytes({0x08}) + varint(S) + bytes({0x10, 0x00, 0x22, 0x0E}) + request;
  EXPECT_EQ(out.take_raw(m), bytes({0x12, static_cast<int>(to_m.size())}) + to_m);
  if (S >= (1u << 28)) {
    EXPECT_EQ(to_m.size(), 0x18u);  // the observed 12 18
  }
  // M > content{senderId: 0, recipientId: S, lastData: false, data}
  // J < 12 <n> 08 00 10 <S> 22 0e ..
  send(m, bytes({0x12, static_cast<int>(7 + varint(S).size() + 14), 0x08, 0x00, 0x10}) + varint(S) +
              bytes({0x18, 0x00, 0x22, 0x0E}) + response);
  const std::string to_j = bytes({0x08, 0x00, 0x10}) + varint(S) + bytes({0x22, 0x0E}) + response;
  EXPECT_EQ(out.take_raw(j), bytes({0x12, static_cast<int>(to_j.size())}) + to_j);
  // ... ICE candidates both ways, the same way ...
  for (int i = 0; i < 3; ++i) {
    send(j, bytes({0x12, 0x1A, 0x08}) + varint(B) + bytes({0x10, 0x00, 0x18, 0x00, 0x22, 0x0E}) +
                request);
    EXPECT_EQ(out.take_raw(m), bytes({0x12, static_cast<int>(to_m.size())}) + to_m);
  }
  // J > connect{id: B, members: [A]}  1a 0d 08 <B> 12 05 <A>   J < 20 01
  send(j, bytes({0x1A, 0x0D, 0x08}) + varint(B) + bytes({0x12, 0x05}) + varint(A));
  EXPECT_EQ(out.take_raw(j), bytes({0x20, 0x01}));
  // A third peer: bound to the oldest member, later connect{members: [A, B]}.
  Peer& k = open();
  send(k, bytes({0x1A, 0x06, 0x08}) + varint(C));
  EXPECT_EQ(out.take_raw(k), bytes({0x20, 0x00}));
  EXPECT_EQ(k.member, &m);
  const uint32_t T = k.id;
  EXPECT_NE(T, S);
  send(k, bytes({0x12, 0x1A, 0x08}) + varint(C) + bytes({0x10, 0x00, 0x18, 0x00, 0x22, 0x0E}) +
              request);
  EXPECT_EQ(out.take(m).content().senderid(), T);
  send(k, bytes({0x1A, 0x12, 0x08}) + varint(C) + bytes({0x12, 0x0A}) + varint(A) + varint(B));
  EXPECT_EQ(out.take_raw(k), bytes({0x20, 0x01}));
  EXPECT_EQ(members(), (std::vector<Peer*>{&m, &j, &k}));
  // M leaves (close 1000): J < 12 08 08 00 10 <S> (and K, still bound, its own notice).
  router.leave(m);
  EXPECT_EQ(out.take_raw(j), bytes({0x12, 0x08, 0x08, 0x00, 0x10}) + varint(S));
  EXPECT_EQ(out.take_raw(k), bytes({0x12, 0x08, 0x08, 0x00, 0x10}) + varint(T));
  // J > connect{id: B, members: [others]}   J < 20 01
  send(j, bytes({0x1A, 0x0D, 0x08}) + varint(B) + bytes({0x12, 0x05}) + varint(C));
  EXPECT_EQ(out.take_raw(j), bytes({0x20, 0x01}));
  // Both sides, every 5 s, independently: heartbeat 08 01.
  send(j, bytes({0x08, 0x01}));
  router.tick(j);
  EXPECT_EQ(out.take_raw(j), bytes({0x08, 0x01}));
  all_idle();
  EXPECT_EQ(out.closed.size(), 0u);
}

TEST_F(Gen2RouterTest, NetfluxTwoPeersOneLeavesTheOtherStaysAlone) {
  Peer& m = first_member(0xA);
  Peer& j = joiner(0xB);
  const uint32_t s = up(j, m);
  down(m, j, s);
  connect(j, 0xB, {0xA});
  expect_connected(j, true);
  router.leave(m);
  expect_end_notice(j, 0, s);
  connect(j, 0xB);  // members: [] — it is the only member now
  expect_connected(j, true);
  EXPECT_EQ(members(), std::vector<Peer*>{&j});
  all_idle();
}

// ---- moving groups ----

class Gen2MoveTest : public Gen2RouterTest {
 protected:
  FakeOutput out2;
  Router other{out2, 7};
};

TEST_F(Gen2MoveTest, ExportedGroupImportsWholeIntoAnotherRouter) {
  Peer& m = first_member(0xA, "moving", "favored");
  Peer& j = joiner(0xB, "moving");
  const uint32_t j_id = up(j, m);
  connect(j, 0xB, {0xA});
  expect_connected(j, true);
  Peer& k = joiner(0xC, "moving");  // bound to m, tried it
  const uint32_t k_id = up(k, m);
  Peer& waiting = open("moving");
  router.tick(waiting);
  out.take(waiting);

  std::vector<ExportedPeer> exported(1);  // an entry of another generation's export first
  exported[0].generation = 1;
  router.export_group("moving", exported);
  ASSERT_EQ(exported.size(), 5u);
  EXPECT_EQ(router.find_group("moving"), nullptr);
  EXPECT_EQ(router.binding_count(), 0u);
  EXPECT_EQ(router.counters().peers, 0u);
  for (Peer* p : {&m, &j, &k, &waiting}) {
    EXPECT_EQ(p->group, nullptr);
    EXPECT_EQ(p->member, nullptr);
    EXPECT_FALSE(p->is_member);
  }
  const ExportedPeer& em = exported[1];
  EXPECT_EQ(em.generation, 2);
  EXPECT_EQ(em.member_position, 0);
  EXPECT_TRUE(em.favored);
  EXPECT_EQ(em.netflux_id, 0xAu);
  EXPECT_EQ(exported[2].member_position, 1);
  EXPECT_EQ(exported[2].bound_to, 1) << "indices count the entries already in the list";
  EXPECT_EQ(exported[2].id, j_id);
  EXPECT_EQ(exported[3].bound_to, 1);
  EXPECT_EQ(exported[3].tried_values, std::vector<uint32_t>{0xA}) << "tried as member ids";
  EXPECT_TRUE(exported[3].tried.empty());
  EXPECT_EQ(exported[4].member_position, -1);
  EXPECT_EQ(exported[4].bound_to, -1);
  EXPECT_EQ(exported[4].missed_heartbeats, 1);

  Peer& local = peers.emplace_back();  // joined the new owner while the group travelled
  other.open(local, "moving");
  pb::Message alone;
  alone.mutable_connect()->set_id(0xD);
  const std::string bytes_alone = alone.SerializeAsString();
  other.message(local, true, bytes_alone.data(), bytes_alone.size());
  out2.take(local);
  other.import_group("moving", exported);
  EXPECT_EQ(exported[0].peer, nullptr) << "the other generation's entry is left alone";
  const Group* g = other.find_group("moving");
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->members, (std::vector<Peer*>{&m, &j, &local})) << "imported members first";
  EXPECT_EQ(g->peers.size(), 5u);
  EXPECT_EQ(other.counters().peers, 5u);
  EXPECT_EQ(other.find_by_id(j_id), &j);
  EXPECT_EQ(other.find_by_id(k_id), &k);
  EXPECT_TRUE(m.favored);
  EXPECT_EQ(j.netflux_id, 0xBu);
  EXPECT_EQ(waiting.missed_heartbeats, 1);
  EXPECT_EQ(waiting.group, g);
  // Relays keep their ids.
  const std::string up_bytes = bytes({0x12, 0x04, 0x22, 0x02, 'h', 'i'});
  other.message(k, true, up_bytes.data(), up_bytes.size());
  pb::Message got = out2.take(m);
  EXPECT_EQ(got.content().senderid(), k_id);
  EXPECT_EQ(got.content().data(), "hi");
  // k's tried list survived: it goes to j next, not back to m.
  pb::Message again;
  again.mutable_connect()->set_id(0xC);
  const std::string again_bytes = again.SerializeAsString();
  other.message(k, true, again_bytes.data(), again_bytes.size());
  EXPECT_EQ(out2.take_raw(k), bytes({0x20, 0x00}));
  EXPECT_EQ(k.member, &j);
  // favored survived: a new joiner goes to m first whatever the order.
  Peer& late = peers.emplace_back();
  other.open(late, "moving");
  other.message(late, true, again_bytes.data(), again_bytes.size());
  EXPECT_EQ(late.member, &m);
  // The waiting peer connects there.
  other.message(waiting, true, again_bytes.data(), again_bytes.size());
  EXPECT_EQ(waiting.member, &m);
}

TEST_F(Gen2MoveTest, ImportDropsBindingsTheJoiningRulesCannotMake) {
  Peer& local_m = first_member(0xA, "k");
  Peer& local_j = joiner(0xB, "k");
  std::vector<Peer> arriving(7);
  std::vector<ExportedPeer> in(7);
  for (size_t i = 0; i < in.size(); ++i) {
    in[i].peer = &arriving[i];
    in[i].generation = 2;
    in[i].netflux_id = static_cast<uint32_t>(0x100 + i);
    in[i].up_open = in[i].down_open = true;
  }
  in[0].member_position = 0;                  // a member
  in[1].bound_to = 0, in[1].id = 11;          // fine
  in[2].bound_to = 4, in[2].id = 12;          // to a non-member
  in[3].member_position = 1;                  // a member...
  in[3].bound_to = 3, in[3].id = 13;          // ...bound to itself
  in[4].bound_to = 0, in[4].id = 0;           // id 0
  in[5].bound_to = 0, in[5].id = local_j.id;  // clashes with a live binding here
  in[6].bound_to = 99, in[6].id = 16;         // out of range
  router.import_group("k", in);
  EXPECT_EQ(arriving[1].member, &arriving[0]);
  EXPECT_EQ(router.find_by_id(11), &arriving[1]);
  for (size_t i = 2; i < 7; ++i) {
    EXPECT_EQ(arriving[i].member, nullptr) << i;
    EXPECT_EQ(arriving[i].id, 0u) << i;
    EXPECT_FALSE(arriving[i].up_open || arriving[i].down_open) << i;
  }
  EXPECT_EQ(router.find_by_id(local_j.id), &local_j);
  EXPECT_EQ(members("k"), (std::vector<Peer*>{&arriving[0], &arriving[3], &local_m}));
  EXPECT_EQ(router.binding_count(), 2u);
}

TEST_F(Gen2MoveTest, ImportTakesOnlyItsGenerationAndKeepsTriedIdsOfZero) {
  Peer gen1_peer;
  Peer zero_member, j;
  std::vector<ExportedPeer> in(3);
  in[0].peer = &gen1_peer;
  in[0].generation = 1;
  in[0].member_position = 0;
  in[1].peer = &zero_member;
  in[1].generation = 2;
  in[1].member_position = 0;
  in[1].netflux_id = 0;
  in[2].peer = &j;
  in[2].generation = 2;
  in[2].bound_to = 0;  // an entry of generation 1: not a binding here
  in[2].id = 5;
  in[2].tried_values = {0};
  in[2].tried = {1};  // indices are generation 1's: not read here
  router.import_group("z", in);
  EXPECT_EQ(gen1_peer.group, nullptr);
  EXPECT_EQ(members("z"), std::vector<Peer*>{&zero_member});
  EXPECT_EQ(j.member, nullptr);
  EXPECT_EQ(j.tried.size(), 1u);
  // j tried the lone member (id 0): its connect replaces it (rule 4).
  connect(j, 0xB);
  expect_connected(j, true);
  EXPECT_EQ(out.code(zero_member), 4744);
  std::vector<ExportedPeer> none;
  router.import_group("empty", none);
  EXPECT_EQ(router.find_group("empty"), nullptr);
}

TEST_F(Gen2MoveTest, ExportOfAnUnknownKeyAddsNothing) {
  std::vector<ExportedPeer> out_list;
  router.export_group("nobody", out_list);
  EXPECT_TRUE(out_list.empty());
}

}  // namespace
}  // namespace sigver::gen2
