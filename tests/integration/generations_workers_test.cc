// Both generations across 4 workers: generation-2 connections land on any worker and are
// handed off to their key's owner (also with their connect read along with the request),
// and a live worker_processes change (4 -> 3 -> 4) moves the groups of both generations and
// the peers still undecided on a key, with every message delivered once and in order.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support/mixed_pairs.h"
#include "support/multiworker_fixture.h"

namespace sigver::itest {
namespace {

using namespace std::chrono_literals;

class GenerationsWorkersTest : public MultiWorkerTest {
 protected:
  void FormBoth(const std::string& key, MixedPairs& pairs) {
    pairs.key = key;
    ASSERT_NO_FATAL_FAILURE(MakePair(pairs.m1, pairs.j1, pairs.id1, key));
    ASSERT_TRUE(FormPair2(port(), key, pairs.m2, pairs.j2, pairs.id2));
  }
};

TEST_F(GenerationsWorkersTest, Generation2PeersAreHandedOffToTheirKeysWorker) {
  ASSERT_NO_FATAL_FAILURE(StartWorkers());
  for (int i = 0; i < 2 * kWorkers; ++i) {
    const int owner = i % kWorkers;
    const std::string key = KeyOwnedBy(owner, kWorkers, "h2");
    SCOPED_TRACE(key + " of worker " + std::to_string(owner));
    Peer2 m, j;
    uint32_t s = 0;
    ASSERT_TRUE(FormPair2(port(), key, m, j, s));
    // A third peer writes its connect and a content with the request: the owner reads them
    // from the bytes handed off with the connection.
    Peer2 third(port());
    ASSERT_TRUE(third.ws().connect(port()));
    ASSERT_TRUE(third.ws().send_raw(
        WsClient::upgrade_request("/" + key) +
        encode_frame(opcode::kBinary, connect_message(3).SerializeAsString()) +
        encode_frame(opcode::kBinary, content2_message(3, 0, "early").SerializeAsString())));
    ASSERT_EQ(third.ws().read_http_response().status, 101);
    EXPECT_TRUE(IsConnected(third.receive(), false));
    const Received2 early = m.receive();
    ASSERT_TRUE(early.is_content()) << early.describe();
    const uint32_t third_id = early.content().senderid();
    EXPECT_NE(third_id, s);
    EXPECT_TRUE(IsContent2(early, third_id, 0, "early"));
    ASSERT_TRUE(m.send_content(0, third_id, "late"));
    EXPECT_TRUE(IsContent2(third.receive(), 0, third_id, "late"));
    EXPECT_TRUE(ReceivedNothing(j.sync()));
  }
  // 24 connections over 4 workers: some landed elsewhere than their key's owner, and each
  // was adopted once (the log lines of two processes: waited for, not read at once).
  size_t sent = 0, adopted = 0;
  WaitUntil(
      [&] {
        const std::string log = server().log_text();
        sent = LinesContaining(log, "handed off a connection to worker ").size();
        adopted = LinesContaining(log, "adopted a connection from another worker").size();
        return sent > 0 && adopted == sent;
      },
      5s);
  EXPECT_GT(sent, 0u);
  EXPECT_EQ(adopted, sent);
}

TEST_F(GenerationsWorkersTest, WorkerCountChangesMoveBothGenerationsAndUndecidedPeers) {
  // A silent peer stays undecided for 1.5 s: long enough to be moved while it waits.
  ASSERT_NO_FATAL_FAILURE(
      StartWorkers({.protocol = {"heartbeat_misses = 100", "detect_timeout_min = 1.5",
                                 "detect_timeout_max = 1.5"}}));
  std::vector<std::unique_ptr<MixedPairs>> groups;
  std::vector<MixedPairs*> moving;  // keys of worker 3 of 4: they move on 4 -> 3 and back
  for (int i = 0; i < 2 * kWorkers; ++i) {
    const int owner = i % kWorkers;
    auto& g = *groups.emplace_back(std::make_unique<MixedPairs>());
    ASSERT_NO_FATAL_FAILURE(FormBoth(KeyOwnedBy(owner, kWorkers, "mv"), g));
    ASSERT_TRUE(SendNumbered(g, 3));
    ASSERT_TRUE(ReceiveNumbered(g));
    if (owner == kWorkers - 1) moving.push_back(&g);
  }
  struct Change {
    const char* from;
    const char* to;
    const char* logged;  // by each worker of the old count
    size_t old_count;
  };
  for (const Change& change :
       {Change{"worker_processes = 4", "worker_processes = 3", "worker count 4 -> 3,", 4},
        Change{"worker_processes = 3", "worker_processes = 4", "worker count 3 -> 4,", 3}}) {
    SCOPED_TRACE(change.to);
    // A silent client of each generation on every moving key, then messages in flight.
    std::vector<Peer> silent1;
    std::vector<Peer2> silent2;
    for (MixedPairs* g : moving) {
      ASSERT_TRUE(silent1.emplace_back(port()).open(g->key));
      ASSERT_TRUE(silent2.emplace_back(port()).open(g->key));
    }
    for (auto& g : groups) ASSERT_TRUE(SendNumbered(*g, 5));
    RewriteConfigAndReload(change.from, change.to);
    ASSERT_TRUE(WaitForLogLines(change.logged, change.old_count)) << server().log_text();
    // Still undecided where its key went (nothing sent to it), a client that speaks
    // generation 2 joins generation 2's group there, bound to its oldest member: checked at
    // once, well within the wait that started again there.
    for (Peer2& waiting : silent2) {
      EXPECT_TRUE(ReceivedNothing(waiting.sync()));
      bool connected = true;
      ASSERT_TRUE(waiting.reconnect(7, {}, connected)) << waiting.error();
      EXPECT_FALSE(connected);
      ASSERT_TRUE(waiting.send_content(7, 0, "undecided-2"));
    }
    // The messages in flight across the change, then the undecided one's at its member.
    for (auto& g : groups) EXPECT_TRUE(ReceiveNumbered(*g));
    std::vector<uint32_t> bindings;
    for (MixedPairs* g : moving) {
      const Received2 up = g->m2.receive();
      ASSERT_TRUE(up.is_content()) << up.describe();
      bindings.push_back(up.content().senderid());
      EXPECT_TRUE(IsContent2(up, bindings.back(), 0, "undecided-2"));
    }
    for (auto& g : groups) {
      ASSERT_TRUE(SendNumbered(*g, 5));
      EXPECT_TRUE(ReceiveNumbered(*g));
    }
    // The silent one is generation 1 there once the wait is over, bound to m1.
    for (size_t k = 0; k < moving.size(); ++k) {
      MixedPairs& g = *moving[k];
      SCOPED_TRACE(g.key);
      EXPECT_TRUE(IsIsFirst(silent1[k].receive(5s), false));
      ASSERT_TRUE(silent1[k].send_content(0, "undecided-1"));
      uint32_t id = 0;
      ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(g.m1, "undecided-1", id));
      silent1[k].close_cleanly();
      EXPECT_TRUE(IsFlags(g.m1.receive(), id, false, true));
      silent2[k].close_cleanly();
      EXPECT_TRUE(IsEndNotice(g.m2.receive(), bindings[k], 0));
    }
  }
  // Each moving key went twice with its six peers: both pairs and the two waiting ones.
  EXPECT_TRUE(WaitForLog("installed a group of 6 peers", 2 * moving.size())) << "no group moved";
  for (auto& g : groups) EXPECT_TRUE(NothingMore(*g));
}

TEST_F(GenerationsWorkersTest, AKeyOfMorePeersThanMaxPeersPerKeyAcrossGenerationsMovesWhole) {
  // max_peers_per_key counts each generation's group: 600 + 500 peers on one key are within
  // it, and the key's move on a worker count change must carry all 1100.
  ASSERT_NO_FATAL_FAILURE(StartWorkers(
      {.protocol = {"heartbeat_misses = 100"}, .limits = {"max_peers_per_key = 600"}}));
  const std::string key = KeyOwnedBy(kWorkers - 1, kWorkers, "big");
  std::vector<Peer> ones(600);
  for (size_t i = 0; i < ones.size(); ++i) {
    ones[i] = NewPeer();
    ASSERT_NO_FATAL_FAILURE(Join(ones[i], key, i == 0));
  }
  std::vector<Peer2> twos(500);
  for (size_t i = 0; i < twos.size(); ++i) {
    twos[i] = Peer2(port());
    bool connected = i != 0;
    ASSERT_TRUE(twos[i].join(key, static_cast<uint32_t>(i + 1), connected)) << twos[i].error();
    ASSERT_EQ(connected, i == 0);
  }
  RewriteConfigAndReload("worker_processes = 4", "worker_processes = 3");
  ASSERT_TRUE(WaitForLogLines("worker count 4 -> 3,", kWorkers));
  ASSERT_TRUE(WaitForLog("installed a group of 1100 peers", 1, 5s)) << "refused?";
  EXPECT_TRUE(LinesContaining(server().log_text(), "refused").empty());
  ASSERT_TRUE(ones.back().send_content(0, "last-1"));
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(ones.front(), "last-1", id));
  ASSERT_TRUE(ones.front().send_content(id, "back-1"));
  EXPECT_TRUE(IsContent(ones.back().receive(), 0, "back-1"));
  ASSERT_TRUE(twos.back().send_content(500, 0, "last-2"));
  const Received2 up = twos.front().receive();
  ASSERT_TRUE(up.is_content()) << up.describe();
  ASSERT_TRUE(twos.front().send_content(1, up.content().senderid(), "back-2"));
  EXPECT_TRUE(IsContent2(twos.back().receive(), 0, up.content().senderid(), "back-2"));
}

}  // namespace
}  // namespace sigver::itest
