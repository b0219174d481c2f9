// The worst case for memory (README, "What sigverd guarantees"): members that never read,
// each flooded by its joiner. Without a worker-wide bound every such member holds up to
// max_outbound of queued output; with max_outbound_total each worker's resident memory stays
// under the bound the README states, while a pair that reads keeps relaying.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "support/multiworker_fixture.h"

namespace sigver::itest {
namespace {

// VmRSS of `pid` in bytes (0 if it cannot be read).
uint64_t ResidentBytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// AddressSanitizer keeps freed memory in quarantine and adds its own per allocation, so
// resident memory says nothing there; the scenario still runs (the limit must act and every
// process survive).
#ifdef __SANITIZE_ADDRESS__
constexpr bool kResidentMemoryMeaningful = false;
#else
constexpr bool kResidentMemoryMeaningful = true;
#endif

class MemoryBoundTest : public MultiWorkerTest {};

TEST_F(MemoryBoundTest, MembersThatNeverReadCannotGrowAWorkerPastTheBound) {
  constexpr uint64_t kMiB = 1 << 20;
  constexpr uint64_t kOutboundTotal = 64 * kMiB;
  constexpr uint64_t kInboundTotal = 1 * kMiB;
  constexpr uint64_t kMaxMessage = 1 * kMiB;
  StartWorkers({.protocol = {"heartbeat_interval = 60", "close_timeout = 5"},
                .limits = {"max_outbound_total = 64m", "max_inbound_total = 1m"}});
  const std::map<int, pid_t> workers = WorkerPids();
  ASSERT_EQ(workers.size(), static_cast<size_t>(kWorkers));
  std::map<int, uint64_t> at_start;
  for (auto [index, pid] : workers) at_start[index] = ResidentBytes(pid);

  Peer reader_member, reader_joiner;
  uint32_t reader_id = 0;
  FormPair(random_key("reader"), reader_member, reader_joiner, reader_id);

  constexpr int kPairs = 2000;
  std::vector<Peer> deaf(kPairs), flooders(kPairs);
  for (int i = 0; i < kPairs; ++i) {
    deaf[i] = NewPeer();
    deaf[i].ws().set_receive_buffer(4096);
    flooders[i] = NewPeer();
    uint32_t id = 0;
    ASSERT_NO_FATAL_FAILURE(FormPair(random_key("deaf"), deaf[i], flooders[i], id));
  }

  // Each flooder sends 32 KiB per round that its member never reads. The kernel takes up to
  // a few MiB per socket before the server has to queue, so the rounds go on until every
  // worker's bound has acted (at most 96 rounds: 6 GiB offered against 4 x 64 MiB).
  // Resident memory is sampled as it goes, and the reading pair exchanges between rounds.
  const std::string chunk(32 * 1024, 'f');
  std::map<int, uint64_t> peak = at_start;
  auto sample = [&] {
    for (auto [index, pid] : workers) peak[index] = std::max(peak[index], ResidentBytes(pid));
  };
  auto every_worker_evicted = [&] {
    const std::vector<LogLine> lines =
        LinesContaining(server().log_text(), "limit max_outbound_total");
    std::set<int> seen;
    for (const LogLine& line : lines) seen.insert(line.worker);
    return seen.size() == workers.size();
  };
  int rounds = 0;
  for (; rounds < 96 && !(rounds % 8 == 0 && rounds > 0 && every_worker_evicted()); ++rounds) {
    for (int i = 0; i < kPairs; ++i) {
      (void)flooders[i].send_content(0, chunk);  // fails only once its member was closed
      if (i % 250 == 0) sample();
    }
    const std::string text = "round " + std::to_string(rounds);
    ASSERT_TRUE(reader_joiner.send_content(0, text));
    ASSERT_TRUE(IsContent(reader_member.receive(), reader_id, text));
  }
  sample();

  // The bound per worker (README): its resident memory at start + max_outbound_total +
  // max_inbound_total + 2 x (max_message_size + 64 KiB) + 1 KiB per connection it holds.
  // Each worker holds at most all 4002 connections.
  const uint64_t bound_above_start =
      kOutboundTotal + kInboundTotal + 2 * (kMaxMessage + 64 * 1024) + (2 * kPairs + 2) * 1024;
  for (auto [index, pid] : workers) {
    std::printf("worker %d: resident %llu MiB at start, %llu MiB at most (bound: +%llu MiB)\n",
                index, static_cast<unsigned long long>(at_start[index] / kMiB),
                static_cast<unsigned long long>(peak[index] / kMiB),
                static_cast<unsigned long long>(bound_above_start / kMiB));
    if (kResidentMemoryMeaningful) {
      EXPECT_LE(peak[index], at_start[index] + bound_above_start)
          << "worker " << index << ": " << (peak[index] - at_start[index]) / kMiB
          << " MiB over its start (bound " << bound_above_start / kMiB << " MiB)";
    }
    EXPECT_TRUE(ProcessAlive(pid)) << "worker " << index;
  }
  EXPECT_TRUE(every_worker_evicted()) << "the bound had to act, after " << rounds << " rounds";
  EXPECT_TRUE(ReceivedNothing(reader_member.sync())) << "the reading pair is untouched";
  EXPECT_TRUE(ReceivedNothing(reader_joiner.sync()));
  EXPECT_TRUE(ServerHealthy());
}

}  // namespace
}  // namespace sigver::itest
