// Signals to a master with 4 workers, seen by the peers: a worker killed with SIGKILL is
// restarted and only its own groups notice; HUP changes settings in place without dropping
// anybody (and a broken file changes nothing); QUIT closes every peer with 1001 and leaves
// no process behind (README "Running it", spec "One server, many processes").
#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <thread>

#include "support/multiworker_fixture.h"

namespace sigver::itest {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Sends a heartbeat from every registered peer at least every `period`, so the server keeps
// them while the test does other things (call Tick often).
class KeepAlive {
 public:
  explicit KeepAlive(Millis period) : period_(period) {}
  void Add(Peer& peer) { peers_.push_back(&peer); }
  void Tick() {
    if (Clock::now() - last_ < period_) return;
    last_ = Clock::now();
    for (Peer* peer : peers_) EXPECT_TRUE(peer->send(heartbeat_message())) << peer->error();
  }
  // Waits for `condition` while keeping the peers alive.
  bool WaitFor(const std::function<bool()>& condition, Millis bound) {
    const auto deadline = Clock::now() + bound;
    for (;;) {
      Tick();
      if (condition()) return true;
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(Millis(10));
    }
  }

 private:
  Millis period_;
  std::vector<Peer*> peers_;
  Clock::time_point last_{};
};

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "'" << from << "' not in:\n" << text;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << path;
}

struct Pair {
  std::string key;
  int owner = 0;
  Peer member, joiner;
  uint32_t id = 0;
  bool gone = false;  // its worker was killed
};

class MultiWorkerLifecycleTest : public MultiWorkerTest {
 protected:
  // `count` pairs spread evenly over the workers (pair i on worker i % kWorkers).
  void FormPairs(std::vector<Pair>& pairs, size_t count, KeepAlive* keep = nullptr) {
    pairs.resize(count);
    for (size_t i = 0; i < count; ++i) {
      Pair& p = pairs[i];
      p.owner = static_cast<int>(i % kWorkers);
      p.key = KeyOwnedBy(p.owner, kWorkers, "l");
      ASSERT_NO_FATAL_FAILURE(FormPair(p.key, p.member, p.joiner, p.id)) << "pair " << i;
      if (keep) {
        keep->Add(p.member);
        keep->Add(p.joiner);
        keep->Tick();
      }
    }
  }

  // One relay both ways through every pair, exact bytes, the binding's id unchanged.
  void RelayThroughAll(std::vector<Pair>& pairs, std::string_view tag, KeepAlive* keep = nullptr) {
    for (size_t i = 0; i < pairs.size(); ++i) {
      Pair& p = pairs[i];
      if (p.gone) continue;
      const std::string up = std::string(tag) + " up " + std::to_string(i);
      const std::string down = std::string(tag) + " down " + std::to_string(i);
      ASSERT_TRUE(p.joiner.send_content(0, up)) << "pair " << i;
      ASSERT_TRUE(IsContent(p.member.receive(), p.id, up)) << "pair " << i;
      ASSERT_TRUE(p.member.send_content(p.id, down)) << "pair " << i;
      ASSERT_TRUE(IsContent(p.joiner.receive(), 0, down)) << "pair " << i;
      if (keep) keep->Tick();
    }
  }

  // Nothing else was sent to any peer of a live pair, and none was closed.
  void ExpectQuiet(std::vector<Pair>& pairs, KeepAlive* keep = nullptr) {
    for (size_t i = 0; i < pairs.size(); ++i) {
      if (pairs[i].gone) continue;
      EXPECT_TRUE(ReceivedNothing(pairs[i].member.sync())) << "member of pair " << i;
      EXPECT_TRUE(ReceivedNothing(pairs[i].joiner.sync())) << "joiner of pair " << i;
      if (keep) keep->Tick();
    }
  }

  // Opens a peer that never sends a heartbeat on a fresh key of `owner` and returns how long
  // the server took to close it with 4002 (negative on any other outcome).
  double SecondsUntilSilentPeerIsClosed(int owner, KeepAlive& keep, Millis bound) {
    Peer silent = NewPeer();
    const auto start = Clock::now();
    bool first = false;
    EXPECT_TRUE(silent.join(KeyOwnedBy(owner, kWorkers, "s"), first)) << silent.error();
    const auto deadline = start + bound;
    while (Clock::now() < deadline) {
      keep.Tick();
      const Received got = silent.receive(Millis(20));
      if (got.kind == Received::Kind::kTimeout) continue;
      EXPECT_TRUE(IsClose(got, 4002)) << "silent peer on worker " << owner;
      return got.kind == Received::Kind::kClose ? SecondsSince(start) : -1;
    }
    ADD_FAILURE() << "silent peer on worker " << owner << " was not closed";
    return -1;
  }

  // Rewrites the configuration file with `from` replaced and signals the master.
  void ReloadWith(const std::string& from, const std::string& to) {
    const std::string text = read_file_text(server().config_path());
    ASSERT_NO_FATAL_FAILURE(WriteFile(server().config_path(), Replace(text, from, to)));
    ASSERT_TRUE(server().send_signal(SIGHUP));
  }
};

