// Heartbeats with a short configured interval: the server ticks, an answering peer stays,
// a silent one is closed with 4002 after `heartbeat_misses` ticks (spec "Heartbeat").
#include <chrono>

#include "support/harness.h"

namespace sigver::itest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr double kIntervalSeconds = 0.2;
constexpr int kMisses = 3;

class HeartbeatTest : public SigverTest {
 protected:
  void SetUp() override {
    Start({.protocol = {"heartbeat_interval = 0.2", "heartbeat_misses = 3"}});
  }

  // Answers every heartbeat for `duration`; returns how many arrived. Anything else that
  // arrives is collected in `others`.
  int AnswerHeartbeats(Peer& peer, Millis duration, std::vector<Received>& others) {
    int count = 0;
    const auto end = Clock::now() + duration;
    while (Clock::now() < end) {
      const auto left = std::chrono::duration_cast<Millis>(end - Clock::now());
      Received got = peer.receive(left, /*keep_heartbeats=*/true);
      if (got.kind == Received::Kind::kTimeout) break;
      if (got.is_message() && got.message.type_case() == pb::Message::kHeartbeat) {
        EXPECT_TRUE(got.message.heartbeat()) << got.describe();
        ++count;
        peer.send(heartbeat_message());
        continue;
      }
      const bool final = got.kind != Received::Kind::kMessage;
      others.push_back(std::move(got));
      if (final) break;
    }
    return count;
  }
};

TEST_F(HeartbeatTest, ServerSendsHeartbeatsAtTheConfiguredInterval) {
  Peer peer = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(peer, random_key(), true));
  std::vector<Received> others;
  const int count = AnswerHeartbeats(peer, Millis(1500), others);
  // 1.5 s at 0.2 s is 7 ticks; the bounds only tell "it follows the setting, not 5 s".
  EXPECT_GE(count, 3) << "heartbeats in 1.5 s with interval " << kIntervalSeconds << " s";
  EXPECT_LE(count, 15);
  EXPECT_TRUE(ReceivedNothing(others));
}

TEST_F(HeartbeatTest, AnsweringPeerStaysConnectedPastManyIntervals) {
  Peer peer = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(peer, random_key(), true));
  std::vector<Received> others;
  const int count = AnswerHeartbeats(peer, Millis(2000), others);  // 10 intervals
  EXPECT_GE(count, kMisses + 1);
  EXPECT_TRUE(ReceivedNothing(others)) << "an answering peer must not be closed";
  // Still fully usable.
  ASSERT_TRUE(peer.send(heartbeat_message()));
  EXPECT_TRUE(ReceivedNothing(peer.sync()));
}

TEST_F(HeartbeatTest, SilentPeerIsClosedWith4002AfterMissedTicks) {
  Peer silent = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(silent, random_key(), true));
  const auto started = Clock::now();
  Received got = silent.receive(Millis(5000));  // heartbeats are skipped, never answered
  const auto waited = std::chrono::duration_cast<Millis>(Clock::now() - started);
  EXPECT_TRUE(IsClose(got, 4002));
  EXPECT_FALSE(got.close.reason.empty()) << "4002 should carry a reason";
  // It was warned by the ticks it missed before being closed.
  EXPECT_GE(silent.heartbeats_seen(), kMisses - 1) << "closed after " << waited.count() << " ms";
  EXPECT_TRUE(silent.ws().wait_eof());
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(HeartbeatTest, SilentMemberClosedBy4002EndsItsJoinersBinding) {
  const std::string key = random_key();
  Peer member = NewPeer(), joiner = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
  ASSERT_NO_FATAL_FAILURE(Join(joiner, key, false));
  std::vector<Received> others;
  AnswerHeartbeats(joiner, Millis(2500), others);  // long enough for the member to be closed
  ASSERT_FALSE(others.empty()) << "the joiner should have been told its member left";
  EXPECT_TRUE(IsFlags(others.front(), 0, false, true));
  EXPECT_TRUE(IsClose(member.receive(Millis(100)), 4002));
}

TEST_F(HeartbeatTest, PeerThatStopsAnsweringIsClosedToo) {
  Peer peer = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(peer, random_key(), true));
  std::vector<Received> others;
  EXPECT_GE(AnswerHeartbeats(peer, Millis(1000), others), 2);
  ASSERT_TRUE(ReceivedNothing(others));
  EXPECT_TRUE(IsClose(peer.receive(Millis(5000)), 4002));
}

}  // namespace
}  // namespace sigver::itest
