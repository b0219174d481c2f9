// ProtocolMux: protocol-v2.md's "One port, two generations" (detection by the first byte or by
// silence, nothing sent before the decision, late generation 2, groups per generation and key,
// close codes of the peer's generation, one generation configured, the detection delay,
// undecided peers moved with their key, counters) driven with a fake output that decodes each
// message with the generated classes of the generation the recipient was decided for.
#include "worker/protocol/mux.h"

#include <gtest/gtest.h>

#include <deque>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "sigver.pb.h"
#include "sigver2.pb.h"
#include "wire_bytes.h"
#include "worker/protocol/gen1/router.h"
#include "worker/protocol/gen2/router.h"

namespace sigver {
namespace {

using test::bytes;
using test::hex;

// A decoded message of either schema, for the checks below.
template <typename Message>
bool has_type(const std::string& encoded) {
  Message m;
  return m.ParseFromString(encoded) && m.type_case() != Message::TYPE_NOT_SET;
}

// Every write is checked against the rule "nothing before the decision": the recipient has a
// generation, and the bytes are a message of that generation with a type set.
class RecordingOutput : public PeerOutput {
 public:
  uint32_t rtt_us = 0;
  std::map<Peer*, std::deque<std::string>> sent;
  std::map<Peer*, uint16_t> closed;

  uint32_t round_trip_us(Peer&) override { return rtt_us; }
  char* begin_message(Peer& to, size_t size) override {
    // A closed peer takes nothing more, as the worker's output refuses it.
    writing_ = closed.count(&to) ? nullptr : &sent[&to].emplace_back(size, '\x55');
    return writing_ ? writing_->data() : nullptr;
  }
  void end_message(Peer& to, size_t size) override {
    ASSERT_NE(writing_, nullptr);
    EXPECT_EQ(size, writing_->size());
    EXPECT_NE(to.generation, 0) << "a message to an undecided peer: " << hex(*writing_);
    EXPECT_TRUE(to.generation == 1 ? has_type<pb::Message>(*writing_)
                                   : has_type<pb2::Message>(*writing_))
        << "not a message of generation " << int{to.generation} << ": " << hex(*writing_);
    writing_ = nullptr;
  }
  void close(Peer& peer, uint16_t code, std::string_view reason) override {
    EXPECT_EQ(peer.group, nullptr) << "closed while still in a group";
    EXPECT_FALSE(reason.empty());
    EXPECT_TRUE(closed.emplace(&peer, code).second) << "closed twice";
  }

  // The oldest message sent to `p` and not read yet ("" and a failure if there is none).
  std::string next(Peer& p) {
    auto found = sent.find(&p);
    if (found == sent.end() || found->second.empty()) {
      ADD_FAILURE() << "nothing was sent";
      return {};
    }
    std::string oldest = std::move(found->second.front());
    found->second.pop_front();
    return oldest;
  }
  pb::Message next1(Peer& p) { return parsed<pb::Message>(next(p)); }
  pb2::Message next2(Peer& p) { return parsed<pb2::Message>(next(p)); }
  bool quiet(Peer& p) { return sent[&p].empty(); }
  uint16_t code(Peer& p) { return closed.count(&p) ? closed[&p] : 0; }

 private:
  template <typename Message>
  static Message parsed(const std::string& encoded) {
    Message m;
    m.ParseFromString(encoded);
    return m;
  }

  std::string* writing_ = nullptr;  // inside its peer's deque until end_message
};

// Messages as the two clients put them on the wire.
std::string gen1_heartbeat() { return bytes({0x20, 0x01}); }
std::string gen1_content(const std::string& data, uint32_t id = 0) {
  pb::Message m;
  m.mutable_content()->set_id(id);
  m.mutable_content()->set_data(data);
  return m.SerializeAsString();
}
std::string gen2_heartbeat() { return bytes({0x08, 0x01}); }
std::string gen2_connect(uint32_t id, std::initializer_list<uint32_t> members = {}) {
  pb2::Message m;
  m.mutable_connect()->set_id(id);
  for (uint32_t member : members) m.mutable_connect()->add_members(member);
  return m.SerializeAsString();
}
std::string gen2_content(uint32_t sender, uint32_t recipient, const std::string& data) {
  pb2::Message m;
  m.mutable_content()->set_senderid(sender);
  m.mutable_content()->set_recipientid(recipient);
  m.mutable_content()->set_data(data);
  return m.SerializeAsString();
}

const std::string kIsFirstTrue = bytes({0x10, 0x01});
const std::string kIsFirstFalse = bytes({0x10, 0x00});
const std::string kConnectedTrue = bytes({0x20, 0x01});
const std::string kConnectedFalse = bytes({0x20, 0x00});

class MuxTest : public ::testing::Test {
 protected:
  MuxTest() { mux.configure(settings); }

