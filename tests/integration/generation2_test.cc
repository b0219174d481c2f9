// Generation 2 (protocol-v2.md) through the real binary, serving both generations on one
// port as it does by default: joining (two and three peers, rule 3's overlap, rule 4's
// blocking member), relay by senderId/recipientId, end notices, heartbeats, close codes,
// limits, and a pair over wss://.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/sigver2_peer.h"
#include "support/test_certs.h"
#include "support/tls_client.h"

namespace sigver::itest {
namespace {

using namespace std::chrono_literals;

class Generation2Test : public SigverTest {
 protected:
  Peer2 NewPeer2(const std::string& query = "") const { return Peer2(port(), query); }
  // Opens on `key` and connects with `id`: connected must be `expected`.
  void Join2(Peer2& peer, const std::string& key, uint32_t id, bool expected) {
    bool connected = !expected;
    ASSERT_TRUE(peer.join(key, id, connected)) << peer.error();
    ASSERT_EQ(connected, expected) << "connected for " << id << " on " << key;
  }
  // A peer upgraded on `key` whose first connect is answered by a close with `code` and a
  // reason.
  void ExpectClosedAtConnect(const std::string& key, uint16_t code) {
    Peer2 p = NewPeer2();
    ASSERT_TRUE(p.open(key)) << "the upgrade completes";
    ASSERT_TRUE(p.send_connect(1));
    const Received2 got = p.receive();
    EXPECT_TRUE(IsClose(got, code));
    EXPECT_FALSE(got.close.reason.empty());
  }
  // Content from `joiner` reaches `member` with a non-zero binding id, returned.
  uint32_t Up(Peer2& joiner, uint32_t joiner_id, Peer2& member, const std::string& data) {
    EXPECT_TRUE(joiner.send_content(joiner_id, 0, data));
    const Received2 got = member.receive();
    EXPECT_TRUE(got.is_content() && got.content().senderid() != 0) << got.describe();
    const uint32_t binding = got.is_content() ? got.content().senderid() : 0;
    EXPECT_TRUE(IsContent2(got, binding, 0, data));
    return binding;
  }
};

TEST_F(Generation2Test, TwoPeersJoinAndRelayBothWaysWithIds) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const std::string key = random_key("g2");
  Peer2 m, j;
  uint32_t s = 0;
  ASSERT_TRUE(FormPair2(port(), key, m, j, s, 0xA1, 0xB2));
  // netflux's ids in senderId are ignored, and so is a recipientId naming no joiner of M.
  ASSERT_TRUE(j.send_content(0xB2, 12345, "offer"));
  EXPECT_TRUE(IsContent2(m.receive(), s, 0, "offer"));
  ASSERT_TRUE(m.send_content(0xA1, s, "answer"));
  EXPECT_TRUE(IsContent2(j.receive(), 0, s, "answer"));
  // The mesh is built: J becomes a member (rule 3), its binding stays open.
  bool connected = false;
  ASSERT_TRUE(j.reconnect(0xB2, {0xA1}, connected)) << j.error();
  EXPECT_TRUE(connected);
  ASSERT_TRUE(m.reconnect(0xA1, {0xB2}, connected)) << m.error();
  EXPECT_TRUE(connected) << "rule 2: a member that overlaps stays";
  ASSERT_TRUE(j.send_content(0xB2, 0, "candidate"));
  EXPECT_TRUE(IsContent2(m.receive(), s, 0, "candidate"));
  ASSERT_TRUE(m.send_content(0, s, "candidate-back"));
  EXPECT_TRUE(IsContent2(j.receive(), 0, s, "candidate-back"));
  EXPECT_TRUE(ReceivedNothing(m.sync()));
  EXPECT_TRUE(ReceivedNothing(j.sync()));
}

TEST_F(Generation2Test, ThreePeersTheOldestMemberFirstAndOverlapWithAnyMember) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const std::string key = random_key("g3");
  Peer2 a = NewPeer2(), b = NewPeer2(), c = NewPeer2();
  ASSERT_NO_FATAL_FAILURE(Join2(a, key, 1, true));
  ASSERT_NO_FATAL_FAILURE(Join2(b, key, 2, false));
  const uint32_t sb = Up(b, 2, a, "b-offer");
  bool connected = false;
  ASSERT_TRUE(b.reconnect(2, {1}, connected) && connected) << b.error();
  // The third is bound to the oldest member, a, with a binding id of its own.
  ASSERT_NO_FATAL_FAILURE(Join2(c, key, 3, false));
  const uint32_t sc = Up(c, 3, a, "c-offer");
  EXPECT_NE(sc, sb);
  ASSERT_TRUE(a.send_content(0, sc, "to-c"));
  EXPECT_TRUE(IsContent2(c.receive(), 0, sc, "to-c"));
  EXPECT_TRUE(ReceivedNothing(b.sync())) << "neither joiner sees the other's relay";
  // Reaching b only (not its own member a) overlaps the group too.
  ASSERT_TRUE(c.reconnect(3, {2}, connected) && connected) << c.error();
  // A leaving member ends its joiners' bindings with end notices; they stay connected.
  a.close_cleanly();
  EXPECT_TRUE(IsEndNotice(b.receive(), 0, sb));
  EXPECT_TRUE(IsEndNotice(c.receive(), 0, sc));
  ASSERT_TRUE(b.reconnect(2, {3}, connected) && connected) << b.error();
  ASSERT_TRUE(c.reconnect(3, {2}, connected) && connected) << c.error();
  // A fourth goes to the oldest member left.
  Peer2 d = NewPeer2();
  ASSERT_NO_FATAL_FAILURE(Join2(d, key, 4, false));
  Up(d, 4, b, "d-offer");
  EXPECT_TRUE(ReceivedNothing(c.sync()));
}

