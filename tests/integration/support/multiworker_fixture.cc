#include "support/multiworker_fixture.h"

#include <signal.h>

#include <algorithm>
#include <iostream>

namespace sigver::itest {

void MultiWorkerTest::StartWorkers(ServerConfig config) {
  config.server.push_back("worker_processes = " + std::to_string(kWorkers));
  ASSERT_NO_FATAL_FAILURE(Start(std::move(config)));
  const bool all_up = WaitUntil(
      [&] {
        const auto pids = WorkerPids();
        if (pids.size() != static_cast<size_t>(kWorkers)) return false;
        const std::vector<pid_t> children = ChildPids(server().pid());
        return std::all_of(pids.begin(), pids.end(), [&](const auto& entry) {
          return std::find(children.begin(), children.end(), entry.second) != children.end();
        });
      },
      std::chrono::seconds(5));
  ASSERT_TRUE(all_up) << "not every worker started:\n" << server().diagnostics();
}

pid_t MultiWorkerTest::KillWorker(int index) {
  const auto pids = WorkerPids();
  const auto found = pids.find(index);
  if (found == pids.end()) return -1;
  const std::vector<pid_t> children = ChildPids(server().pid());
  // Only ever a child of the server this test started.
  if (std::find(children.begin(), children.end(), found->second) == children.end()) return -1;
  killed_.insert(found->second);
  if (::kill(found->second, SIGKILL) != 0) return -1;
  return found->second;
}

pid_t MultiWorkerTest::WaitForRespawn(int index, pid_t old_pid, std::chrono::milliseconds bound) {
  pid_t fresh = -1;
  WaitUntil(
      [&] {
        const auto pids = WorkerPids();
        const auto found = pids.find(index);
        if (found == pids.end() || found->second == old_pid) return false;
        const std::vector<pid_t> children = ChildPids(server().pid());
        if (std::find(children.begin(), children.end(), found->second) == children.end())
          return false;
        fresh = found->second;
        return true;
      },
      bound);
  return fresh;
}

bool MultiWorkerTest::WaitForLogLines(std::string_view needle, size_t count,
                                      std::chrono::milliseconds bound) {
  return WaitUntil([&] { return LinesContaining(server().log_text(), needle).size() >= count; },
                   bound);
}

void MultiWorkerTest::FormPair(const std::string& key, Peer& member, Peer& joiner, uint32_t& id,
                               std::string_view up, std::string_view down) {
  member = NewPeer();
  joiner = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
  ASSERT_NO_FATAL_FAILURE(Join(joiner, key, false));
  ASSERT_TRUE(joiner.send_content(0, up)) << joiner.error();
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(member, up, id));
  ASSERT_TRUE(member.send_content(id, down)) << member.error();
  ASSERT_TRUE(IsContent(joiner.receive(), 0, down));
}

void MultiWorkerTest::TearDown() {
  if (!server_) return;
  if (server_->running()) {
    EXPECT_TRUE(ServerHealthy()) << "at the end of the test";
  }
  server_->stop();
  // Every death the master logged must be one this test caused.
  const std::string log = server_->log_text();
  for (const LogLine& line : LinesContaining(log, "killed by SIG")) {
    const bool expected = std::any_of(killed_.begin(), killed_.end(), [&](pid_t pid) {
      return line.text.find("(pid " + std::to_string(pid) + ") was killed by SIGKILL") !=
             std::string::npos;
    });
    EXPECT_TRUE(expected) << "unexpected death: " << line.text;
  }
  EXPECT_EQ(server_->output_text().find("Sanitizer"), std::string::npos) << server_->output_text();
  if (HasFailure()) std::cerr << server_->diagnostics() << std::endl;
  server_.reset();
}

Received NextClose(Peer& peer, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    Received got = peer.receive(std::max(left, Millis(0)));
    if (!got.is_content()) return got;
  }
}

}  // namespace sigver::itest
