// One port, two generations (protocol-v2.md) through the real binary: a silent client is
// generation 1 after the detection wait, a first message decides however it is cut into
// frames or TCP segments (or rides with the upgrade request), a heartbeat first decides like
// any message, late generation 2, both generations on one key as two groups, invalid keys,
// one generation configured, and `generations` changed by HUP.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/mixed_pairs.h"
#include "support/sigver2_peer.h"

namespace sigver::itest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kIsFirstTrue("\x10\x01", 2);
const std::string kGen1Heartbeat("\x20\x01", 2);
const std::string kGen2Heartbeat("\x08\x01", 2);

// heartbeat_interval 1 s holds detect_timeout_max at 0.5 s: the wait is 0.5 s (loopback's
// round trips are far shorter), and the first heartbeat falls 1 s after it.
constexpr auto kDetectWait = 500ms;

class GenerationsTest : public SigverTest {
 protected:
  void StartDetecting(const std::string& generations = "1 2") {
    Start({.protocol = {"generations = " + generations, "heartbeat_interval = 1",
                        "detect_timeout_min = 0.5", "detect_timeout_max = 1"}});
  }
  // A longer wait, for first messages written in pieces: they must not lose the race with
  // the detection on a loaded machine. No test here waits for its end.
  void StartDetectingSlowly() {
    Start({.protocol = {"heartbeat_interval = 5", "detect_timeout_min = 2",
                        "detect_timeout_max = 2"}});
  }
  Peer2 NewPeer2() const { return Peer2(port()); }
  // A generation-1 pair and a generation-2 pair on `key`, both first of their group.
  void FormBoth(const std::string& key, MixedPairs& pairs) {
    pairs.key = key;
    ASSERT_NO_FATAL_FAILURE(MakePair(pairs.m1, pairs.j1, pairs.id1, key));
    ASSERT_TRUE(FormPair2(port(), key, pairs.m2, pairs.j2, pairs.id2));
  }
  // The frame of a connect{id} as a client sends it.
  static std::string ConnectFrame(uint32_t id) {
    return encode_frame(opcode::kBinary, connect_message(id).SerializeAsString());
  }
  // Upgrades on `key`, then writes `bytes` one byte per TCP segment (the client sets
  // TCP_NODELAY).
  void OpenAndTrickle(WsClient& ws, const std::string& key, const std::string& bytes) const {
    ASSERT_TRUE(ws.open(port(), "/" + key)) << ws.last_error();
    for (char c : bytes) {
      ASSERT_TRUE(ws.send_raw(std::string(1, c)));
      std::this_thread::sleep_for(2ms);
    }
  }
  // The upgrade request of `key` and `frames` in one write, then the 101.
  static void UpgradeWithFrames(WsClient& ws, uint16_t to, const std::string& key,
                                const std::string& frames) {
    ASSERT_TRUE(ws.connect(to));
    ASSERT_TRUE(ws.send_raw(WsClient::upgrade_request("/" + key) + frames));
    ASSERT_EQ(ws.read_http_response().status, 101);
  }
};

TEST_F(GenerationsTest, ASilentClientIsGeneration1AfterTheWaitAndBeforeAnyHeartbeat) {
  ASSERT_NO_FATAL_FAILURE(StartDetecting());
  const std::string key = random_key("quiet");
  Peer first = NewPeer(), second = NewPeer();
  ASSERT_TRUE(first.open(key)) << first.error();
  const auto opened = Clock::now();
  ASSERT_TRUE(second.open(key)) << second.error();
  // A control frame decides nothing: answered, and the wait goes on.
  ASSERT_TRUE(first.ws().send_ping("still deciding"));
  const Received pong = first.receive(1s);
  EXPECT_TRUE(pong.kind == Received::Kind::kPong && pong.raw == "still deciding")
      << pong.describe();
  const Received is_first = first.receive(3s, /*keep_heartbeats=*/true);
  EXPECT_GE(Clock::now() - opened, kDetectWait - 50ms) << "isFirst before the wait ended";
  EXPECT_TRUE(IsIsFirst(is_first, true)) << "isFirst, not a heartbeat, comes first";
  EXPECT_EQ(is_first.raw, kIsFirstTrue);
  EXPECT_TRUE(IsIsFirst(second.receive(3s, true), false));
  // They are a generation-1 group.
  ASSERT_TRUE(second.send_content(0, "offer"));
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(first, "offer", id));
  ASSERT_TRUE(first.send_content(id, "answer"));
  EXPECT_TRUE(IsContent(second.receive(), 0, "answer"));
  // Heartbeats are generation 1's.
  const Received beat = first.receive(3s, true);
  EXPECT_EQ(beat.raw, kGen1Heartbeat) << beat.describe();
}