TEST_F(Generation2Test, ALoneMemberThatBlocksIsClosed4744AndReplaced) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const std::string key = random_key("g4");
  Peer2 m, j;
  uint32_t s = 0;
  ASSERT_TRUE(FormPair2(port(), key, m, j, s));
  // Joining through m failed (netflux's tryAnother): j connects again with no members.
  bool connected = false;
  ASSERT_TRUE(j.reconnect(2, {}, connected)) << j.error();
  EXPECT_TRUE(connected) << "j replaces the member it tried";
  EXPECT_TRUE(IsClose(m.receive(), 4744));
  EXPECT_TRUE(IsEndNotice(j.receive(), 0, s)) << "its binding to m ended";
  // The group goes on with j as its member.
  Peer2 k = NewPeer2();
  ASSERT_NO_FATAL_FAILURE(Join2(k, key, 3, false));
  Up(k, 3, j, "k-offer");
}

TEST_F(Generation2Test, ALeavingPeerSendsAnEndNoticeDownEachBinding) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Peer2 m, j;
  uint32_t s = 0;
  ASSERT_TRUE(FormPair2(port(), random_key("g5"), m, j, s));
  j.close_cleanly();
  EXPECT_TRUE(IsEndNotice(m.receive(), s, 0)) << "joiner left";
  EXPECT_TRUE(ReceivedNothing(m.sync()));

  const std::string key = random_key("g6");
  ASSERT_TRUE(FormPair2(port(), key, m, j, s));
  m.close_cleanly();
  EXPECT_TRUE(IsEndNotice(j.receive(), 0, s)) << "member left";
  // No member left: j's next connect starts the group again.
  bool connected = false;
  ASSERT_TRUE(j.reconnect(2, {1}, connected)) << j.error();
  EXPECT_TRUE(connected);
}