TEST_F(MultiWorkerLifecycleTest, KilledWorkerIsRespawnedAndOnlyItsOwnGroupsNotice) {
  ASSERT_NO_FATAL_FAILURE(StartWorkers({.protocol = {"heartbeat_interval = 30"}}));
  const int victim = 1;
  std::vector<Pair> pairs;
  ASSERT_NO_FATAL_FAILURE(FormPairs(pairs, 50));
  const auto pids_before = WorkerPids();

  // Rounds of relaying through all 50 pairs; the worker dies while round kKillRound's
  // messages are in flight, and relaying goes on for a while after.
  constexpr int kKillRound = 10;
  pid_t old_pid = -1;
  Clock::time_point killed_at{};
  for (int round = 0; round <= kKillRound || SecondsSince(killed_at) < 1.5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    for (size_t i = 0; i < pairs.size(); ++i) {
      if (pairs[i].gone) continue;
      ASSERT_TRUE(pairs[i].joiner.send_content(
          0, "r" + std::to_string(round) + " up " + std::to_string(i)));
    }
    if (round == kKillRound) {
      old_pid = KillWorker(victim);
      ASSERT_GT(old_pid, 0);
      killed_at = Clock::now();
      for (Pair& p : pairs) p.gone = p.owner == victim;
    }
    for (size_t i = 0; i < pairs.size(); ++i) {
      Pair& p = pairs[i];
      if (p.gone) continue;
      const std::string up = "r" + std::to_string(round) + " up " + std::to_string(i);
      const std::string down = "r" + std::to_string(round) + " down " + std::to_string(i);
      ASSERT_TRUE(IsContent(p.member.receive(), p.id, up)) << "pair " << i;
      ASSERT_TRUE(p.member.send_content(p.id, down)) << "pair " << i;
      ASSERT_TRUE(IsContent(p.joiner.receive(), 0, down)) << "pair " << i;
    }
  }
  // The victim's peers lost their connection (whatever was already on its way may arrive
  // first); no close frame, nothing after.
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (!pairs[i].gone) continue;
    for (Peer* peer : {&pairs[i].member, &pairs[i].joiner}) {
      Received got;
      do {
        got = peer->receive();
      } while (got.is_content());
      EXPECT_TRUE(got.kind == Received::Kind::kEof || got.kind == Received::Kind::kError)
          << "pair " << i << ": " << got.describe();
    }
  }
  const pid_t new_pid = WaitForRespawn(victim, old_pid);
  ASSERT_GT(new_pid, 0) << "worker " << victim << " was not restarted";
  EXPECT_TRUE(WaitForLogLines("worker " + std::to_string(victim) + " (pid " +
                                  std::to_string(old_pid) + ") was killed by SIGKILL",
                              1));
  EXPECT_FALSE(ProcessAlive(old_pid));
  for (const auto& [index, pid] : WorkerPids()) {
    if (index == victim) continue;
    EXPECT_EQ(pid, pids_before.at(index)) << "worker " << index;
  }

  // The other groups never noticed.
  ASSERT_NO_FATAL_FAILURE(RelayThroughAll(pairs, "after"));
  ExpectQuiet(pairs);
  // The victim's keys work again, as new groups (their old groups died with the worker).
  for (size_t i = 0; i < pairs.size(); ++i) {
    if (!pairs[i].gone) continue;
    Peer member, joiner;
    uint32_t id = 0;
    ASSERT_NO_FATAL_FAILURE(FormPair(pairs[i].key, member, joiner, id)) << "pair " << i;
  }
}

TEST_F(MultiWorkerLifecycleTest, HupChangesTheHeartbeatIntervalWithoutDroppingAThousandPeers) {
  ASSERT_NO_FATAL_FAILURE(
      StartWorkers({.protocol = {"heartbeat_interval = 1", "heartbeat_misses = 3"}}));
  KeepAlive keep(Millis(200));
  std::vector<Pair> pairs;
  ASSERT_NO_FATAL_FAILURE(FormPairs(pairs, 500, &keep));
  const auto pids_before = WorkerPids();

  ASSERT_NO_FATAL_FAILURE(ReloadWith("heartbeat_interval = 1\n", "heartbeat_interval = 0.3\n"));
  ASSERT_TRUE(keep.WaitFor(
      [&] {
        return LinesContaining(server().log_text(), ": configuration reloaded").size() ==
               static_cast<size_t>(kWorkers);
      },
      Millis(5000)))
      << "not every worker reloaded";
  EXPECT_EQ(WorkerPids(), pids_before) << "a reload must not replace workers";

  // On every worker, a silent peer is now closed after 3 intervals of 0.3 s (it would take
  // 3 s with the old interval).
  for (int owner = 0; owner < kWorkers; ++owner) {
    const double seconds = SecondsUntilSilentPeerIsClosed(owner, keep, Millis(5000));
    EXPECT_GE(seconds, 0.85) << "worker " << owner;
    EXPECT_LE(seconds, 2.4) << "worker " << owner << " still uses the old interval";
  }
  // All 1000 are still there and relay.
  ASSERT_NO_FATAL_FAILURE(RelayThroughAll(pairs, "after-hup", &keep));
  ExpectQuiet(pairs, &keep);
}