TEST_F(GenerationsTest, AFirstMessageCutIntoFragmentsDecides) {
  ASSERT_NO_FATAL_FAILURE(StartDetectingSlowly());
  const std::string key = random_key("frag");
  // Generation 2: connect{id: 9} in three fragments with a ping between them, its first
  // fragment holding the deciding byte alone.
  const std::string connect = connect_message(9).SerializeAsString();
  Peer2 two = NewPeer2();
  ASSERT_TRUE(two.open(key));
  ASSERT_TRUE(two.ws().send_frame(opcode::kBinary, connect.substr(0, 1), {.fin = false}));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(two.ws().send_frame(opcode::kContinuation, connect.substr(1, 2), {.fin = false}));
  ASSERT_TRUE(two.ws().send_ping("between"));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(two.ws().send_frame(opcode::kContinuation, connect.substr(3)));
  const Received2 pong = two.receive();
  EXPECT_EQ(pong.kind, Received::Kind::kPong) << pong.describe();
  EXPECT_TRUE(IsConnected(two.receive(), true));
  // Generation 1: its heartbeat 20 | 01 in two fragments.
  Peer one = NewPeer();
  ASSERT_TRUE(one.open(key));
  ASSERT_TRUE(one.ws().send_frame(opcode::kBinary, kGen1Heartbeat.substr(0, 1), {.fin = false}));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(one.ws().send_frame(opcode::kContinuation, kGen1Heartbeat.substr(1)));
  EXPECT_TRUE(IsIsFirst(one.receive(), true)) << "the first of its own generation's group";
}

TEST_F(GenerationsTest, AFirstMessageCutIntoTcpSegmentsDecides) {
  ASSERT_NO_FATAL_FAILURE(StartDetectingSlowly());
  const std::string key = random_key("seg");
  Peer2 two = NewPeer2(), two_joiner = NewPeer2();
  Peer one = NewPeer(), one_joiner = NewPeer();
  ASSERT_NO_FATAL_FAILURE(OpenAndTrickle(two.ws(), key, ConnectFrame(0x12345678)));
  EXPECT_TRUE(IsConnected(two.receive(), true));
  ASSERT_NO_FATAL_FAILURE(
      OpenAndTrickle(one.ws(), key, encode_frame(opcode::kBinary, kGen1Heartbeat)));
  EXPECT_TRUE(IsIsFirst(one.receive(), true));
  // A joiner of each: bound to their own generation's member.
  ASSERT_NO_FATAL_FAILURE(OpenAndTrickle(two_joiner.ws(), key, ConnectFrame(2)));
  EXPECT_TRUE(IsConnected(two_joiner.receive(), false));
  ASSERT_NO_FATAL_FAILURE(
      OpenAndTrickle(one_joiner.ws(), key,
                     encode_frame(opcode::kBinary, content_message(0, "up").SerializeAsString())));
  EXPECT_TRUE(IsIsFirst(one_joiner.receive(), false));
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(one, "up", id));
  EXPECT_TRUE(ReceivedNothing(two.sync()));
}

TEST_F(GenerationsTest, AFirstMessageBehindTheUpgradeRequestDecides) {
  ASSERT_NO_FATAL_FAILURE(StartDetectingSlowly());
  const std::string key = random_key("early");
  Peer2 two = NewPeer2();
  ASSERT_NO_FATAL_FAILURE(UpgradeWithFrames(two.ws(), port(), key, ConnectFrame(1)));
  EXPECT_TRUE(IsConnected(two.receive(), true));
  Peer one = NewPeer();
  ASSERT_NO_FATAL_FAILURE(
      UpgradeWithFrames(one.ws(), port(), key, encode_frame(opcode::kBinary, kGen1Heartbeat)));
  EXPECT_TRUE(IsIsFirst(one.receive(), true));
}

TEST_F(GenerationsTest, AHeartbeatFirstDecidesForItsGeneration) {
  ASSERT_NO_FATAL_FAILURE(StartDetecting());
  const std::string key = random_key("beat");
  Peer2 two = NewPeer2();
  ASSERT_TRUE(two.open(key));
  ASSERT_TRUE(two.send_heartbeat());
  Peer one = NewPeer();
  ASSERT_TRUE(one.open(key));
  ASSERT_TRUE(one.send(heartbeat_message()));
  // Generation 1's: isFirst at once, then 20 01 heartbeats.
  EXPECT_TRUE(IsIsFirst(one.receive(), true));
  const Received beat1 = one.receive(3s, /*keep_heartbeats=*/true);
  EXPECT_EQ(beat1.raw, kGen1Heartbeat) << beat1.describe();
  // Generation 2's: no isFirst ever, the server's heartbeats are 08 01, and the connect that
  // follows joins generation 2 (as its group's first: generation 1's member is not one).
  const Received2 beat2 = two.receive(3s, /*keep_heartbeats=*/true);
  EXPECT_EQ(beat2.raw, kGen2Heartbeat) << beat2.describe();
  bool connected = false;
  ASSERT_TRUE(two.reconnect(1, {}, connected)) << two.error();
  EXPECT_TRUE(connected);
}

