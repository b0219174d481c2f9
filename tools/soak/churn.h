#pragma once
// The churn of sigver-soak: sessions shaped like netflux peers joining groups over many keys
// (a founder, then 1-4 joiners bound to it), relaying content both ways, ending each relay
// direction with isEnd, sending stable, then leaving in every way a browser can: a close
// frame, silence (the server must close by heartbeat, 4002), a FIN or an RST in the middle of
// a frame. Some sessions lose their member mid-relay, lose a joiner mid-relay, or exercise
// tryAnother's replacement of a blocking member (4004); a few steady pairs relay for the
// whole run, through every reload and worker-count change.
//
// Every message is checked against what the tool itself sent: contents carry the joiner and
// a sequence number and a byte pattern, so a lost, duplicated, reordered, misrouted or
// damaged message is an error, as is a missing or extra end notice, a wrong routing id or an
// unexpected close code. Every wait has a deadline, so a lost message is an error, never a
// hang. One thread, one epoll set (bench::ClientLoop).
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "client_loop.h"
#include "silent_sockets.h"
#include "wire.h"

namespace soak {

using Clock = std::chrono::steady_clock;

struct ChurnOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  unsigned sources = 8;      // connections come from 127.0.0.1 .. 127.0.0.<sources>
  size_t sessions = 400;     // sessions kept going at once (a new one replaces each that ends)
  size_t steady_pairs = 32;  // member/joiner pairs relaying for the whole run
  double start_rate = 40;    // new sessions per second at most (ramp-up and refill)
  uint64_t max_connections = 1000000;  // no new session past this many connections
  uint64_t seed = 1;
  std::string tag = "soak";  // part of every key, so two runs never share a group
};

struct ChurnCounters {
  uint64_t connections = 0;
  uint64_t sessions_started = 0;
  uint64_t sessions_done = 0;
  uint64_t kinds[5] = {};  // sessions by kind (Churn::Kind)
  uint64_t round_trips = 0;
  uint64_t leaves[4] = {};           // by Churn::Leave
  uint64_t heartbeat_closes = 0;     // silent peers the server closed with 4002
  uint64_t replaced = 0;             // blocking members closed with 4004 after a tryAnother
  uint64_t member_gone_notices = 0;  // joiners told their member left (isError)
  uint64_t joiner_gone_notices = 0;  // members told a joiner left (id, isError)
  uint64_t errors = 0;
  double max_join_seconds = 0;   // connect -> isFirst
  double max_reply_seconds = 0;  // request sent -> its reply received
  size_t max_sockets = 0;
};

class Churn final : public bench::ClientHandler {
 public:
  enum class Kind : uint8_t { kNormal, kMemberLeaves, kJoinerLeaves, kTryAnother, kSteady };
  enum class Leave : uint8_t { kClean, kSilent, kMidFrameFin, kMidFrameRst };

  explicit Churn(const ChurnOptions& options);

  // Starts sessions, waits up to `wait_ms` for socket events, fires due timers and checks
  // deadlines.
  void tick(int wait_ms);
  // No new sessions; every peer leaves with a close frame.
  void begin_finish();
  // Something the server was put through (a reload): errors say how long after it they came.
  void note_event(const std::string& what);
  bool finished() const { return live_sessions_ == 0 && silent_.size() == 0; }

  size_t server_sockets();  // sockets this tool holds to the server right now
  size_t peers_joined() const { return joined_; }
  const ChurnCounters& counters() const { return counters_; }
  const std::map<std::string, uint64_t>& error_kinds() const { return error_kinds_; }
  const std::vector<std::string>& error_details() const { return error_details_; }

  void on_message(bench::ClientLoop& loop, bench::Conn& conn, std::string_view payload) override;
  void on_closed(bench::ClientLoop& loop, bench::Conn& conn) override;

 private:
  enum class Role : uint8_t { kFounder, kJoiner };
  enum class State : uint8_t {
    kConnecting,  // waiting for isFirst
    kRelaying,    // joiner: requests out, replies back
    kEnding,      // joiner: sent isEnd, waiting for the member's
    kReplacing,   // joiner: sent tryAnother, waiting for isFirst=true
    kMember,      // in the group, idle until its leave timer
    kLeaving,     // close frame sent, waiting for the server's
    kGone,
  };
  static constexpr size_t kMaxWindow = 4;
  static constexpr uint32_t kNone = UINT32_MAX;

