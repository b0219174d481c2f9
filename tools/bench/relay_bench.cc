// Relay scenario: server CPU per relayed round trip.
//   --pairs 50          member/joiner pairs, one key each (the member joins first)
//   --round-trips N     stop the measure after N round trips (default 200000) ...
//   --seconds S         ... or after S seconds, whichever comes first (default 20)
//   --warmup S          round trips before the measure starts, for JITs and caches (default 2)
//   --data-size B       bytes of netflux data per content (default 200: an ICE candidate)
//   --setup-timeout S   bound on connecting and joining (default 30)
//   --sources K         spread connections over 127.0.0.1..K
//   --generation G      the Sigver generation the peers speak, 1 (default) or 2
// A round trip in generation 1: the joiner sends content{data}, the server relays it to the
// member as content{id: X, data}, the member answers content{id: X, data}, the server relays
// that back as content{data}. In generation 2 every peer first sends connect{id} (the member
// gets connected=true, the joiner connected=false), the joiner sends content{senderId: its
// id, recipientId: 0, lastData: false, data} as netflux 4 does, the member receives
// content{senderId: S, recipientId: 0, data} and answers content{senderId: 0, recipientId: S,
// lastData: false, data}, which reaches the joiner as content{senderId: 0, recipientId: S,
// data}. Every pair keeps exactly one content in flight, like the offer/answer and
// candidate exchange of many peers joining at once. Server CPU is utime+stime of its whole
// process tree, read before and after the measure window.
#include <sys/resource.h>
#include <unistd.h>

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

// netflux member ids of a pair's peers in generation 2 (any uint32 will do).
uint32_t member_id(size_t pair) { return static_cast<uint32_t>(1000 + 2 * pair); }
uint32_t joiner_id(size_t pair) { return member_id(pair) + 1; }

// What the relay needs of a message, in either generation.
struct Received {
  // kLate: isFirst to a generation-2 peer whose connect came after the detection time, which
  // then moves it to generation 2 ("Late generation 2"); its connected follows.
  enum class Kind { kJoin, kContent, kLate, kOther } kind = Kind::kOther;
  bool first = false;      // kJoin: isFirst=true / connected=true
  uint32_t routing = 0;    // kContent: the routing id it carries (0 for "your member")
  bool routing_ok = true;  // kContent: the other generation-2 id is 0 as it should be
  size_t data_size = 0;
};

Received receive(int generation, bool joiner_side, std::string_view payload) {
  Received r;
  if (generation == 2) {
    const Gen2Message m = decode_gen2(payload);
    if (m.type == Gen2Message::Type::kConnected) {
      r.kind = Received::Kind::kJoin;
      r.first = m.flag;
    } else if (m.type == Gen2Message::Type::kContent && m.has_data && !m.last_data) {
      r.kind = Received::Kind::kContent;
      // To the member: senderId = the binding, recipientId 0; to the joiner: the reverse.
      r.routing = joiner_side ? m.recipient_id : m.sender_id;
      r.routing_ok = (joiner_side ? m.sender_id : m.recipient_id) == 0;
      r.data_size = m.data.size();
    } else if (decode_sigver(payload).type == SigverMessage::Type::kIsFirst) {
      r.kind = Received::Kind::kLate;
    }
    return r;
  }
  const SigverMessage m = decode_sigver(payload);
  if (m.type == SigverMessage::Type::kIsFirst) {
    r.kind = Received::Kind::kJoin;
    r.first = m.flag;
  } else if (m.type == SigverMessage::Type::kContent && m.has_data) {
    r.kind = Received::Kind::kContent;
    r.routing = m.id;
    r.data_size = m.data.size();
  }
  return r;
}

struct Pair {
  size_t member = 0;
  size_t joiner = 0;
  bool member_first = false;  // the member got isFirst=true / connected=true
  bool joiner_bound = false;  // the joiner got isFirst=false / connected=false
  bool in_flight = false;
  std::string request;  // the joiner's encoded content, sent again and again
  std::string answer;   // the member's encoded answer, built once the id is known
  uint32_t routing_id = 0;
};

