// Faults of the machine rather than of the clients, against sigverd with 4 workers: every
// descriptor the open-file limit allows in use, and the error log's file system full.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <set>
#include <thread>

#include "support/multiworker_fixture.h"
#include "support/namespaces.h"
#include "support/numbered_relay.h"

namespace sigver::itest {
namespace {

using Clock = std::chrono::steady_clock;
// Waits for what must come; long, since the machine is shared and may be slow: only a
// broken server makes a test wait this long.
constexpr Millis kWait{20000};

bool Readable(WsClient& ws) {
  pollfd pfd{ws.fd(), POLLIN, 0};
  return ::poll(&pfd, 1, 0) == 1;
}

class ResourceFaultsTest : public MultiWorkerTest {
 protected:
  void TearDown() override {
    MultiWorkerTest::TearDown();
    mounts_.reset();  // the log lived on a tmpfs of the private mount namespace
  }

  void FillTheOpenFileLimitThenLeave(int only_owner);

  std::unique_ptr<PrivateMounts> mounts_;
};

// ---- the open-file limit reached ----

// A connection whose upgrade request is on the wire, answered or not yet.
struct Waiting {
  Peer peer;
  std::string key;
  bool joined = false;
  bool closed = false;
};

// The connections that got their answer since the last call: each must be a 101 followed by
// isFirst=true (every key is fresh); an end of stream or anything else is a refusal.
::testing::AssertionResult CollectAnswers(std::vector<Waiting>& conns, size_t& newly_joined) {
  newly_joined = 0;
  for (size_t i = 0; i < conns.size(); ++i) {
    Waiting& c = conns[i];
    if (c.joined || !Readable(c.peer.ws())) continue;
    const HttpResponse response = c.peer.ws().read_http_response(Millis(10000));
    if (response.status != 101)
      return ::testing::AssertionFailure()
             << "connection " << i << " was refused instead of waiting: "
             << (response.status ? response.head : "the server ended it");
    if (auto ok = IsIsFirst(c.peer.receive(Millis(10000)), true); !ok)
      return ::testing::AssertionFailure() << "connection " << i << ": " << ok.message();
    c.joined = true;
    ++newly_joined;
  }
  return ::testing::AssertionSuccess();
}

// Fills the descriptors the open-file limit leaves with idle peers on keys of every worker
// (`only_owner` -1) or of one, checks that the peers already there relay on and that new
// connections wait, then lets peers leave until every waiting connection was upgraded.
void ResourceFaultsTest::FillTheOpenFileLimitThenLeave(int only_owner) {
  constexpr int kOpenFiles = 128;
  const auto owner_of = [&](size_t i) {
    return only_owner >= 0 ? only_owner : static_cast<int>(i % kWorkers);
  };
  ASSERT_NO_FATAL_FAILURE(
      StartWorkers({.protocol = {"heartbeat_interval = 60", "handshake_timeout = 60"},
                    .open_files = kOpenFiles}));
  for (const auto& [index, pid] : WorkerPids()) {
    const std::string limits = read_file_text("/proc/" + std::to_string(pid) + "/limits");
    ASSERT_NE(limits.find("Max open files            " + std::to_string(kOpenFiles)),
              std::string::npos)
        << "worker " << index << ":\n"
        << limits;
  }
  std::vector<NumberedPair> pairs = PairsOnWorkers(8, kWorkers, "x");
  std::vector<NumberedPair*> relaying = Pointers(pairs);
  ASSERT_TRUE(JoinPairs(port(), relaying));
  const auto pids_before = WorkerPids();

  // More connections than the four workers could hold together, all requests on the wire
  // before any answer is read.
  constexpr int kFill = 4 * kOpenFiles + 64;
  std::vector<Waiting> fill(kFill);
  for (int i = 0; i < kFill; ++i) {
    fill[i].key = KeyOwnedBy(owner_of(static_cast<size_t>(i)), kWorkers, "i");
    fill[i].peer = NewPeer();
    WsClient& ws = fill[i].peer.ws();
    ASSERT_TRUE(ws.connect(port(), Millis(10000))) << "connection " << i << ": " << ws.last_error();
    ASSERT_TRUE(ws.send_raw(WsClient::upgrade_request("/" + fill[i].key)));
  }
  // The server takes what it can; then no more answers come (quiet for 2 s).
  size_t joined = 0;
  auto last_answer = Clock::now();
  const auto fill_deadline = Clock::now() + std::chrono::seconds(40);
  while (Clock::now() - last_answer < std::chrono::seconds(2)) {
    ASSERT_LT(Clock::now(), fill_deadline) << "answers kept coming";
    size_t fresh = 0;
    ASSERT_TRUE(CollectAnswers(fill, fresh)) << joined << " joined before";
    joined += fresh;
    if (fresh > 0) last_answer = Clock::now();
    std::this_thread::sleep_for(Millis(20));
  }
  ASSERT_GT(joined, 0u);
  ASSERT_LT(joined, static_cast<size_t>(kFill)) << "the open-file limit did not apply";

  // Full: the peers already there relay as before, and a new connection still gets through
  // TCP (the listen backlog takes it) but no answer: neither an upgrade nor a refusal.
  for (int round = 0; round < 3; ++round) ASSERT_TRUE(RelayRound(relaying, 3));
  std::vector<Waiting> late(8);
  for (size_t i = 0; i < late.size(); ++i) {
    late[i].key = KeyOwnedBy(owner_of(i), kWorkers, "late");
    late[i].peer = NewPeer();
    WsClient& ws = late[i].peer.ws();
    ASSERT_TRUE(ws.connect(port(), Millis(10000))) << "late connection " << i << " refused";
    ASSERT_TRUE(ws.send_raw(WsClient::upgrade_request("/" + late[i].key)));
  }
  std::this_thread::sleep_for(Millis(1000));
  for (size_t i = 0; i < late.size(); ++i)
    EXPECT_FALSE(Readable(late[i].peer.ws())) << "late connection " << i << " was answered";
  for (NumberedPair* p : relaying) ASSERT_TRUE(ExpectNothingMore(*p));

  // Peers leave; the waiting connections get their upgrade, and the ones of the fill leave in
  // turn to make room for the rest, until every connection was answered.
  for (Waiting& c : fill) {
    if (!c.joined) continue;
    c.peer.ws().close();
    c.closed = true;
  }
  const auto drain_deadline = Clock::now() + std::chrono::seconds(60);
  size_t late_joined = 0;
  for (;;) {
    size_t fresh = 0;
    ASSERT_TRUE(CollectAnswers(fill, fresh));
    for (Waiting& c : fill) {
      if (!c.joined || c.closed) continue;
      c.peer.ws().close();
      c.closed = true;
    }
    ASSERT_TRUE(CollectAnswers(late, fresh));
    late_joined += fresh;
    const bool all_answered =
        std::all_of(fill.begin(), fill.end(), [](const Waiting& c) { return c.joined; }) &&
        late_joined == late.size();
    if (all_answered) break;
    ASSERT_LT(Clock::now(), drain_deadline)
        << late_joined << " of " << late.size() << " late connections answered, "
        << std::count_if(fill.begin(), fill.end(), [](const Waiting& c) { return !c.joined; })
        << " of the fill still waiting";
    ASSERT_TRUE(RelayRound(relaying, 1));
    std::this_thread::sleep_for(Millis(10));
  }
  // The late peers are members of their groups like any other.
  for (size_t i = 0; i < late.size(); ++i) {
    Peer joiner = NewPeer();
    ASSERT_NO_FATAL_FAILURE(Join(joiner, late[i].key, false));
    ASSERT_TRUE(joiner.send_content(0, "late-up"));
    uint32_t id = 0;
    ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(late[i].peer, "late-up", id));
    ASSERT_TRUE(late[i].peer.send_content(id, "late-down"));
    EXPECT_TRUE(IsContent(joiner.receive(kWait), 0, "late-down"));
  }
  ASSERT_TRUE(RelayRound(relaying, 3));
  for (NumberedPair* p : relaying) ASSERT_TRUE(ExpectNothingMore(*p));
  EXPECT_EQ(WorkerPids(), pids_before) << "a worker died and was replaced";
  std::cout << "[ info     ] " << joined << " of " << kFill
            << " connections fit under the limit of " << kOpenFiles << " files per process"
            << std::endl;
}

TEST_F(ResourceFaultsTest, AtTheOpenFileLimitNewConnectionsWaitAndJoinOnceOthersLeave) {
  FillTheOpenFileLimitThenLeave(-1);
}

// The other workers have descriptors to spare and accept on, handing every connection to
// the one worker that has none left. It stops reading its queue near its open-file limit
// (a socket arriving without room for its descriptor would be lost: MSG_CTRUNC), so the
// senders keep those clients parked until it has room again.
TEST_F(ResourceFaultsTest, AtTheOpenFileLimitOfTheWorkerOwningEveryKeyNewConnectionsWait) {
  FillTheOpenFileLimitThenLeave(1);
}

// ---- the error log's file system full ----

constexpr const char* kLostReport = "lines lost while writing failed: No space left on device";

// Fills the file system holding `path` with a new file there; false if it never filled.
bool FillFileSystem(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return false;
  const std::string block(4096, 'f');
  for (int i = 0; i < 4096; ++i) {
    if (::write(fd.get(), block.data(), block.size()) < 0) return errno == ENOSPC;
  }
  return false;
}

TEST_F(ResourceFaultsTest, ErrorLogOnAFullFileSystemLosesLinesAndSaysOnceHowManyWhenRoomIsBack) {
  mounts_ = std::make_unique<PrivateMounts>();
  if (!mounts_->ok()) GTEST_SKIP() << "no private mount namespace: " << mounts_->error();
  const std::string dir = mounts_->mount_tmpfs(64 * 1024);
  if (dir.empty()) GTEST_SKIP() << "cannot mount a tmpfs: " << mounts_->error();
  ASSERT_NO_FATAL_FAILURE(
      StartWorkers({.protocol = {"heartbeat_interval = 60"}, .error_log = dir + "/error.log"}));
  std::vector<NumberedPair> pairs = PairsOnWorkers(8, kWorkers, "x");
  std::vector<NumberedPair*> relaying = Pointers(pairs);
  ASSERT_TRUE(JoinPairs(port(), relaying));
  const auto pids_before = WorkerPids();

  // Every new group on any worker writes debug lines (handoff, adoption, close).
  int groups = 0;
  const auto new_groups = [&](int count) {
    for (int i = 0; i < count; ++i, ++groups) {
      Peer member, joiner;
      uint32_t id = 0;
      ASSERT_NO_FATAL_FAILURE(
          FormPair(KeyOwnedBy(groups % kWorkers, kWorkers, "d"), member, joiner, id));
      ASSERT_TRUE(RelayRound(relaying, 1));
    }
  };
  ASSERT_NO_FATAL_FAILURE(new_groups(8));
  ASSERT_EQ(server().log_text().find(kLostReport), std::string::npos);

  const std::string filler = dir + "/filler";
  ASSERT_TRUE(FillFileSystem(filler)) << "the tmpfs did not fill up";
  // The log takes what still fits in its last page, then nothing: its size stops moving.
  ASSERT_NO_FATAL_FAILURE(new_groups(40));
  const size_t full_size = server().log_text().size();
  ASSERT_NO_FATAL_FAILURE(new_groups(40));
  ASSERT_EQ(server().log_text().size(), full_size) << "the file system is not full";
  EXPECT_TRUE(ServerHealthy()) << "with the log's file system full";
  ASSERT_EQ(WorkerPids(), pids_before) << "a worker died while its log was full";

  // Room again: the first line each worker writes is preceded by its one report.
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  ASSERT_NO_FATAL_FAILURE(new_groups(8));
  ASSERT_TRUE(WaitForLogLines(kLostReport, kWorkers, std::chrono::seconds(30)))
      << "not every worker said that it lost lines";
  ASSERT_NO_FATAL_FAILURE(new_groups(16));
  EXPECT_TRUE(ServerHealthy());
  std::set<pid_t> reported;
  for (const LogLine& line : LinesContaining(server().log_text(), kLostReport)) {
    EXPECT_TRUE(reported.insert(line.pid).second) << "reported twice by " << line.pid;
    unsigned long long lost = 0;
    EXPECT_EQ(std::sscanf(line.text.c_str(), "error log: %llu lines lost", &lost), 1) << line.text;
    EXPECT_GT(lost, 0u) << line.text;
    EXPECT_EQ(line.level, "warn") << line.text;
    std::cout << "[ info     ] worker " << line.worker << ": " << line.text << std::endl;
  }
  for (const auto& [index, pid] : pids_before)
    EXPECT_EQ(reported.count(pid), 1u) << "worker " << index << " lost lines without saying so";
  for (NumberedPair* p : relaying) ASSERT_TRUE(ExpectNothingMore(*p));
  EXPECT_EQ(WorkerPids(), pids_before);
}

}  // namespace
}  // namespace sigver::itest