  struct Peer {
    uint32_t session = 0;
    Role role = Role::kFounder;
    State state = State::kConnecting;
    Leave leave = Leave::kClean;
    bool joined = false;    // got its first isFirst
    bool departed = false;  // left (or was closed): the others may be told
    double connected_at = 0;
    double deadline = 0;  // of the current wait (isFirst, isEnd, close frame, 4004)
    // Joiner: its binding as the joiner sees it.
    bool bound = false;      // got isFirst=false: the server bound it to the founder
    bool down_open = false;  // member -> joiner direction not ended yet
    bool sent_end = false;   // it sent isEnd (joiner -> member ended)
    bool tried_another = false;
    bool send_timer = false;
    uint32_t target = 0, window = 1, sent = 0, replies = 0;
    double pace = 0.1, next_send_at = 0;
    double sent_at[kMaxWindow] = {};
    // Joiner: its binding as the founder sees it.
    uint32_t routing_id = 0;  // the id the founder gets its contents with
    uint32_t member_next_seq = 0;
    bool member_in_open = false;   // joiner -> member direction not ended at the founder
    bool member_out_open = false;  // the founder has not sent its isEnd
    // Founder of a tryAnother session: to be closed with 4004, after an isError notice.
    bool expect_replaced = false;
    bool got_replacement_notice = false;
  };

  struct Session {
    Kind kind = Kind::kNormal;
    std::string key;
    uint32_t founder = 0;
    std::vector<uint32_t> joiners;
    size_t planned_joiners = 0;
    size_t bound_joiners = 0;
    size_t live = 0;  // peers not gone
    bool founder_departed = false;
    bool founder_leave_scheduled = false;
    bool joiner_left = false;  // kJoinerLeaves: its joiner has been sent away
  };

  enum class TimerKind : uint8_t { kSend, kLeave };
  struct Timer {
    double at = 0;
    uint32_t peer = 0;
    TimerKind kind = TimerKind::kSend;
    bool operator>(const Timer& other) const { return at > other.at; }
  };
  // An end notice somebody must have received by `deadline`.
  struct NoticeCheck {
    double deadline = 0;
    uint32_t peer = 0;       // the joiner the notice concerns
    bool to_member = false;  // the founder is told about the joiner (else the joiner is told)
  };

  double now() const;
  Kind pick_kind();
  Leave pick_leave();
  double uniform(double low, double high);
  size_t message_size();
  std::string source(uint32_t peer) const;

  void start_sessions();
  void start_session(Kind kind);
  uint32_t connect_peer(uint32_t session, Role role);
  void on_joined(uint32_t peer, bool first);
  void founder_message(uint32_t peer, const bench::SigverMessage& m);
  void joiner_message(uint32_t peer, const bench::SigverMessage& m);
  void joiner_content(uint32_t peer, const bench::SigverMessage& m);
  void after_reply(uint32_t peer);
  void try_send(uint32_t peer);
  void finish_relay(uint32_t peer);
  void maybe_founder_leaves(Session& session);
  void leave(uint32_t peer, Leave how);
  void departed(uint32_t peer);
  void gone(uint32_t peer);
  void schedule(double at, uint32_t peer, TimerKind kind);
  void fire_timers();
  void sweep();
  void poll_silent();
  bool is_joiner_of(const Session& session, uint32_t peer) const;
  void send(uint32_t peer, const std::string& message);
  void error(uint32_t peer, const std::string& kind, const std::string& detail = "");

  ChurnOptions options_;
  bench::ClientLoop loop_;
  SilentSockets silent_;
  std::mt19937_64 rng_;
  Clock::time_point start_;
  std::deque<Peer> peers_;  // index = the ClientLoop's connection index; stable references
  std::deque<Session> sessions_;
  std::vector<uint32_t> active_;  // peers not gone (compacted by sweep)
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::vector<NoticeCheck> notice_checks_;
  size_t live_sessions_ = 0, normal_sessions_ = 0, steady_sessions_ = 0, joined_ = 0;
  double start_tokens_ = 0, tokens_at_ = 0, next_sweep_ = 0;
  bool stopping_ = false;
  std::string last_event_;
  double last_event_at_ = 0;
  ChurnCounters counters_;
  std::map<std::string, uint64_t> error_kinds_;
  std::vector<std::string> error_details_;
};

// How a connection ended, in words: a close code or one of bench::kClosedBy*.
std::string close_name(int code);
const char* kind_name(Churn::Kind kind);
const char* leave_name(Churn::Leave leave);

}  // namespace soak
