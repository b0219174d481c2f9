// HUP with a new worker count or listen address while groups are live: nothing is dropped,
// every group stays on one worker (a later joiner is bound to the group's oldest member),
// and relays keep their routing ids.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"

namespace sigver::itest {
namespace {

using namespace std::chrono_literals;

struct LiveGroup {
  std::string key;
  Peer member, joiner;
  uint32_t id = 0;
};

class LiveReloadTest : public SigverTest {
 protected:
  void StartWith(int workers) {
    Start(ServerConfig{{"worker_processes = " + std::to_string(workers)},
                       {"heartbeat_misses = 100"}});
  }
  void MakeGroups(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      auto g = std::make_unique<LiveGroup>();
      g->key = random_key("live");
      g->member = NewPeer();
      g->joiner = NewPeer();
      MakePair(g->member, g->joiner, g->id, g->key);
      groups.push_back(std::move(g));
    }
  }
  // Every group relays both ways with its old id, and a new peer joins through the oldest
  // member: the group is whole on one worker.
  void ExpectGroupsWhole(const std::string& round, uint16_t join_port) {
    for (auto& g : groups) {
      SCOPED_TRACE(g->key + " " + round);
      ASSERT_TRUE(g->joiner.send_content(0, "up-" + round));
      EXPECT_TRUE(IsContent(g->member.receive(), g->id, "up-" + round));
      ASSERT_TRUE(g->member.send_content(g->id, "down-" + round));
      EXPECT_TRUE(IsContent(g->joiner.receive(), 0, "down-" + round));
      Peer late(join_port);
      bool first = true;
      ASSERT_TRUE(late.join(g->key, first)) << late.error();
      EXPECT_FALSE(first);
      ASSERT_TRUE(late.send_content(0, "late-" + round));
      Received got = g->member.receive();
      ASSERT_TRUE(got.is_content()) << got.describe();
      EXPECT_EQ(got.content().data(), "late-" + round);
      EXPECT_NE(got.content().id(), g->id);
      late.close_cleanly();
      EXPECT_TRUE(IsFlags(g->member.receive(), got.content().id(), false, true));
    }
  }

  std::vector<std::unique_ptr<LiveGroup>> groups;
};

TEST_F(LiveReloadTest, MoreThenFewerWorkersKeepEveryGroupWhole) {
  StartWith(2);
  MakeGroups(24);
  ExpectGroupsWhole("before", port());

  RewriteConfigAndReload("worker_processes = 2", "worker_processes = 4");
  ASSERT_TRUE(WaitForLog("worker count 2 -> 4,", 2)) << server().log_text();
  ExpectGroupsWhole("grown", port());
  EXPECT_TRUE(WaitForLog("installed a group of")) << "no group moved: " << server().log_text();

  RewriteConfigAndReload("worker_processes = 4", "worker_processes = 1");
  ASSERT_TRUE(WaitForLog("worker count 4 -> 1,", 4)) << server().log_text();
  ExpectGroupsWhole("shrunk", port());
  // The three retired workers exit and are not restarted.
  EXPECT_TRUE(WaitForLog("retired by the new worker count", 3));
  EXPECT_TRUE(WaitForLog("exited with code 0", 3)) << server().log_text();
  EXPECT_EQ(server().log_text().find("restarting it"), std::string::npos);
  for (auto& g : groups) {
    std::vector<Received> got = g->member.sync();
    EXPECT_TRUE(ReceivedNothing(got));
  }
}

TEST_F(LiveReloadTest, NewListenAddressKeepsPeersAndGroups) {
  StartWith(2);
  MakeGroups(6);
  const uint16_t old_port = port();
  const uint16_t new_port = find_free_port();
  RewriteConfigAndReload("127.0.0.1:" + std::to_string(old_port),
                         "127.0.0.1:" + std::to_string(new_port));
  ASSERT_TRUE(WaitForLog("now listening on 127.0.0.1:" + std::to_string(new_port)))
      << server().log_text();
  ASSERT_TRUE(WaitForLog("new listening sockets", 2)) << server().log_text();
  ExpectGroupsWhole("moved", new_port);
  Peer old_address(old_port);
  bool first = false;
  EXPECT_FALSE(old_address.join(random_key("old"), first, 2s));
  // Back to the first address, where the fixture checks the server's health at the end.
  RewriteConfigAndReload("127.0.0.1:" + std::to_string(new_port),
                         "127.0.0.1:" + std::to_string(old_port));
  ASSERT_TRUE(WaitForLog("now listening on 127.0.0.1:" + std::to_string(old_port)));
  ASSERT_TRUE(WaitForLog("new listening sockets", 4));
}

}  // namespace
}  // namespace sigver::itest
