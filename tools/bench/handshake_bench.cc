// Handshake scenario: what a new peer costs, from TCP connect to its join answer.
//   --style S           gen1-silent: a netflux 3 peer, which says nothing until isFirst (with
//                       both generations served it waits out the detection time);
//                       gen1-speaks: a generation-1 peer whose first message (its heartbeat
//                       20 01) goes out right after the 101, so it is decided at once;
//                       gen2: a netflux 4 peer, connect{id} right after the 101
//   --connections N     stop the measure after N peers joined (default 20000) ...
//   --seconds S         ... or after S seconds, whichever comes first (default 3)
//   --concurrency C     peers between connect and join answer at once (default 64)
//   --warmup S          seconds of the same load before the measure starts (default 0.5)
//   --sources K         spread connections over 127.0.0.1..K
// Every peer gets a key of its own, so it founds a group (isFirst=true, connected=true), and
// closes its TCP connection as soon as the answer arrives: the server's figures cover the
// upgrade, the detection, the join and the leave. Latency runs from the connect() call to the
// answer; the rate is the joins completed per second of the measure window with C in flight.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "client_loop.h"
#include "proc_tree.h"
#include "scenarios.h"
#include "wire.h"
#include "wire2.h"

namespace bench {
namespace {

enum class Style { kGen1Silent, kGen1Speaks, kGen2 };

class HandshakeHandler : public ClientHandler {
 public:
  explicit HandshakeHandler(Style style) : style_(style) {}

  void on_open(ClientLoop& loop, Conn& conn) override {
    if (style_ == Style::kGen1Speaks) loop.send_message(conn, encode_heartbeat());
    if (style_ == Style::kGen2) {
      loop.send_message(conn, encode_gen2_connect(static_cast<uint32_t>(conn.index + 1), {}));
    }
  }

  void on_message(ClientLoop& loop, Conn& conn, std::string_view payload) override {
    bool first = false;
    if (style_ == Style::kGen2) {
      const Gen2Message m = decode_gen2(payload);
      first = m.type == Gen2Message::Type::kConnected && m.flag;
      // Its connect reached the server after the detection time: it was made generation 1
      // (isFirst, 10 01), then moved to generation 2 by the connect ("Late generation 2").
      if (!first && decode_sigver(payload).type == SigverMessage::Type::kIsFirst) {
        if (measuring_) ++late_;
        return;
      }
    } else {
      const SigverMessage m = decode_sigver(payload);
      first = m.type == SigverMessage::Type::kIsFirst && m.flag;
    }
    if (!first) {
      ++unexpected_;
      return;
    }
    const double latency =
        std::chrono::duration<double>(Clock::now() - started_[conn.index]).count();
    conn.tag = 1;  // joined
    ++joined_;
    if (measuring_) latencies_.push_back(latency);
    loop.close(conn);
  }

  void on_closed(ClientLoop&, Conn& conn) override {
    --in_flight_;
    if (conn.tag != 1) ++failed_;
  }

  void started(size_t index) {
    if (started_.size() <= index) started_.resize(index + 1);
    started_[index] = Clock::now();
    ++in_flight_;
  }
  void measure(bool on) { measuring_ = on; }

  uint64_t joined() const { return joined_; }
  uint64_t failed() const { return failed_; }
  uint64_t unexpected() const { return unexpected_; }
  uint64_t late() const { return late_; }
  uint64_t in_flight() const { return in_flight_; }
  std::vector<double>& latencies() { return latencies_; }

 private:
  Style style_;
  std::vector<Clock::time_point> started_;  // by connection index
  std::vector<double> latencies_;           // seconds, joins inside the measure window
  uint64_t joined_ = 0, failed_ = 0, unexpected_ = 0, late_ = 0, in_flight_ = 0;
  bool measuring_ = false;
};

double quantile(std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const auto at = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(at, sorted.size() - 1)];
}

}  // namespace