TEST_F(MultiWorkerLifecycleTest, HupWithABrokenConfigurationKeepsTheOldOne) {
  ASSERT_NO_FATAL_FAILURE(StartWorkers({.protocol = {"heartbeat_interval = 1"}}));
  KeepAlive keep(Millis(300));
  std::vector<Pair> pairs;
  ASSERT_NO_FATAL_FAILURE(FormPairs(pairs, 8, &keep));
  const auto pids_before = WorkerPids();

  ASSERT_NO_FATAL_FAILURE(ReloadWith("heartbeat_interval = 1\n", "heartbeat_interval = often\n"));
  ASSERT_TRUE(
      keep.WaitFor([&] { return !LinesContaining(server().log_text(), "reload failed").empty(); },
                   Millis(5000)));
  const auto failed = LinesContaining(server().log_text(), "reload failed");
  EXPECT_NE(failed[0].text.find("heartbeat_interval"), std::string::npos)
      << "the error should name the bad setting: " << failed[0].text;
  EXPECT_TRUE(server().running());
  EXPECT_EQ(WorkerPids(), pids_before);
  EXPECT_TRUE(LinesContaining(server().log_text(), ": configuration reloaded").empty());

  ASSERT_NO_FATAL_FAILURE(RelayThroughAll(pairs, "after-bad-hup", &keep));
  ExpectQuiet(pairs, &keep);
  // Still the old interval of 1 s: 3 missed heartbeats take 3 s.
  const double seconds = SecondsUntilSilentPeerIsClosed(2, keep, Millis(6000));
  EXPECT_GE(seconds, 2.8) << "the broken file's settings must not apply";

  // Fixed, the file loads again.
  ASSERT_NO_FATAL_FAILURE(ReloadWith("heartbeat_interval = often\n", "heartbeat_interval = 2\n"));
  EXPECT_TRUE(keep.WaitFor(
      [&] {
        return LinesContaining(server().log_text(), ": configuration reloaded").size() ==
               static_cast<size_t>(kWorkers);
      },
      Millis(5000)));
  ASSERT_NO_FATAL_FAILURE(RelayThroughAll(pairs, "after-good-hup", &keep));
}

TEST_F(MultiWorkerLifecycleTest, QuitClosesEveryPeerWith1001AndLeavesNoProcess) {
  ASSERT_NO_FATAL_FAILURE(StartWorkers());
  std::vector<Pair> pairs;
  ASSERT_NO_FATAL_FAILURE(FormPairs(pairs, 12));
  // And one connection still in its upgrade.
  WsClient upgrading;
  ASSERT_TRUE(upgrading.connect(port()));
  ASSERT_TRUE(upgrading.send_raw("GET /half-way HTTP/1.1\r\nHost: 127.0.0.1\r\n"));

  const pid_t master = server().pid();
  const auto workers = WorkerPids();
  ASSERT_EQ(ChildPids(master).size(), static_cast<size_t>(kWorkers));
  ASSERT_TRUE(server().send_signal(SIGQUIT));
  for (size_t i = 0; i < pairs.size(); ++i) {
    for (Peer* peer : {&pairs[i].member, &pairs[i].joiner}) {
      EXPECT_TRUE(IsClose(NextClose(*peer), 1001)) << "pair " << i;
      // As a browser does: answer the close, see the server end the stream, close ours (the
      // worker waits for that, up to close_timeout, before it exits).
      peer->ws().send_close(1001);
      EXPECT_TRUE(peer->ws().wait_eof()) << "pair " << i;
      peer->ws().close();
    }
  }
  EXPECT_TRUE(upgrading.wait_eof(Millis(5000))) << "a connection in its upgrade is dropped";
  const int status = server().wait_exit(std::chrono::seconds(10));
  ASSERT_NE(status, -1) << "the master did not exit";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  for (const auto& [index, pid] : workers) {
    // Gone, or the number already reused by an unrelated process.
    EXPECT_TRUE(WaitUntil([&] { return !ProcessAlive(pid) || ParentPid(pid) != master; },
                          std::chrono::seconds(2)))
        << "worker " << index << " (pid " << pid << ") outlived the master";
  }
  const std::string log = server().log_text();
  EXPECT_EQ(LinesContaining(log, "graceful stop, closing").size(), static_cast<size_t>(kWorkers));
  EXPECT_EQ(LinesContaining(log, "master exiting with code 0").size(), 1u);
  // Nothing listens any more.
  WsClient late;
  EXPECT_FALSE(late.connect(port(), Millis(500)));
}

}  // namespace
}  // namespace sigver::itest
