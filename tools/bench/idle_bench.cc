// Idle scenario: server memory per connected, joined, idle peer.
//   --peers N           peers to connect (default 10000; one fd each in this process)
//   --peers-per-key K   peers per key (default 2: a member and one bound joiner)
//   --sources S         spread connections over 127.0.0.1..S (default 8)
//   --max-pending P     upgrades in progress at once (default 256), to stay under backlogs
//   --join-timeout T    bound on connecting and joining everyone (default 120)
//   --settle S          seconds idle after the last join before the first measure (default 3)
//   --hold H            seconds after the last join before the final measure (default 16)
// The server's memory (PSS and RSS summed over its process tree) is read before the first
// connection and again after everyone joined. The final measure comes after several
// heartbeat rounds (answered by the loop), so any per-peer state the heartbeat path touches
// is counted too, and the peers still connected then are the ones divided by.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>

#include "client_loop.h"
#include "proc_tree.h"
#include "scenarios.h"
#include "wire.h"

namespace bench {
namespace {

constexpr uint64_t kJoined = 1;

class IdleHandler : public ClientHandler {
 public:
  void on_message(ClientLoop&, Conn& conn, std::string_view payload) override {
    const SigverMessage m = decode_sigver(payload);
    if (m.type != SigverMessage::Type::kIsFirst || conn.tag == kJoined) {
      ++unexpected_;
      return;
    }
    conn.tag = kJoined;
    ++joined_;
    if (m.flag) ++first_;
  }
  void on_closed(ClientLoop&, Conn& conn) override {
    ++closed_;
    if (conn.tag != kJoined) ++failed_before_join_;
  }

  uint64_t joined() const { return joined_; }
  uint64_t first() const { return first_; }
  uint64_t closed() const { return closed_; }
  uint64_t failed_before_join() const { return failed_before_join_; }
  uint64_t unexpected() const { return unexpected_; }

 private:
  uint64_t joined_ = 0, first_ = 0, closed_ = 0, failed_before_join_ = 0, unexpected_ = 0;
};

void run_for(ClientLoop& loop, double seconds) {
  const auto start = Clock::now();
  while (seconds_since(start) < seconds) loop.run_once(100);
}

void print_memory(const char* name, const TreeMemory& m) {
  std::printf("idle.%s_pss_kib=%llu\nidle.%s_rss_kib=%llu\n", name,
              static_cast<unsigned long long>(m.pss_kib), name,
              static_cast<unsigned long long>(m.rss_kib));
}

double per_peer(uint64_t after, uint64_t before, uint64_t peers) {
  if (peers == 0) return 0;
  return (static_cast<double>(after) - static_cast<double>(before)) / static_cast<double>(peers);
}

}  // namespace

int run_idle(const Args& args) {
  Target target = target_from(args);
  if (args.text("sources", "").empty()) target.sources = 8;
  const uint64_t peers = args.number("peers", 10000);
  const uint64_t per_key = std::max<uint64_t>(1, args.number("peers-per-key", 2));
  const uint64_t keys = std::max<uint64_t>(1, peers / per_key);
  const uint64_t max_pending = std::max<uint64_t>(1, args.number("max-pending", 256));
  const double join_timeout = args.seconds("join-timeout", 120);
  const double settle = args.seconds("settle", 3);
  const double hold = std::max(settle, args.seconds("hold", 16));
  const std::string tag = args.text("tag", std::to_string(getpid()));
  const uint64_t fd_limit = raise_open_file_limit();
  if (peers + 64 > fd_limit) {
    std::printf("idle.error=%llu peers need more than the open-file limit %llu\n",
                static_cast<unsigned long long>(peers), static_cast<unsigned long long>(fd_limit));
    return 1;
  }

  const TreeMemory before = tree_memory(target.server_pids);
  IdleHandler handler;
  ClientLoop loop(target.host, target.port, handler, target.tls.get());
  // Peer i joins key i % keys: the first `keys` peers found the groups, later ones join them.
  uint64_t started = 0;
  const auto start = Clock::now();
  while (handler.joined() + handler.failed_before_join() < peers &&
         seconds_since(start) < join_timeout) {
    while (started < peers &&
           started - handler.joined() - handler.failed_before_join() < max_pending) {
      loop.connect(target.source(started),
                   "bench-idle-" + tag + "-" + std::to_string(started % keys));
      ++started;
    }
    loop.run_once(20);
  }
  const double join_seconds = seconds_since(start);
  const uint64_t joined = handler.joined();
  std::fprintf(stderr, "idle: %llu of %llu peers joined in %.1f s\n",
               static_cast<unsigned long long>(joined), static_cast<unsigned long long>(peers),
               join_seconds);

  run_for(loop, settle);
  const TreeMemory settled = tree_memory(target.server_pids);
  run_for(loop, hold - settle);
  const TreeMemory final_memory = tree_memory(target.server_pids);

  uint64_t connected = 0;
  std::map<int, uint64_t> close_codes;
  for (size_t i = 0; i < loop.size(); ++i) {
    const Conn& conn = loop.conn(i);
    if (conn.state == ConnState::kOpen && conn.tag == kJoined) ++connected;
    if (conn.state == ConnState::kClosed) ++close_codes[conn.close_code];
  }
  std::string codes;
  for (const auto& [code, count] : close_codes) {
    codes += (codes.empty() ? "" : ",") + std::to_string(code) + ":" + std::to_string(count);
  }

  std::printf("idle.peers=%llu\nidle.keys=%llu\n", static_cast<unsigned long long>(peers),
              static_cast<unsigned long long>(keys));
  std::printf("idle.joined=%llu\nidle.first=%llu\n", static_cast<unsigned long long>(joined),
              static_cast<unsigned long long>(handler.first()));
  std::printf("idle.join_seconds=%.2f\n", join_seconds);
  std::printf("idle.hold_seconds=%.1f\n", hold);
  std::printf("idle.connected_at_end=%llu\n", static_cast<unsigned long long>(connected));
  std::printf("idle.close_codes=%s\n", codes.empty() ? "none" : codes.c_str());
  std::printf("idle.unexpected_messages=%llu\n",
              static_cast<unsigned long long>(handler.unexpected()));
  std::printf("idle.server_processes=%zu\n", final_memory.processes);
  print_tls("idle", target);
  print_memory("before", before);
  print_memory("settled", settled);
  print_memory("final", final_memory);
  std::printf("idle.kib_per_peer_pss=%.2f\n",
              per_peer(final_memory.pss_kib, before.pss_kib, connected));
  std::printf("idle.kib_per_peer_rss=%.2f\n",
              per_peer(final_memory.rss_kib, before.rss_kib, connected));
  std::printf("idle.kib_per_peer_pss_settled=%.2f\n",
              per_peer(settled.pss_kib, before.pss_kib, connected));
  return 0;
}

}  // namespace bench