int run_handshake(const Args& args) {
  const Target target = target_from(args);
  const std::string style_name = args.text("style", "gen2");
  Style style = Style::kGen2;
  if (style_name == "gen1-silent") {
    style = Style::kGen1Silent;
  } else if (style_name == "gen1-speaks") {
    style = Style::kGen1Speaks;
  } else if (style_name != "gen2") {
    std::printf("handshake.error=unknown style %s\n", style_name.c_str());
    return 1;
  }
  const uint64_t max_joins = args.number("connections", 20000);
  const double max_seconds = args.seconds("seconds", 3);
  const uint64_t concurrency = std::max<uint64_t>(1, args.number("concurrency", 64));
  const double warmup = args.seconds("warmup", 0.5);
  const std::string tag = args.text("tag", std::to_string(getpid()));
  raise_open_file_limit();

  HandshakeHandler handler(style);
  ClientLoop loop(target.host, target.port, handler, target.tls.get());
  const int generation = style == Style::kGen2 ? 2 : 1;
  uint64_t next = 0;
  // Keeps `concurrency` peers between connect and answer, each on a key of its own.
  auto top_up = [&] {
    while (handler.in_flight() < concurrency) {
      handler.started(loop.size());
      loop.connect(target.source(next), "bench-hs-" + tag + "-" + std::to_string(next), generation);
      ++next;
    }
  };
  auto run_for = [&](double seconds, uint64_t joins) {
    const auto start = Clock::now();
    const uint64_t joined0 = handler.joined();
    while (seconds_since(start) < seconds && handler.joined() - joined0 < joins) {
      top_up();
      loop.run_once(10);
    }
  };

  run_for(warmup, UINT64_MAX);
  const uint64_t failed0 = handler.failed();
  const TreeCpu server_cpu0 = tree_cpu(target.server_pids);
  const uint64_t joined0 = handler.joined();
  handler.measure(true);
  const auto start = Clock::now();
  run_for(max_seconds, max_joins);
  const double elapsed = seconds_since(start);
  const uint64_t joins = handler.joined() - joined0;
  const TreeCpu server_cpu1 = tree_cpu(target.server_pids);
  handler.measure(false);
  const uint64_t server_cpu = server_cpu1.total_us() - server_cpu0.total_us();
  const uint64_t server_user = server_cpu1.user_us - server_cpu0.user_us;
  // Let the peers still in flight finish, so none is left to the next run.
  const auto drain = Clock::now();
  while (handler.in_flight() > 0 && seconds_since(drain) < 2) loop.run_once(10);

  std::vector<double>& latencies = handler.latencies();
  std::sort(latencies.begin(), latencies.end());
  auto per_join = [&](uint64_t us) { return joins ? static_cast<double>(us) / joins : 0; };
  std::printf("handshake.style=%s\n", style_name.c_str());
  std::printf("handshake.concurrency=%llu\n", static_cast<unsigned long long>(concurrency));
  std::printf("handshake.joins=%llu\n", static_cast<unsigned long long>(joins));
  std::printf("handshake.seconds=%.3f\n", elapsed);
  std::printf("handshake.per_s=%.0f\n", elapsed > 0 ? joins / elapsed : 0);
  std::printf("handshake.server_cpu_us=%.2f\n", per_join(server_cpu));
  std::printf("handshake.server_user_us=%.2f\n", per_join(server_user));
  std::printf("handshake.latency_ms_p50=%.2f\n", 1000 * quantile(latencies, 0.5));
  std::printf("handshake.latency_ms_p90=%.2f\n", 1000 * quantile(latencies, 0.9));
  std::printf("handshake.latency_ms_p99=%.2f\n", 1000 * quantile(latencies, 0.99));
  std::printf("handshake.latency_ms_max=%.2f\n", latencies.empty() ? 0 : 1000 * latencies.back());
  std::printf("handshake.failed=%llu\n",
              static_cast<unsigned long long>(handler.failed() - failed0));
  std::printf("handshake.late_gen2=%llu\n", static_cast<unsigned long long>(handler.late()));
  print_tls("handshake", target);
  std::printf("handshake.unexpected_messages=%llu\n",
              static_cast<unsigned long long>(handler.unexpected()));
  return 0;
}

}  // namespace bench
