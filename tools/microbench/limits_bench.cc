// What the limits cost where they run on every connection or message (make bench prints it):
// the per-address count at accept (hash, check across workers, count) and at close, the
// token bucket per message, and an origin check at upgrade. Google Benchmark, in process.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "core/client_counts.h"
#include "worker/limits.h"
#include "ws/origin.h"

namespace sigver {
namespace {

sockaddr_in address(uint32_t n) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(0x0a000000 + n);
  return a;
}

// One accepted connection and its close, with `workers` slices to sum, from many addresses.
void BM_PerAddressCountPerConnection(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  ClientCounts counts;
  for (int w = 0; w < workers; ++w) counts.note_worker(w);
  std::vector<sockaddr_in> clients;
  for (uint32_t i = 0; i < 4096; ++i) clients.push_back(address(i * 7919));
  size_t i = 0;
  for (auto _ : state) {
    const sockaddr_in& a = clients[i++ % clients.size()];
    const auto ticket = counts.ticket(reinterpret_cast<const sockaddr*>(&a));
    benchmark::DoNotOptimize(counts.count(ticket) < 256);
    counts.add(0, ticket);
    counts.remove(0, ticket);
  }
}
BENCHMARK(BM_PerAddressCountPerConnection)->Arg(1)->Arg(4)->Arg(64);

void BM_MessageRatePerMessage(benchmark::State& state) {
  MessageRate rate;
  rate.configure(200, 400);
  uint64_t due = 0;
  uint64_t now = 1'000'000;
  for (auto _ : state) {
    now += 10'000;  // a message every 10 ms: always allowed
    benchmark::DoNotOptimize(rate.allow(due, now));
  }
}
BENCHMARK(BM_MessageRatePerMessage);

void BM_OriginCheckPerUpgrade(benchmark::State& state) {
  const std::vector<std::string> allowed{"https://example.org", "*.example.net",
                                         "https://*.example.com"};
  for (auto _ : state) {
    benchmark::DoNotOptimize(ws::origin_allowed("https://app.example.com", allowed));
  }
}
BENCHMARK(BM_OriginCheckPerUpgrade);

}  // namespace
}  // namespace sigver

BENCHMARK_MAIN();
