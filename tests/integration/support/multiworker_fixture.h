#pragma once
// A SigverTest running sigverd with several workers, for the tests of the master/worker
// design (keys pinned to workers, handoff, signals). Tests that kill a worker on purpose
// declare it, so the end-of-test crash check accepts exactly that death and no other.
#include <sys/types.h>

#include <map>
#include <set>
#include <string>

#include "support/harness.h"
#include "support/worker_probe.h"

namespace sigver::itest {

class MultiWorkerTest : public SigverTest {
 protected:
  static constexpr int kWorkers = 4;

  // Starts sigverd with `worker_processes = kWorkers` plus `config`, and waits until every
  // worker has been started (its pid is in the log and it is a child of the master).
  void StartWorkers(ServerConfig config = {});
  void TearDown() override;

  // index -> pid of the running workers, as logged by the master.
  std::map<int, pid_t> WorkerPids() const { return WorkerPidsFromLog(server_->log_text()); }
  // SIGKILLs worker `index` and records it as an expected death; returns its pid.
  pid_t KillWorker(int index);
  // Waits until worker `index` runs under a pid other than `old_pid` (a child of the master)
  // and returns it (-1 if not within `bound`).
  pid_t WaitForRespawn(int index, pid_t old_pid,
                       std::chrono::milliseconds bound = std::chrono::seconds(5));
  // Waits until the log has at least `count` lines containing `needle`.
  bool WaitForLogLines(std::string_view needle, size_t count,
                       std::chrono::milliseconds bound = std::chrono::seconds(5));

  // Joins `key` with a first peer and a second one bound to it; exchanges `up` and `down`
  // (checking exact bytes and a non-zero id at the member) and returns that id.
  void FormPair(const std::string& key, Peer& member, Peer& joiner, uint32_t& id,
                std::string_view up = "pair-up", std::string_view down = "pair-down");

 private:
  std::set<pid_t> killed_;
};

// The next close a peer receives, skipping contents (a peer that left first may cause a
// leave notice before our own close).
Received NextClose(Peer& peer, Millis timeout = kDefaultTimeout);

}  // namespace sigver::itest