TEST_F(Generation2Test, LastDataIsForwardedThenClosesItsDirection) {
  ASSERT_NO_FATAL_FAILURE(Start());
  Peer2 m, j;
  uint32_t s = 0;
  ASSERT_TRUE(FormPair2(port(), random_key("g7"), m, j, s));
  ASSERT_TRUE(j.send_content(2, 0, "last", /*last_data=*/true));
  EXPECT_TRUE(IsContent2(m.receive(), s, 0, "last")) << "forwarded without the flag";
  ASSERT_TRUE(j.send_content(2, 0, "dropped"));
  EXPECT_TRUE(ReceivedNothing(m.sync()));
  ASSERT_TRUE(m.send_content(0, s, "down still open"));
  EXPECT_TRUE(IsContent2(j.receive(), 0, s, "down still open"));
  j.close_cleanly();
  EXPECT_TRUE(ReceivedNothing(m.sync())) << "no end notice down a closed direction";
}

TEST_F(Generation2Test, MessagesThatClose4743) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const std::string key = random_key("g8");
  struct Bad {
    const char* what;
    std::string bytes;
    bool text = false;
  };
  const std::vector<Bad> after_connect = {
      {"text", "hello", true},
      {"connected from a peer (a generation-1 heartbeat)", std::string("\x20\x01", 2)},
      {"empty", ""},
      {"no known type", std::string("\x38\x01", 2)},
      {"not protobuf", std::string("\x12\x05\x08", 3)},
  };
  for (const Bad& bad : after_connect) {
    SCOPED_TRACE(bad.what);
    Peer2 p = NewPeer2();
    bool connected = false;
    ASSERT_TRUE(p.join(key, 7, connected)) << p.error();
    ASSERT_TRUE(bad.text ? p.ws().send_text(bad.bytes) : p.send_raw_message(bad.bytes));
    const Received2 got = p.receive();
    EXPECT_TRUE(IsClose(got, 4743));
    EXPECT_FALSE(got.close.reason.empty());
  }
  // A first message with a generation-2 first byte is generation 2's to close.
  Peer2 p = NewPeer2();
  ASSERT_TRUE(p.open(key));
  ASSERT_TRUE(p.send_raw_message(std::string("\x1a\x05\x08", 3)));
  EXPECT_TRUE(IsClose(p.receive(), 4743));
}

TEST_F(Generation2Test, InvalidKeysAreClosed4741AfterTheConnect) {
  ASSERT_NO_FATAL_FAILURE(Start());
  for (const std::string& key : {std::string(), std::string(513, 'k')}) {
    SCOPED_TRACE("key of " + std::to_string(key.size()) + " characters");
    ExpectClosedAtConnect(key, 4741);
  }
}

TEST_F(Generation2Test, FavoredMembersAreChosenFirst) {
  ASSERT_NO_FATAL_FAILURE(Start());
  const std::string key = random_key("g9");
  Peer2 a = NewPeer2(), bot = NewPeer2("x=1&favored"), c = NewPeer2();
  ASSERT_NO_FATAL_FAILURE(Join2(a, key, 1, true));
  ASSERT_NO_FATAL_FAILURE(Join2(bot, key, 2, false));
  Up(bot, 2, a, "bot-offer");
  bool connected = false;
  ASSERT_TRUE(bot.reconnect(2, {1}, connected) && connected) << bot.error();
  ASSERT_NO_FATAL_FAILURE(Join2(c, key, 3, false));
  Up(c, 3, bot, "to the favored member, not the oldest");
  EXPECT_TRUE(ReceivedNothing(a.sync()));
}

// ---- heartbeats ----

class Generation2HeartbeatTest : public Generation2Test {
 protected:
  void SetUp() override {
    Start({.protocol = {"heartbeat_interval = 0.3", "heartbeat_misses = 3"}});
  }
};