  void reconfigure(bool one, bool two) {
    settings.generation1 = one;
    settings.generation2 = two;
    mux.configure(settings);
  }
  // A peer that finished its upgrade; `delay` is what open() answered.
  Peer& open(const std::string& key = "room", const std::string& query = "") {
    Peer& p = peers.emplace_back();
    delay = mux.open(p, key, query);
    return p;
  }
  Peer& open_one_generation(int generation);
  void send(Peer& p, const std::string& message, bool binary = true) {
    mux.message(p, binary, message.data(), message.size());
  }
  // A peer made generation 1 by its first message (a heartbeat), isFirst read.
  Peer& gen1_peer(bool expect_first, const std::string& key = "room") {
    Peer& p = open(key);
    send(p, gen1_heartbeat());
    EXPECT_EQ(out.next(p), expect_first ? kIsFirstTrue : kIsFirstFalse);
    return p;
  }
  // A peer made generation 2 by its connect, connected read.
  Peer& gen2_peer(uint32_t id, bool expect_connected, const std::string& key = "room") {
    Peer& p = open(key);
    send(p, gen2_connect(id));
    EXPECT_EQ(out.next(p), expect_connected ? kConnectedTrue : kConnectedFalse);
    return p;
  }
  // A peer made generation 1 by its silence: its detection tick sends isFirst.
  Peer& silent_peer(bool expect_first, const std::string& key = "room") {
    Peer& p = open(key);
    EXPECT_TRUE(out.quiet(p));
    EXPECT_EQ(mux.tick(p), settings.heartbeat_interval_ms);
    EXPECT_EQ(p.generation, 1);
    EXPECT_EQ(out.next(p), expect_first ? kIsFirstTrue : kIsFirstFalse);
    return p;
  }
  // Generation 1, joiner -> member: the id the member sees.
  uint32_t up1(Peer& joiner, Peer& member, const std::string& data) {
    send(joiner, gen1_content(data));
    pb::Message got = out.next1(member);
    EXPECT_EQ(got.content().data(), data);
    EXPECT_NE(got.content().id(), 0u);
    return got.content().id();
  }
  // Generation 2, joiner -> member: the binding id (senderId) the member sees.
  uint32_t up2(Peer& joiner, Peer& member, const std::string& data) {
    send(joiner, gen2_content(joiner.netflux_id, 0, data));
    pb2::Message got = out.next2(member);
    EXPECT_EQ(got.content().data(), data);
    EXPECT_NE(got.content().senderid(), 0u);
    return got.content().senderid();
  }
  void expect_all_quiet() {
    for (Peer& p : peers) EXPECT_TRUE(out.quiet(p)) << "peer " << &p - &peers[0];
  }
  const Group* group(int generation, const std::string& key = "room") {
    return mux.generation(generation).find_group(key);
  }