class RelayHandler : public ClientHandler {
 public:
  RelayHandler(int generation, size_t pairs, size_t data_size)
      : generation_(generation), pairs_(pairs) {
    for (size_t i = 0; i < pairs; ++i) {
      const std::string data = fake_ice_candidate(data_size, 2 * i);
      pairs_[i].request =
          generation == 2 ? encode_gen2_content(joiner_id(i), 0, data) : encode_content(0, data);
    }
    answer_data_ = fake_ice_candidate(data_size, 1);
    data_size_ = data_size;
  }

  // A generation-2 peer speaks first: connect{id} with no members yet, as netflux 4 does when
  // its socket opens.
  void on_open(ClientLoop& loop, Conn& conn) override {
    if (generation_ != 2) return;
    const size_t pair = conn.tag / 2;
    const bool joiner_side = (conn.tag & 1) != 0;
    loop.send_message(conn,
                      encode_gen2_connect(joiner_side ? joiner_id(pair) : member_id(pair), {}));
  }

  void on_message(ClientLoop& loop, Conn& conn, std::string_view payload) override {
    Pair& pair = pairs_[conn.tag / 2];
    const bool from_joiner_side = (conn.tag & 1) != 0;
    const Received m = receive(generation_, from_joiner_side, payload);
    if (m.kind == Received::Kind::kJoin) {
      if (from_joiner_side) {
        pair.joiner_bound = !m.first;
      } else {
        pair.member_first = m.first;
      }
      ++joins_;
      return;
    }
    if (m.kind == Received::Kind::kLate) {
      ++late_;
      return;
    }
    if (m.kind != Received::Kind::kContent || !m.routing_ok) {
      ++unexpected_;
      return;
    }
    if (!from_joiner_side) {
      if (m.routing == 0) {
        ++unexpected_;
        return;
      }
      if (m.routing != pair.routing_id) {
        pair.routing_id = m.routing;
        pair.answer = generation_ == 2 ? encode_gen2_content(0, m.routing, answer_data_)
                                       : encode_content(m.routing, answer_data_);
      }
      loop.send_message(conn, pair.answer);
      return;
    }
    // The joiner hears from its member: id 0 in generation 1, the binding's id in 2.
    const bool routing_ok = generation_ == 2 ? m.routing == pair.routing_id : m.routing == 0;
    if (!routing_ok || m.data_size != data_size_) ++unexpected_;
    ++round_trips_;
    pair.in_flight = false;
    --in_flight_;
    if (!stopping_) send_request(loop, pair);
  }

  void on_closed(ClientLoop&, Conn&) override { ++closed_; }

  void send_request(ClientLoop& loop, Pair& pair) {
    Conn& joiner = loop.conn(pair.joiner);
    if (joiner.state != ConnState::kOpen) return;
    pair.in_flight = true;
    ++in_flight_;
    loop.send_message(joiner, pair.request);
  }

  std::vector<Pair>& pairs() { return pairs_; }
  uint64_t joins() const { return joins_; }
  uint64_t round_trips() const { return round_trips_; }
  uint64_t unexpected() const { return unexpected_; }
  uint64_t late() const { return late_; }
  uint64_t closed() const { return closed_; }
  uint64_t in_flight() const { return in_flight_; }
  void stop() { stopping_ = true; }

 private:
  int generation_ = 1;
  std::vector<Pair> pairs_;
  std::string answer_data_;
  size_t data_size_ = 0;
  uint64_t joins_ = 0, round_trips_ = 0, unexpected_ = 0, late_ = 0, closed_ = 0, in_flight_ = 0;
  bool stopping_ = false;
};

// Runs the loop until `done()` or `bound` seconds; true if done.
template <typename Done>
bool run_until(ClientLoop& loop, double bound, Done done) {
  const auto start = Clock::now();
  while (!done()) {
    if (seconds_since(start) >= bound) return false;
    loop.run_once(50);
  }
  return true;
}

uint64_t own_cpu_us() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto us = [](const timeval& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1000000 + static_cast<uint64_t>(t.tv_usec);
  };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

}  // namespace