TEST_F(Generation2HeartbeatTest, AnsweringPeersStaySilentOnesAreClosed4742) {
  // A silent peer, meanwhile: two heartbeats, then the close on the third tick.
  Peer2 quiet = NewPeer2();
  bool connected = false;
  ASSERT_TRUE(quiet.join(random_key("hb"), 9, connected)) << quiet.error();
  Peer2 m, j;
  uint32_t s = 0;
  ASSERT_TRUE(FormPair2(port(), random_key("hb"), m, j, s));
  // m answers each heartbeat (08 01, its generation's) with true, j with false, which
  // counts as well: past the misses that close a silent peer, both stay.
  int seen = 0;
  std::vector<Received2> others;
  while (seen < 5) {
    Received2 got = m.receive(2s, /*keep_heartbeats=*/true);
    if (got.raw != std::string("\x08\x01", 2)) {
      const bool last = !got.is_message();
      others.push_back(std::move(got));
      if (last) break;
      continue;
    }
    ++seen;
    ASSERT_TRUE(m.send_heartbeat());
    ASSERT_TRUE(j.send_raw_message(std::string("\x08\x00", 2)));
  }
  EXPECT_EQ(seen, 5);
  EXPECT_TRUE(ReceivedNothing(others));
  ASSERT_TRUE(j.send_content(2, 0, "alive"));
  EXPECT_TRUE(IsContent2(m.receive(), s, 0, "alive"));
  const Received2 end = quiet.receive(3s);
  EXPECT_TRUE(IsClose(end, 4742));
  EXPECT_EQ(quiet.heartbeats_seen(), 2);
}

// ---- limits ----

TEST_F(Generation2Test, APeerOverMaxPeersPerKeyIsClosed1013) {
  Start({.limits = {"max_peers_per_key = 2"}});
  const std::string key = random_key("full");
  Peer2 m, j;
  uint32_t s = 0;
  ASSERT_TRUE(FormPair2(port(), key, m, j, s));
  ExpectClosedAtConnect(key, 1013);
  EXPECT_TRUE(ReceivedNothing(m.sync())) << "the group is untouched";
  ASSERT_TRUE(j.send_content(2, 0, "still"));
  EXPECT_TRUE(IsContent2(m.receive(), s, 0, "still"));
  EXPECT_TRUE(WaitForLog("limit max_peers_per_key"));
}

TEST_F(Generation2Test, APeerOverTheMessageRateIsClosed1008) {
  Start({.limits = {"max_messages_per_second = 20", "messages_burst = 10"}});
  Peer2 m, j;
  uint32_t s = 0;
  ASSERT_TRUE(FormPair2(port(), random_key("rate"), m, j, s));
  for (int i = 0; i < 100; ++i) {
    if (!j.send_heartbeat()) break;  // closed meanwhile
  }
  const CloseResult closed = j.ws().wait_close(5s);
  EXPECT_TRUE(IsClose(closed, 1008));
  EXPECT_EQ(closed.close.reason, "too many messages");
  EXPECT_TRUE(IsEndNotice(m.receive(), s, 0)) << "its member is told";
  EXPECT_TRUE(WaitForLog("limit max_messages_per_second"));
}

// ---- wss:// ----

TEST_F(Generation2Test, APairRelaysOverTls) {
  testcerts::TestCerts certs;
  std::string error;
  ASSERT_TRUE(certs.create(error)) << error;
  const uint16_t tls_port = find_free_port();
  ASSERT_NO_FATAL_FAILURE(Start(
      {.server = {"listen_tls = 127.0.0.1:" + std::to_string(tls_port), "[tls]",
                  "certificate = " + certs.server_cert(), "certificate_key = " + certs.server_key(),
                  "ca = " + certs.intermediate()}}));
  TlsProxy wss(tls_port, certs.ca());
  ASSERT_TRUE(wss.ok());
  Peer2 m, j;
  uint32_t s = 0;
  ASSERT_TRUE(FormPair2(wss.port(), random_key("tls"), m, j, s));
  ASSERT_TRUE(j.send_content(2, 0, std::string(70000, 'u')));  // over several TLS records
  EXPECT_TRUE(IsContent2(m.receive(), s, 0, std::string(70000, 'u')));
  m.close_cleanly();
  EXPECT_TRUE(IsEndNotice(j.receive(), 0, s));
  EXPECT_TRUE(wss.wait_session(0).verified);
}

}  // namespace
}  // namespace sigver::itest