  MuxSettings settings;
  RecordingOutput out;
  ProtocolMux mux{out, 99};
  std::deque<Peer> peers;
  uint64_t delay = 0;
};

// ---- the first byte ----

// A first data message, the generation it makes the peer, and whether it is binary.
struct FirstCase {
  const char* name;
  std::string bytes;
  int generation = 1;
  bool binary = true;
};
std::string case_name(const ::testing::TestParamInfo<FirstCase>& param_info) {
  return param_info.param.name;
}

class FirstByteTest : public MuxTest, public ::testing::WithParamInterface<FirstCase> {};

TEST_P(FirstByteTest, DecidesTheGenerationAndIsHandledByIt) {
  const FirstCase& first = GetParam();
  Peer& p = open();
  EXPECT_TRUE(p.detecting);
  EXPECT_EQ(mux.undecided(), 1u);
  send(p, first.bytes);
  EXPECT_EQ(p.generation, first.generation);
  EXPECT_EQ(out.code(p), 0) << "a valid first message of its generation keeps the peer";
  EXPECT_EQ(mux.undecided(), 0u);
  ASSERT_NE(group(first.generation), nullptr);
  EXPECT_EQ(group(3 - first.generation), nullptr) << "nothing in the other generation";
  if (first.generation == 1) {
    // Joined as protocol.md says: isFirst first (tryAnother, alone, joins again: a second).
    EXPECT_EQ(out.next(p), kIsFirstTrue);
    EXPECT_TRUE(p.is_member);
    while (!out.quiet(p)) EXPECT_EQ(out.next(p), kIsFirstTrue);
  } else if (first.bytes[0] == 0x1a) {
    EXPECT_EQ(out.next(p), kConnectedTrue);
  }
  EXPECT_TRUE(out.quiet(p));
  // The detection tick still comes and sends nothing; the heartbeats that follow are the
  // peer's own generation's.
  EXPECT_EQ(mux.tick(p), settings.heartbeat_interval_ms);
  EXPECT_TRUE(out.quiet(p));
  mux.tick(p);
  EXPECT_EQ(out.next(p), first.generation == 1 ? gen1_heartbeat() : gen2_heartbeat());
}

INSTANTIATE_TEST_SUITE_P(
    Mux, FirstByteTest,
    ::testing::Values(FirstCase{"heartbeat2_08", bytes({0x08, 0x01}), 2},
                      FirstCase{"heartbeat2_false", bytes({0x08, 0x00}), 2},
                      FirstCase{"content2_12", bytes({0x12, 0x02, 0x22, 0x00}), 2},
                      FirstCase{"connect2_1a", bytes({0x1a, 0x02, 0x08, 0x07}), 2},
                      FirstCase{"content1_0a", bytes({0x0a, 0x03, 0x12, 0x01, 'x'}), 1},
                      FirstCase{"stable1_18", bytes({0x18, 0x01}), 1},
                      FirstCase{"heartbeat1_20", bytes({0x20, 0x01}), 1},
                      FirstCase{"tryanother1_28", bytes({0x28, 0x01}), 1},
                      // Other bytes: a valid Message of fields generation 1 lacks.
                      FirstCase{"unknown_field7_38", bytes({0x38, 0x01}), 1},
                      FirstCase{"unknown_field15_7a", bytes({0x7a, 0x01, 0x00}), 1},
                      FirstCase{"fixed32_0d", bytes({0x0d, 1, 2, 3, 4}), 1}),
    case_name);

TEST_F(MuxTest, AGeneration1FirstMessageIsHandledByProtocolMd) {
  Peer& m = gen1_peer(true);
  // Its first message is a content: it joins (bound to m), then the content is relayed.
  Peer& j = open();
  send(j, gen1_content("offer"));
  EXPECT_EQ(out.next(j), kIsFirstFalse);
  pb::Message got = out.next1(m);
  EXPECT_EQ(got.content().data(), "offer");
  EXPECT_NE(got.content().id(), 0u);
  // Its first message is stable: it joins, then becomes a member.
  Peer& s = open();
  send(s, bytes({0x18, 0x01}));
  EXPECT_EQ(out.next(s), kIsFirstFalse);
  EXPECT_TRUE(s.is_member);
  EXPECT_EQ(group(1)->members, (std::vector<Peer*>{&m, &s}));
  expect_all_quiet();
}

// First messages protocol.md closes.
class RejectedFirstTest : public FirstByteTest {};

TEST_P(RejectedFirstTest, IsGeneration1AndClosed4003WithoutJoining) {
  Peer& m = gen1_peer(true);
  Peer& other = gen2_peer(1, true);
  Peer& p = open();
  send(p, GetParam().bytes, GetParam().binary);
  EXPECT_EQ(out.code(p), gen1::close_code::kBadMessage);
  EXPECT_EQ(p.generation, 1);
  EXPECT_EQ(p.group, nullptr);
  EXPECT_FALSE(p.is_member);
  EXPECT_EQ(mux.undecided(), 0u);
  EXPECT_EQ(group(1)->peers, std::vector<Peer*>{&m}) << "it never joined";
  EXPECT_EQ(mux.counters().peers, 2u);
  expect_all_quiet();  // it was sent nothing, not even isFirst; nobody was told anything
  // Whatever it sends after that is ignored.
  send(p, gen1_heartbeat());
  send(p, gen2_connect(5));
  EXPECT_TRUE(out.quiet(p));
  mux.leave(p);
  (void)other;
}

INSTANTIATE_TEST_SUITE_P(
    Mux, RejectedFirstTest,
    ::testing::Values(FirstCase{"empty", ""}, FirstCase{"text", "hello", 1, false},
                      // Text beginning with a generation-2 byte is still text.
                      FirstCase{"text_connect", bytes({0x1a, 0x02, 0x08, 0x07}), 1, false},
                      FirstCase{"not_protobuf", bytes({0xff, 0xff})},
                      FirstCase{"truncated_content1", bytes({0x0a, 0x05, 0x12})},
                      FirstCase{"server_only_isfirst", bytes({0x10, 0x01})}),
    case_name);

TEST_F(MuxTest, AnInvalidGeneration2FirstMessageIsClosedWithGeneration2sCode) {
  // 1a claims generation 2 however the rest reads, so generation 2's rules close it.
  for (const std::string& message :
       {bytes({0x1a, 0x05, 0x08}), bytes({0x08}), bytes({0x12, 0x01, 0xff})}) {
    SCOPED_TRACE(hex(message));
    Peer& p = open();
    send(p, message);
    EXPECT_EQ(p.generation, 2);
    EXPECT_EQ(out.code(p), gen2::close_code::kBadMessage);
    EXPECT_TRUE(out.quiet(p));
  }
  EXPECT_EQ(mux.keys(), std::vector<std::string>{});
}

// ---- silence ----

TEST_F(MuxTest, SilenceUntilTheDetectionTickMakesGeneration1) {
  Peer& a = open();
  EXPECT_EQ(delay, settings.detect_min_ms);
  EXPECT_TRUE(out.quiet(a));
  EXPECT_EQ(a.generation, 0);
  EXPECT_EQ(mux.keys(), std::vector<std::string>{"room"}) << "undecided peers have their key";
  EXPECT_EQ(mux.peers_of("room"), std::vector<Peer*>{&a});
  EXPECT_EQ(mux.tick(a), settings.heartbeat_interval_ms);
  EXPECT_EQ(a.generation, 1);
  EXPECT_FALSE(a.detecting);
  EXPECT_EQ(out.next(a), kIsFirstTrue) << "isFirst only: no heartbeat at the detection tick";
  EXPECT_TRUE(out.quiet(a));
  Peer& b = silent_peer(false);
  EXPECT_EQ(b.member, &a);
  // Heartbeats start one interval after the decision.
  mux.tick(a);
  EXPECT_EQ(out.next(a), gen1_heartbeat());
  EXPECT_EQ(mux.undecided(), 0u);
}

TEST_F(MuxTest, NothingIsSentToAnUndecidedPeer) {
  Peer& waiting = open();
  // Groups of both generations on its key form, relay, end bindings and close around it.
  Peer& m1 = gen1_peer(true);
  Peer& j1 = gen1_peer(false);
  up1(j1, m1, "one");
  Peer& m2 = gen2_peer(1, true);
  Peer& j2 = gen2_peer(2, false);
  up2(j2, m2, "two");
  mux.leave(m1);
  EXPECT_EQ(out.next1(j1).content().iserror(), true);
  mux.leave(m2);
  out.next(j2);                             // its end notice
  for (Peer* p : {&j1, &j2}) mux.tick(*p);  // their detection ticks
  mux.tick(j1);
  mux.tick(j2);
  EXPECT_EQ(out.next(j1), gen1_heartbeat());
  EXPECT_EQ(out.next(j2), gen2_heartbeat());
  EXPECT_TRUE(out.quiet(waiting));
  EXPECT_EQ(waiting.generation, 0);
  EXPECT_EQ(waiting.group->peers, std::vector<Peer*>{&waiting});
  EXPECT_EQ(waiting.group->members, std::vector<Peer*>{}) << "the lobby has no members";
  // It decides later like any other.
  send(waiting, gen2_connect(3));
  EXPECT_EQ(out.next(waiting), kConnectedTrue) << "generation 2's group has no member left";
  expect_all_quiet();
}

TEST_F(MuxTest, AnUndecidedPeerThatLeavesIsForgotten) {
  Peer& a = open("k1");
  Peer& b = open("k1");
  mux.leave(a);
  mux.leave(a);  // idempotent
  EXPECT_EQ(a.group, nullptr);
  EXPECT_EQ(mux.undecided(), 1u);
  EXPECT_EQ(mux.peers_of("k1"), std::vector<Peer*>{&b});
  mux.leave(b);
  EXPECT_EQ(mux.keys(), std::vector<std::string>{});
  EXPECT_EQ(mux.undecided(), 0u);
  expect_all_quiet();
}

// ---- late generation 2 ----

TEST_F(MuxTest, LateGeneration2AfterNothingButIsFirstMovesToGeneration2) {
  Peer& p = silent_peer(true);
  send(p, gen2_connect(7));
  EXPECT_EQ(p.generation, 2);
  EXPECT_EQ(out.next(p), kConnectedTrue);
  EXPECT_EQ(group(1), nullptr) << "it left generation 1 (its group with it)";
  ASSERT_NE(group(2), nullptr);
  EXPECT_EQ(group(2)->members, std::vector<Peer*>{&p});
  EXPECT_EQ(mux.counters().peers, 1u);
  // From now on it is generation 2 only.
  mux.tick(p);
  EXPECT_EQ(out.next(p), gen2_heartbeat());
  send(p, gen1_heartbeat());
  EXPECT_EQ(out.code(p), gen2::close_code::kBadMessage);
  // A heartbeat is as much generation 2's first message as a connect.
  Peer& q = silent_peer(true, "other");
  send(q, gen2_heartbeat());
  EXPECT_EQ(q.generation, 2);
  EXPECT_EQ(group(1, "other"), nullptr);
  ASSERT_NE(group(2, "other"), nullptr);
  EXPECT_EQ(group(2, "other")->members, std::vector<Peer*>{}) << "waits for its connect";
  EXPECT_TRUE(out.quiet(q));
}

TEST_F(MuxTest, LateGeneration2LeavesAsIfClosedItsMemberGetsTheEndNotice) {
  Peer& m = gen1_peer(true);
  Peer& late = silent_peer(false);  // bound to m, sent nothing but isFirst=false
  const uint32_t id = late.id;
  ASSERT_NE(id, 0u);
  send(late, gen2_connect(7));
  pb::Message notice = out.next1(m);
  EXPECT_EQ(notice.content().id(), id);
  EXPECT_TRUE(notice.content().iserror());
  EXPECT_EQ(out.next(late), kConnectedTrue) << "the first of generation 2's group";
  EXPECT_EQ(group(1)->peers, std::vector<Peer*>{&m});
  // The old binding is gone: what m sends to it goes nowhere.
  send(m, gen1_content("lost", id));
  expect_all_quiet();
}

TEST_F(MuxTest, LateGeneration2MemberEndsItsJoinersBindings) {
  Peer& late = silent_peer(true);
  Peer& j = gen1_peer(false);  // bound to late; late has been sent nothing more
  send(late, gen2_connect(7));
  pb::Message notice = out.next1(j);
  EXPECT_EQ(notice.content().id(), 0u);
  EXPECT_TRUE(notice.content().iserror());
  EXPECT_EQ(j.member, nullptr);
  EXPECT_EQ(out.next(late), kConnectedTrue);
  EXPECT_EQ(group(1)->members, std::vector<Peer*>{});
}

TEST_F(MuxTest, NoLateGeneration2AfterAHeartbeat) {
  Peer& p = silent_peer(true);
  mux.tick(p);
  EXPECT_EQ(out.next(p), gen1_heartbeat());
  send(p, gen2_connect(7));
  EXPECT_EQ(p.generation, 1);
  EXPECT_EQ(out.code(p), 0) << "protocol.md ignores a field it lacks (3 as bytes)";
  EXPECT_TRUE(out.quiet(p));
  EXPECT_EQ(group(1)->members, std::vector<Peer*>{&p});
  EXPECT_EQ(group(2), nullptr);
}

TEST_F(MuxTest, NoLateGeneration2AfterARelayedContent) {
  Peer& m = silent_peer(true);
  Peer& j = gen1_peer(false);
  up1(j, m, "offer");  // m was sent a content: detection is over for it
  send(m, gen2_connect(7));
  EXPECT_EQ(m.generation, 1);
  EXPECT_TRUE(m.is_member);
  EXPECT_EQ(j.member, &m) << "its joiner keeps its binding";
  expect_all_quiet();
}

TEST_F(MuxTest, NoLateGeneration2AfterAnEndNotice) {
  Peer& m = gen1_peer(true);
  Peer& j = silent_peer(false);
  mux.leave(m);
  EXPECT_TRUE(out.next1(j).content().iserror());
  send(j, gen2_connect(7));
  EXPECT_EQ(j.generation, 1);
  EXPECT_EQ(group(2), nullptr);
  expect_all_quiet();
}

TEST_F(MuxTest, NoLateGeneration2AfterItSpoke) {
  Peer& p = silent_peer(true);
  send(p, gen1_heartbeat());  // its first data message, generation 1's
  send(p, gen2_connect(7));
  EXPECT_EQ(p.generation, 1);
  EXPECT_TRUE(out.quiet(p));
  // Decided by its first message: no late move either.
  Peer& q = gen1_peer(false);
  send(q, gen2_connect(8));
  EXPECT_EQ(q.generation, 1);
  EXPECT_EQ(q.member, &p);
  expect_all_quiet();
}

TEST_F(MuxTest, NoLateGeneration2ForAGeneration1FirstMessage) {
  // Only a generation-2 first message moves a peer; another generation-1 one keeps it.
  Peer& p = silent_peer(true);
  send(p, bytes({0x18, 0x01}));
  EXPECT_EQ(p.generation, 1);
  EXPECT_TRUE(out.quiet(p));
}

// ---- groups per (generation, KEY) ----

TEST_F(MuxTest, TheSameKeyInTwoGenerationsIsTwoGroupsAndNothingCrosses) {
  Peer& m1 = gen1_peer(true);
  Peer& m2 = gen2_peer(1, true);  // the first of its own group, though "room" has a member
  Peer& j1 = gen1_peer(false);
  Peer& j2 = gen2_peer(2, false);
  Peer& s = silent_peer(false);
  EXPECT_EQ(j1.member, &m1);
  EXPECT_EQ(j2.member, &m2);
  EXPECT_EQ(s.member, &m1);
  EXPECT_EQ(group(1)->peers, (std::vector<Peer*>{&m1, &j1, &s}));
  EXPECT_EQ(group(2)->peers, (std::vector<Peer*>{&m2, &j2}));
  const uint32_t id1 = up1(j1, m1, "gen1-up");
  const uint32_t id2 = up2(j2, m2, "gen2-up");
  // A member's recipientId naming the other generation's binding reaches nobody.
  send(m2, gen2_content(0, id1, "cross"));
  send(m1, gen1_content("cross", id2));
  expect_all_quiet();
  // A leaving member notifies its own generation only.
  mux.leave(m1);
  EXPECT_TRUE(out.next1(j1).content().iserror());
  EXPECT_TRUE(out.next1(s).content().iserror());
  send(j2, gen2_content(2, 0, "still"));
  EXPECT_EQ(out.next2(m2).content().senderid(), id2);
  expect_all_quiet();
  EXPECT_EQ(mux.keys(), std::vector<std::string>{"room"});
  EXPECT_EQ(mux.peers_of("room").size(), 4u);
  const GenerationCounters c = mux.counters();
  EXPECT_EQ(c.groups, 2u);
  EXPECT_EQ(c.peers, 4u);
}

TEST_F(MuxTest, Generation2RulesSeeOnlyGeneration2Members) {
  // Rule 4 (a lone member tried) and overlap look at generation 2's members only.
  gen1_peer(true);
  Peer& m = gen2_peer(1, true);
  Peer& j = gen2_peer(2, false);
  send(j, gen2_connect(2, {99}));  // 99: nobody of generation 2
  EXPECT_EQ(out.next(j), kConnectedTrue) << "the lone member it tried blocks: replaced";
  EXPECT_EQ(out.code(m), gen2::close_code::kBlockingMember);
  EXPECT_EQ(group(1)->members.size(), 1u) << "generation 1's member untouched";
}

// ---- invalid keys ----

TEST_F(MuxTest, AnInvalidKeyIsClosedOnceTheGenerationIsDecided) {
  settings.protocol.max_key_length = 8;
  mux.configure(settings);
  for (const std::string& key : {std::string(), std::string("123456789")}) {
    SCOPED_TRACE("key '" + key + "'");
    Peer& two = open(key);
    Peer& one = open(key);
    Peer& silent = open(key);
    EXPECT_TRUE(out.closed.empty()) << "not before the decision";
    send(two, gen2_connect(1));
    EXPECT_EQ(out.code(two), gen2::close_code::kBadKey);
    send(one, gen1_heartbeat());
    EXPECT_EQ(out.code(one), gen1::close_code::kBadKey);
    EXPECT_EQ(out.code(silent), 0);
    mux.tick(silent);
    EXPECT_EQ(out.code(silent), gen1::close_code::kBadKey);
    expect_all_quiet();
    out.closed.clear();
  }
  EXPECT_EQ(mux.keys(), std::vector<std::string>{});
  EXPECT_EQ(mux.undecided(), 0u);
  EXPECT_EQ(mux.counters().peers, 0u);
}

// ---- one generation configured ----

// With one generation configured, open() decides: no lobby, and the first tick is the first
// heartbeat.
Peer& MuxTest::open_one_generation(int generation) {
  reconfigure(generation == 1, generation == 2);
  Peer& p = open();
  EXPECT_EQ(delay, settings.heartbeat_interval_ms);
  EXPECT_EQ(p.generation, generation);
  EXPECT_FALSE(p.detecting);
  EXPECT_EQ(mux.undecided(), 0u);
  return p;
}

TEST_F(MuxTest, Generation1OnlyJoinsAtOnce) {
  Peer& a = open_one_generation(1);
  EXPECT_EQ(out.next(a), kIsFirstTrue);
  // A generation-2 client is generation 1 here: its connect is a field protocol.md lacks,
  // ignored; no late generation 2 without detection.
  send(a, gen2_connect(7));
  EXPECT_EQ(a.generation, 1);
  EXPECT_EQ(out.code(a), 0);
  EXPECT_TRUE(out.quiet(a));
  // Its first tick is a heartbeat.
  mux.tick(a);
  EXPECT_EQ(out.next(a), gen1_heartbeat());
  // An invalid key is closed at once.
  Peer& bad = open("");
  EXPECT_EQ(out.code(bad), gen1::close_code::kBadKey);
}

TEST_F(MuxTest, Generation2OnlyWaitsForTheConnectWithNoDetection) {
  Peer& a = open_one_generation(2);
  EXPECT_TRUE(out.quiet(a));
  mux.tick(a);
  EXPECT_EQ(out.next(a), gen2_heartbeat()) << "no isFirst, ever";
  send(a, gen2_connect(1));
  EXPECT_EQ(out.next(a), kConnectedTrue);
  // A generation-1 client's heartbeat is a connected here: closed.
  Peer& old = open();
  send(old, gen1_heartbeat());
  EXPECT_EQ(out.code(old), gen2::close_code::kBadMessage);
  // Text and empty messages close with generation 2's code too.
  Peer& text = open();
  send(text, "hi", false);
  EXPECT_EQ(out.code(text), gen2::close_code::kBadMessage);
  Peer& bad = open("");
  EXPECT_EQ(out.code(bad), gen2::close_code::kBadKey);
}

TEST_F(MuxTest, UndecidedPeersAreDecidedAtTheirTickWhenDetectionIsTurnedOff) {
  Peer& a = open();
  Peer& b = open();
  reconfigure(false, true);  // a HUP while they wait
  // An undecided peer falls to the one generation left.
  EXPECT_EQ(mux.tick(a), settings.heartbeat_interval_ms);
  EXPECT_EQ(a.generation, 2);
  EXPECT_TRUE(out.quiet(a));
  // A message decides it for that generation whatever its first byte.
  send(b, gen1_heartbeat());
  EXPECT_EQ(b.generation, 2);
  EXPECT_EQ(out.code(b), gen2::close_code::kBadMessage);
  reconfigure(true, false);
  Peer& c = open();
  reconfigure(true, true);
  EXPECT_EQ(c.generation, 1) << "decided at open";
}

// ---- the detection delay ----

TEST_F(MuxTest, DetectionWaitsFourRoundTripsWithinMinAndMax) {
  struct Case {
    uint32_t rtt_us;
    uint64_t expected_ms;
  };
  for (const Case& c :
       {Case{0, 100}, Case{1000, 100}, Case{25'000, 100}, Case{25'001, 101}, Case{30'000, 120},
        Case{249'999, 1000}, Case{250'000, 1000}, Case{2'000'000, 1000}, Case{UINT32_MAX, 1000}}) {
    out.rtt_us = c.rtt_us;
    Peer& p = open();
    EXPECT_EQ(delay, c.expected_ms) << "rtt " << c.rtt_us << " us";
    EXPECT_EQ(mux.next_tick_ms(p), c.expected_ms);
  }
  settings.detect_min_ms = 200;
  settings.detect_max_ms = 300;
  mux.configure(settings);
  for (const Case& c : {Case{0, 200}, Case{60'000, 240}, Case{90'000, 300}}) {
    out.rtt_us = c.rtt_us;
    open();
    EXPECT_EQ(delay, c.expected_ms) << "rtt " << c.rtt_us << " us";
  }
  // Once decided, a peer's timer is its heartbeat.
  Peer& p = open();
  mux.tick(p);
  EXPECT_EQ(mux.next_tick_ms(p), settings.heartbeat_interval_ms);
}

// ---- moving keys ----

class MuxMoveTest : public MuxTest {
 protected:
  // What arrives at the other worker: the same states for new Peer objects (a connection is
  // a new object there), references between entries kept as indices.
  std::vector<ExportedPeer> carry(std::vector<ExportedPeer> exported) {
    for (ExportedPeer& e : exported) {
      Peer& fresh = arrived.emplace_back();
      moved_to[e.peer] = &fresh;
      e.peer = &fresh;
    }
    return exported;
  }
  Peer& there(Peer& here) { return *moved_to.at(&here); }
  void send_there(Peer& p, const std::string& message) {
    other.message(p, true, message.data(), message.size());
  }

  RecordingOutput out2;
  ProtocolMux other{out2, 5};
  std::deque<Peer> arrived;
  std::map<Peer*, Peer*> moved_to;
};

TEST_F(MuxMoveTest, UndecidedPeersMoveWithTheirKeyAndDetectionStartsAgain) {
  Peer& m1 = gen1_peer(true);
  Peer& j1 = gen1_peer(false);
  const uint32_t id1 = up1(j1, m1, "before1");
  Peer& m2 = gen2_peer(1, true);
  Peer& j2 = gen2_peer(2, false);
  const uint32_t id2 = up2(j2, m2, "before2");
  Peer& silent = open("room");
  Peer& favored = open("room", "a=1&favored");
  Peer& elsewhere = open("other");

  std::vector<ExportedPeer> exported = mux.export_key("room");
  ASSERT_EQ(exported.size(), 6u);
  size_t undecided = 0;
  for (const ExportedPeer& e : exported) {
    EXPECT_EQ(e.peer->group, nullptr);
    if (e.generation == 0) {
      ++undecided;
      EXPECT_EQ(e.favored, e.peer == &favored);
    }
  }
  EXPECT_EQ(undecided, 2u);
  EXPECT_EQ(mux.keys(), std::vector<std::string>{"other"});
  EXPECT_EQ(mux.undecided(), 1u);
  EXPECT_EQ(mux.counters().peers, 0u);

  std::vector<ExportedPeer> in = carry(std::move(exported));
  other.import_key("room", in);
  EXPECT_EQ(other.undecided(), 2u);
  EXPECT_EQ(other.peers_of("room").size(), 6u);
  EXPECT_EQ(other.counters().peers, 4u);
  EXPECT_EQ(other.counters().groups, 2u);
  Peer& s = there(silent);
  Peer& f = there(favored);
  EXPECT_TRUE(s.detecting);
  EXPECT_EQ(other.next_tick_ms(s), settings.detect_min_ms);
  EXPECT_EQ(other.next_tick_ms(there(m1)), settings.heartbeat_interval_ms);
  EXPECT_TRUE(f.favored);
  // Both groups relay with their ids.
  send_there(there(j1), gen1_content("after1"));
  EXPECT_EQ(out2.next1(there(m1)).content().id(), id1);
  send_there(there(j2), gen2_content(2, 0, "after2"));
  EXPECT_EQ(out2.next2(there(m2)).content().senderid(), id2);
  // The silent one is generation 1 at its tick, bound to generation 1's member.
  other.tick(s);
  EXPECT_EQ(out2.next(s), kIsFirstFalse);
  EXPECT_EQ(s.member, &there(m1));
  // The favored one speaks generation 2: bound to m2; a later joiner goes to it first.
  send_there(f, gen2_connect(3, {1}));
  EXPECT_EQ(out2.next(f), kConnectedTrue);
  Peer& late = arrived.emplace_back();
  other.open(late, "room", "");
  send_there(late, gen2_connect(4));
  EXPECT_EQ(out2.next(late), kConnectedFalse);
  EXPECT_EQ(late.member, &f) << "favored survived the move";
  EXPECT_EQ(other.undecided(), 0u);
  mux.leave(elsewhere);
}

TEST_F(MuxMoveTest, ABrokenSendersGenerationIsDecidedAgain) {
  Peer a, b, c;
  Peer* arriving[] = {&a, &b, &c};
  const uint8_t broken[] = {7, 255, 3};  // generations no worker sends
  std::vector<ExportedPeer> in(3);
  for (size_t i = 0; i < in.size(); ++i) {
    in[i].peer = arriving[i];
    in[i].generation = broken[i];
  }
  // Routing state that would make a a member and b its joiner: ignored with the rest.
  in[0].member_position = 0;
  in[1].bound_to = 0;
  in[1].id = 5;
  other.import_key("k", in);
  EXPECT_EQ(other.undecided(), 3u);
  EXPECT_EQ(other.counters().peers, 0u);
  for (Peer* p : {&a, &b, &c}) {
    EXPECT_EQ(p->generation, 0);
    EXPECT_TRUE(p->detecting);
    EXPECT_FALSE(p->is_member);
    EXPECT_EQ(p->member, nullptr);
  }
  send_there(a, gen2_connect(1));
  EXPECT_EQ(out2.next(a), kConnectedTrue);
  send_there(b, gen1_heartbeat());
  EXPECT_EQ(out2.next(b), kIsFirstTrue);
  other.tick(c);
  EXPECT_EQ(out2.next(c), kIsFirstFalse);
  EXPECT_EQ(c.member, &b);
  for (Peer* p : {&a, &b, &c}) other.leave(*p);
  EXPECT_EQ(other.keys(), std::vector<std::string>{});
}

TEST_F(MuxMoveTest, MovedPeersAreNeverLateGeneration2) {
  // A generation-1 peer that had only its isFirst moves: its next connect is generation 1's.
  Peer& p = silent_peer(true);
  std::vector<ExportedPeer> in = carry(mux.export_key("room"));
  other.import_key("room", in);
  send_there(there(p), gen2_connect(7));
  EXPECT_EQ(there(p).generation, 1);
  EXPECT_TRUE(out2.quiet(there(p)));
}

// ---- counters ----

TEST_F(MuxTest, CountersAreSummedOverTheGenerations) {
  Peer& m1 = gen1_peer(true, "a");
  Peer& j1 = gen1_peer(false, "a");
  up1(j1, m1, "xyz");
  Peer& m2 = gen2_peer(1, true, "b");
  Peer& j2 = gen2_peer(2, false, "b");
  up2(j2, m2, "xyz");
  up2(j2, m2, "xyz");
  open("c");  // undecided: in no generation's counters
  const GenerationCounters one = mux.generation(1).counters();
  const GenerationCounters two = mux.generation(2).counters();
  EXPECT_EQ(one.messages_relayed, 1u);
  EXPECT_EQ(two.messages_relayed, 2u);
  // Three misses close a silent peer in either generation.
  // (Their first tick ends detection: decided by a message, they are still counted from it.)
  for (int i = 0; i <= settings.protocol.heartbeat_misses; ++i) {
    mux.tick(m1);
    mux.tick(m2);
  }
  EXPECT_EQ(out.code(m1), gen1::close_code::kHeartbeat);
  EXPECT_EQ(out.code(m2), gen2::close_code::kHeartbeat);
  const GenerationCounters sum = mux.counters();
  EXPECT_EQ(sum.groups, 2u);
  EXPECT_EQ(sum.peers, 2u);
  EXPECT_EQ(sum.messages_relayed, 3u);
  EXPECT_EQ(sum.bytes_relayed, one.bytes_relayed + two.bytes_relayed);
  EXPECT_GT(one.bytes_relayed, 0u);
  EXPECT_GT(two.bytes_relayed, 0u);
  EXPECT_EQ(sum.heartbeat_timeouts, 2u);
  EXPECT_EQ(mux.undecided(), 1u);
}

}  // namespace
}  // namespace sigver