TEST_F(GenerationsTest, LateGeneration2LeavesGeneration1ForItsOwnGroup) {
  ASSERT_NO_FATAL_FAILURE(StartDetecting());
  const std::string key = random_key("late");
  Peer member = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
  // A netflux 4 whose connect comes after the wait: it was made generation 1 and bound.
  Peer2 late = NewPeer2();
  ASSERT_TRUE(late.open(key));
  const Received2 is_first = late.receive(3s);
  EXPECT_EQ(is_first.raw, std::string("\x10\x00", 2)) << is_first.describe();
  bool connected = false;
  ASSERT_TRUE(late.reconnect(5, {}, connected)) << late.error();
  EXPECT_TRUE(connected) << "the first of generation 2's group";
  const Received notice = member.receive();
  EXPECT_TRUE(notice.is_content() && notice.content().id() != 0) << notice.describe();
  EXPECT_TRUE(IsFlags(notice, notice.content().id(), false, true)) << "its binding ended";
  // The two generations' groups go on apart.
  Peer2 joiner = NewPeer2();
  bool joined = true;
  ASSERT_TRUE(joiner.join(key, 6, joined)) << joiner.error();
  EXPECT_FALSE(joined);
  ASSERT_TRUE(joiner.send_content(6, 0, "to the late one"));
  const Received2 up = late.receive();
  EXPECT_TRUE(up.is_content() && up.content().data() == "to the late one") << up.describe();
  EXPECT_TRUE(ReceivedNothing(member.sync()));
}

TEST_F(GenerationsTest, BothGenerationsOnOneKeyAreTwoGroups) {
  ASSERT_NO_FATAL_FAILURE(StartDetecting());
  MixedPairs both;
  ASSERT_NO_FATAL_FAILURE(FormBoth(random_key("both"), both));
  Peer silent = NewPeer();  // generation 1 by silence: bound to m1, not m2
  ASSERT_TRUE(silent.open(both.key));
  EXPECT_TRUE(IsIsFirst(silent.receive(3s), false));
  ASSERT_TRUE(silent.send_content(0, "silent-up"));
  uint32_t silent_id = 0;
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(both.m1, "silent-up", silent_id));
  // A member's routing id of the other generation reaches nobody.
  ASSERT_TRUE(both.m1.send_content(both.id2, "cross-1"));
  ASSERT_TRUE(both.m2.send_content(0, both.id1, "cross-2"));
  EXPECT_TRUE(SendNumbered(both, 3));
  EXPECT_TRUE(ReceiveNumbered(both));
  EXPECT_TRUE(NothingMore(both));
  // Generation 1's member leaves: its joiners are told, generation 2's peers are not.
  both.m1.close_cleanly();
  EXPECT_TRUE(IsFlags(both.j1.receive(), 0, false, true));
  EXPECT_TRUE(IsFlags(silent.receive(), 0, false, true));
  EXPECT_TRUE(ReceivedNothing(both.m2.sync()));
  EXPECT_TRUE(ReceivedNothing(both.j2.sync()));
  ASSERT_TRUE(both.m2.send_content(0, both.id2, "g2-still"));
  EXPECT_TRUE(IsContent2(both.j2.receive(), 0, both.id2, "g2-still"));
}

TEST_F(GenerationsTest, AnInvalidKeyIsClosedWithTheDecidedGenerationsCode) {
  ASSERT_NO_FATAL_FAILURE(StartDetecting());
  const std::string long_key(513, 'k');
  Peer silent = NewPeer();
  ASSERT_TRUE(silent.open(long_key));
  const Received after_wait = silent.receive(3s);
  EXPECT_TRUE(IsClose(after_wait, 4001)) << "generation 1 by silence";
  Peer one = NewPeer();
  ASSERT_TRUE(one.open(long_key));
  ASSERT_TRUE(one.send(heartbeat_message()));
  EXPECT_TRUE(IsClose(one.receive(), 4001));
  Peer2 two = NewPeer2();
  ASSERT_TRUE(two.open(long_key));
  ASSERT_TRUE(two.send_connect(1));
  EXPECT_TRUE(IsClose(two.receive(), 4741));
}

// ---- one generation configured ----