int run_relay(const Args& args) {
  const Target target = target_from(args);
  const size_t pairs = args.number("pairs", 50);
  const uint64_t max_round_trips = args.number("round-trips", 200000);
  const double max_seconds = args.seconds("seconds", 20);
  const double warmup = args.seconds("warmup", 2);
  const double setup_timeout = args.seconds("setup-timeout", 30);
  const std::string tag = args.text("tag", std::to_string(getpid()));
  raise_open_file_limit();

  const int generation = args.number("generation", 1) == 2 ? 2 : 1;
  RelayHandler handler(generation, pairs, args.number("data-size", 200));
  ClientLoop loop(target.host, target.port, handler, target.tls.get());
  auto& all = handler.pairs();
  for (size_t i = 0; i < pairs; ++i) {
    all[i].member =
        loop.connect(target.source(i), "bench-relay-" + tag + "-" + std::to_string(i), generation);
    loop.conn(all[i].member).tag = 2 * i;
  }
  bool ready = run_until(loop, setup_timeout, [&] { return handler.joins() >= pairs; });
  for (size_t i = 0; ready && i < pairs; ++i) {
    all[i].joiner = loop.connect(target.source(i + 1),
                                 "bench-relay-" + tag + "-" + std::to_string(i), generation);
    loop.conn(all[i].joiner).tag = 2 * i + 1;
  }
  ready = ready && run_until(loop, setup_timeout, [&] { return handler.joins() >= 2 * pairs; });
  size_t bound = 0;
  for (const Pair& pair : all) bound += pair.member_first && pair.joiner_bound ? 1 : 0;
  if (!ready || bound != pairs || handler.closed() != 0) {
    std::fprintf(stderr, "relay: only %zu of %zu pairs set up (%llu closed)\n", bound, pairs,
                 static_cast<unsigned long long>(handler.closed()));
    std::printf("relay.error=setup failed: %zu of %zu pairs\n", bound, pairs);
    return 1;
  }

  for (Pair& pair : all) handler.send_request(loop, pair);
  run_until(loop, warmup, [&] { return handler.closed() != 0; });

  const TreeCpu server_cpu0 = tree_cpu(target.server_pids);
  const uint64_t client_cpu0 = own_cpu_us();
  const uint64_t round_trips0 = handler.round_trips();
  const auto start = Clock::now();
  run_until(loop, max_seconds, [&] {
    return handler.round_trips() - round_trips0 >= max_round_trips || handler.closed() != 0;
  });
  const double elapsed = seconds_since(start);
  const uint64_t round_trips = handler.round_trips() - round_trips0;
  const TreeCpu server_cpu1 = tree_cpu(target.server_pids);
  const uint64_t server_cpu = server_cpu1.total_us() - server_cpu0.total_us();
  const uint64_t server_user = server_cpu1.user_us - server_cpu0.user_us;
  const uint64_t client_cpu = own_cpu_us() - client_cpu0;

  handler.stop();
  run_until(loop, 2, [&] { return handler.in_flight() == 0; });

  auto per_rt = [&](uint64_t us) {
    return round_trips ? static_cast<double>(us) / round_trips : 0;
  };
  std::printf("relay.generation=%d\n", generation);
  std::printf("relay.pairs=%zu\n", pairs);
  std::printf("relay.round_trips=%llu\n", static_cast<unsigned long long>(round_trips));
  std::printf("relay.seconds=%.3f\n", elapsed);
  std::printf("relay.rt_per_s=%.0f\n", round_trips / elapsed);
  std::printf("relay.server_cpu_s=%.3f\n", server_cpu / 1e6);
  std::printf("relay.server_cpu_us_per_rt=%.2f\n", per_rt(server_cpu));
  std::printf("relay.server_user_us_per_rt=%.2f\n", per_rt(server_user));
  std::printf("relay.server_system_us_per_rt=%.2f\n", per_rt(server_cpu - server_user));
  std::printf("relay.server_cpu_pct=%.0f\n", 100.0 * server_cpu / 1e6 / elapsed);
  std::printf("relay.client_cpu_pct=%.0f\n", 100.0 * client_cpu / 1e6 / elapsed);
  std::printf("relay.unexpected_messages=%llu\n",
              static_cast<unsigned long long>(handler.unexpected()));
  if (generation == 2) {
    std::printf("relay.late_gen2=%llu\n", static_cast<unsigned long long>(handler.late()));
  }
  print_tls("relay", target);
  std::printf("relay.closed_connections=%llu\n", static_cast<unsigned long long>(handler.closed()));
  return 0;
}

}  // namespace bench