TEST_F(GenerationsTest, Generation1OnlyTreatsAGeneration2ClientAsGeneration1) {
  ASSERT_NO_FATAL_FAILURE(StartDetecting("1"));
  // Its connect rides with the upgrade: were detection on, it would decide generation 2.
  Peer2 two = NewPeer2();
  ASSERT_NO_FATAL_FAILURE(
      UpgradeWithFrames(two.ws(), port(), random_key("g1only"), ConnectFrame(1)));
  const Received2 first = two.receive();
  EXPECT_EQ(first.raw, kIsFirstTrue) << "joined at once as generation 1: " << first.describe();
  // protocol.md ignores a valid message of fields it lacks: the connect does nothing, the
  // peer stays (and would read the next 20 01 heartbeat as connected=true).
  EXPECT_TRUE(ReceivedNothing(two.sync()));
  ASSERT_TRUE(two.send_connect(1, {2}));
  const Received2 beat = two.receive(3s, /*keep_heartbeats=*/true);
  EXPECT_EQ(beat.raw, kGen1Heartbeat) << beat.describe();
}

TEST_F(GenerationsTest, Generation2OnlyClosesAGeneration1Client) {
  ASSERT_NO_FATAL_FAILURE(StartDetecting("2"));
  const std::string key = random_key("g2only");
  // netflux 3 speaking first: its heartbeat is a connected here, which closes.
  Peer one = NewPeer();
  ASSERT_TRUE(one.open(key));
  ASSERT_TRUE(one.send(heartbeat_message()));
  const Received closed = one.receive();
  EXPECT_TRUE(IsClose(closed, 4743)) << closed.describe();
  // netflux 3 waiting for isFirst gets none: only generation 2's heartbeats.
  Peer waiting = NewPeer();
  ASSERT_TRUE(waiting.open(key));
  const Received beat = waiting.receive(3s, /*keep_heartbeats=*/true);
  EXPECT_EQ(beat.raw, kGen2Heartbeat) << beat.describe();
  Peer2 m, j;
  uint32_t id = 0;
  ASSERT_TRUE(FormPair2(port(), key, m, j, id));
  // Back to both, for the fixture's generation-1 health check.
  RewriteConfigAndReload("generations = 2", "generations = 1 2");
  ASSERT_TRUE(WaitForLog("worker 0: configuration reloaded"));
}

TEST_F(GenerationsTest, HupChangesTheGenerationsOfNewPeersOnly) {
  ASSERT_NO_FATAL_FAILURE(StartDetecting());
  MixedPairs both;
  const std::string& key = both.key;
  ASSERT_NO_FATAL_FAILURE(FormBoth(random_key("hup"), both));
  // The groups formed before a change keep their generation.
  const auto both_relay = [&](const char* round) {
    EXPECT_TRUE(SendNumbered(both, 2)) << round;
    EXPECT_TRUE(ReceiveNumbered(both)) << round;
  };

  RewriteConfigAndReload("generations = 1 2", "generations = 2");
  ASSERT_TRUE(WaitForLog("worker 0: configuration reloaded", 1));
  both_relay("generation 2 only");
  Peer one = NewPeer();
  ASSERT_TRUE(one.open(key));
  ASSERT_TRUE(one.send(heartbeat_message()));
  EXPECT_TRUE(IsClose(one.receive(), 4743));
  Peer2 two = NewPeer2();
  bool connected = true;
  ASSERT_TRUE(two.join(key, 3, connected)) << two.error();
  EXPECT_FALSE(connected) << "joins generation 2's group";

  RewriteConfigAndReload("generations = 2", "generations = 1");
  ASSERT_TRUE(WaitForLog("worker 0: configuration reloaded", 2));
  both_relay("generation 1 only");
  Peer2 refused = NewPeer2();
  ASSERT_NO_FATAL_FAILURE(UpgradeWithFrames(refused.ws(), port(), key, ConnectFrame(4)));
  EXPECT_EQ(refused.receive().raw, std::string("\x10\x00", 2)) << "a generation-1 joiner";
  Peer joiner = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(joiner, key, false));

  RewriteConfigAndReload("generations = 1", "generations = 1 2");
  ASSERT_TRUE(WaitForLog("worker 0: configuration reloaded", 3));
  both_relay("both again");
  Peer silent = NewPeer();
  ASSERT_TRUE(silent.open(random_key("hup")));
  EXPECT_TRUE(IsIsFirst(silent.receive(3s), true)) << "detection again";
  Peer2 again = NewPeer2();
  ASSERT_TRUE(again.join(key, 5, connected)) << again.error();
  EXPECT_FALSE(connected);
}

}  // namespace
}  // namespace sigver::itest
