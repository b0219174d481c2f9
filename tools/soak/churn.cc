#include "churn.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "content.h"

namespace soak {
namespace {

constexpr double kJoinTimeout = 10;    // connect -> isFirst
constexpr double kReplyTimeout = 10;   // a request -> its reply; isEnd -> the member's isEnd
constexpr double kNoticeTimeout = 10;  // a peer left -> the other side's end notice
// A silent peer is closed after heartbeat_misses x heartbeat_interval (3 x 0.6 s here); its
// notices come after that.
constexpr double kSilentTimeout = 15;
constexpr double kCloseTimeout = 5;  // our close frame -> the server's
constexpr double kSweepEvery = 0.25;
constexpr size_t kMaxDetails = 40;
constexpr int kCloseHeartbeat = 4002;

}  // namespace

std::string close_name(int code) {
  switch (code) {
    case bench::kClosedByEof:
      return "TCP closed without a close frame";
    case bench::kClosedByError:
      return "socket error (connection reset or refused)";
    case bench::kClosedBadUpgrade:
      return "no valid 101 answer";
    case bench::kClosedBadFrame:
      return "bytes that are no WebSocket frame";
    case bench::kClosedLocally:
      return "closed by this tool";
    default:
      return "close code " + std::to_string(code);
  }
}

const char* kind_name(Churn::Kind kind) {
  switch (kind) {
    case Churn::Kind::kNormal:
      return "normal";
    case Churn::Kind::kMemberLeaves:
      return "member leaves mid-relay";
    case Churn::Kind::kJoinerLeaves:
      return "joiner leaves mid-relay";
    case Churn::Kind::kTryAnother:
      return "tryAnother replaces the member";
    case Churn::Kind::kSteady:
      return "steady pair";
  }
  return "?";
}

const char* leave_name(Churn::Leave leave) {
  switch (leave) {
    case Churn::Leave::kClean:
      return "close frame";
    case Churn::Leave::kSilent:
      return "silent";
    case Churn::Leave::kMidFrameFin:
      return "FIN mid-frame";
    case Churn::Leave::kMidFrameRst:
      return "RST mid-frame";
  }
  return "?";
}

Churn::Churn(const ChurnOptions& options)
    : options_(options),
      loop_(options.host, options.port, *this),
      rng_(options.seed),
      start_(Clock::now()) {}

double Churn::now() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

double Churn::uniform(double low, double high) {
  return std::uniform_real_distribution<double>(low, high)(rng_);
}

Churn::Kind Churn::pick_kind() {
  const double r = uniform(0, 1);
  if (r < 0.70) return Kind::kNormal;
  if (r < 0.80) return Kind::kMemberLeaves;
  if (r < 0.92) return Kind::kJoinerLeaves;
  return Kind::kTryAnother;
}

Churn::Leave Churn::pick_leave() {
  const double r = uniform(0, 1);
  if (r < 0.60) return Leave::kClean;
  if (r < 0.75) return Leave::kSilent;
  if (r < 0.90) return Leave::kMidFrameFin;
  return Leave::kMidFrameRst;
}

// Mostly ICE-candidate sized, some SDP sized, a few large.
size_t Churn::message_size() {
  const double r = uniform(0, 1);
  if (r < 0.85) return static_cast<size_t>(uniform(60, 600));
  if (r < 0.98) return static_cast<size_t>(uniform(600, 4000));
  return static_cast<size_t>(uniform(16 * 1024, 64 * 1024));
}

std::string Churn::source(uint32_t peer) const {
  return "127.0.0." + std::to_string(1 + peer % std::max(1u, options_.sources));
}

void Churn::send(uint32_t peer, const std::string& message) {
  loop_.send_message(loop_.conn(peer), message);
}

void Churn::error(uint32_t peer, const std::string& kind, const std::string& detail) {
  ++counters_.errors;
  ++error_kinds_[kind];
  if (error_details_.size() >= kMaxDetails) return;
  char text[512];
  if (peer == kNone) {
    std::snprintf(text, sizeof text, "t=%.1fs: %s%s%s", now(), kind.c_str(),
                  detail.empty() ? "" : ": ", detail.c_str());
  } else {
    const Peer& p = peers_[peer];
    const Session& s = sessions_[p.session];
    std::snprintf(text, sizeof text, "t=%.1fs %s %u of session %u (%s, key %.40s): %s%s%s", now(),
                  p.role == Role::kFounder ? "founder" : "joiner", peer, p.session,
                  kind_name(s.kind), s.key.c_str(), kind.c_str(), detail.empty() ? "" : ": ",
                  detail.c_str());
  }
  std::string line = text;
  if (!last_event_.empty()) {
    std::snprintf(text, sizeof text, " (%.2f s after %s)", now() - last_event_at_,
                  last_event_.c_str());
    line += text;
  }
  error_details_.push_back(line);
  std::fprintf(stderr, "soak: %s\n", line.c_str());
}

// ---- Sessions ----

void Churn::start_sessions() {
  if (stopping_) return;
  const double t = now();
  start_tokens_ =
      std::min(options_.start_rate, start_tokens_ + (t - tokens_at_) * options_.start_rate);
  tokens_at_ = t;
  while (steady_sessions_ < options_.steady_pairs && start_tokens_ >= 1 &&
         counters_.connections < options_.max_connections) {
    start_tokens_ -= 1;
    start_session(Kind::kSteady);
  }
  while (normal_sessions_ < options_.sessions && start_tokens_ >= 1 &&
         counters_.connections < options_.max_connections) {
    start_tokens_ -= 1;
    start_session(pick_kind());
  }
}

void Churn::start_session(Kind kind) {
  const auto id = static_cast<uint32_t>(sessions_.size());
  Session& s = sessions_.emplace_back();
  s.kind = kind;
  // Keys vary in shape (slashes, length) the way KEY may; the run tag keeps runs apart.
  s.key = (id % 5 == 0 ? "soak/" + options_.tag + "/" : "soak-" + options_.tag + "-") +
          std::to_string(id);
  if (id % 7 == 0) s.key += "-" + std::string(200, 'k');
  s.planned_joiners =
      kind == Kind::kTryAnother || kind == Kind::kSteady ? 1 : static_cast<size_t>(uniform(1, 5));
  ++live_sessions_;
  ++(kind == Kind::kSteady ? steady_sessions_ : normal_sessions_);
  ++counters_.sessions_started;
  ++counters_.kinds[static_cast<size_t>(kind)];
  s.founder = connect_peer(id, Role::kFounder);
}

uint32_t Churn::connect_peer(uint32_t session, Role role) {
  const auto id = static_cast<uint32_t>(peers_.size());
  Peer& p = peers_.emplace_back();
  Session& s = sessions_[session];
  p.session = session;
  p.role = role;
  p.connected_at = now();
  p.deadline = p.connected_at + kJoinTimeout;
  if (role == Role::kJoiner) {
    s.joiners.push_back(id);
    switch (s.kind) {
      case Kind::kSteady:
        p.target = UINT32_MAX;
        p.window = 2;
        p.pace = 0.25;
        break;
      case Kind::kTryAnother:
        p.target = static_cast<uint32_t>(uniform(2, 7));
        p.window = 1;
        p.pace = 0.05;
        break;
      default:  // an offer, an answer and a dozen ICE candidates, trickled
        p.target = static_cast<uint32_t>(uniform(4, 25));
        p.window = static_cast<uint32_t>(uniform(1, 4));
        p.pace = uniform(0.02, 0.2);
        break;
    }
  }
  ++s.live;
  ++counters_.connections;
  active_.push_back(id);
  const size_t index = loop_.connect(source(id), s.key);  // may report a failure at once
  if (index != id) {
    std::fprintf(stderr, "soak: connection index %zu for peer %u: internal error\n", index, id);
    std::abort();
  }
  return id;
}

bool Churn::is_joiner_of(const Session& session, uint32_t peer) const {
  return std::find(session.joiners.begin(), session.joiners.end(), peer) != session.joiners.end();
}

void Churn::on_joined(uint32_t peer, bool first) {
  Peer& p = peers_[peer];
  Session& s = sessions_[p.session];
  p.joined = true;
  ++joined_;
  counters_.max_join_seconds = std::max(counters_.max_join_seconds, now() - p.connected_at);
  if (p.role == Role::kFounder) {
    if (!first) {
      error(peer, "founder got isFirst=false", "a fresh key must start a group");
      leave(peer, Leave::kClean);
      return;
    }
    p.state = State::kMember;
    // Joiners come only once the founder is in: it is the member they all bind to.
    for (size_t i = 0; i < s.planned_joiners; ++i) connect_peer(p.session, Role::kJoiner);
    return;
  }
  if (first) {
    error(peer, "joiner got isFirst=true", "its founder is still in the group");
    p.state = State::kMember;
    schedule(now() + uniform(1, 5), peer, TimerKind::kLeave);
    return;
  }
  p.state = State::kRelaying;
  p.bound = p.down_open = true;
  p.member_in_open = p.member_out_open = true;
  ++s.bound_joiners;
  try_send(peer);
}

void Churn::after_reply(uint32_t peer) {
  Peer& p = peers_[peer];
  Session& s = sessions_[p.session];
  const uint32_t half = std::max(1u, p.target / 2);
  // Leaves are deferred to a timer: we are inside the ClientLoop's read of a socket, and a
  // peer going silent must take the unread rest of that read with it.
  if (s.kind == Kind::kJoinerLeaves && !s.joiner_left && p.replies >= half) {
    s.joiner_left = true;
    p.state = State::kMember;  // no more requests, no isEnd: it leaves mid-relay
    schedule(now(), peer, TimerKind::kLeave);
    return;
  }
  if (s.kind == Kind::kMemberLeaves && !s.founder_leave_scheduled && p.replies >= half &&
      s.bound_joiners == s.planned_joiners) {
    s.founder_leave_scheduled = true;
    schedule(now(), s.founder, TimerKind::kLeave);
  }
  if (p.state != State::kRelaying) return;
  if (p.replies == p.sent && p.sent >= p.target) {
    finish_relay(peer);
  } else {
    try_send(peer);
  }
}

void Churn::try_send(uint32_t peer) {
  Peer& p = peers_[peer];
  if (p.state != State::kRelaying || sessions_[p.session].founder_departed) return;
  if (p.sent >= p.target || p.sent - p.replies >= p.window) return;
  const double t = now();
  if (t < p.next_send_at) {
    if (!p.send_timer) schedule(p.next_send_at, peer, TimerKind::kSend);
    return;
  }
  send(peer, bench::encode_content(0, make_data(kRequestTag, peer, p.sent, message_size())));
  p.sent_at[p.sent % kMaxWindow] = t;
  ++p.sent;
  p.next_send_at = t + p.pace;
  if (p.sent < p.target && p.sent - p.replies < p.window && !p.send_timer) {
    schedule(p.next_send_at, peer, TimerKind::kSend);
  }
}

void Churn::finish_relay(uint32_t peer) {
  Peer& p = peers_[peer];
  Session& s = sessions_[p.session];
  p.deadline = now() + kReplyTimeout;
  if (s.kind == Kind::kTryAnother) {
    // Rule 2: the group's only member was tried, so this joiner replaces it.
    send(peer, flag_message(kTryAnotherField));
    p.state = State::kReplacing;
    p.tried_another = true;
    p.down_open = false;
    Peer& founder = peers_[s.founder];
    founder.expect_replaced = true;
    founder.deadline = p.deadline;
    return;
  }
  send(peer, end_message(0));
  p.sent_end = true;
  p.state = State::kEnding;
}

// Normal sessions: the founder leaves some time after its joiners all became members (or
// left), like a browser tab closed later.
void Churn::maybe_founder_leaves(Session& s) {
  const Peer& founder = peers_[s.founder];
  if (s.founder_leave_scheduled || founder.departed || founder.expect_replaced) return;
  if (s.joiners.size() < s.planned_joiners) return;
  for (uint32_t j : s.joiners) {
    const Peer& q = peers_[j];
    if (!q.departed && q.state != State::kMember) return;
  }
  s.founder_leave_scheduled = true;
  schedule(now() + (s.kind == Kind::kSteady ? 0 : uniform(0, 12)), s.founder, TimerKind::kLeave);
}

// ---- Leaving ----

void Churn::leave(uint32_t peer, Leave how) {
  Peer& p = peers_[peer];
  if (p.departed) return;
  bench::Conn& conn = loop_.conn(peer);
  if (conn.state != bench::ConnState::kOpen) how = Leave::kMidFrameFin;  // still connecting
  p.leave = how;
  p.state = State::kLeaving;
  departed(peer);
  ++counters_.leaves[static_cast<size_t>(how)];
  switch (how) {
    case Leave::kClean:
      loop_.send_raw(conn, close_frame(kCloseNormal));
      p.deadline = now() + kCloseTimeout;
      return;
    case Leave::kSilent: {
      const int fd = ::dup(conn.fd);
      if (fd < 0) {
        error(peer, "dup() failed", std::strerror(errno));
        loop_.close(conn);
        gone(peer);
        return;
      }
      std::string pending = conn.in;
      loop_.close(conn);  // our copy stays open: the server sees nothing
      silent_.add(peer, fd, std::move(pending), now() + kSilentTimeout);
      return;
    }
    case Leave::kMidFrameFin:
    case Leave::kMidFrameRst: {
      if (conn.state == bench::ConnState::kOpen) {
        std::string frame;
        bench::append_client_frame(
            frame, bench::kOpBinary,
            bench::encode_content(0, make_data(kRequestTag, peer, p.sent, message_size())));
        loop_.send_raw(conn,
                       std::string_view(frame).substr(
                           0, static_cast<size_t>(uniform(1, static_cast<double>(frame.size())))));
      }
      if (how == Leave::kMidFrameRst && conn.fd >= 0) {
        const linger reset{1, 0};  // close() sends an RST instead of a FIN
        ::setsockopt(conn.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      }
      loop_.close(conn);
      gone(peer);
      return;
    }
  }
}

// The peer stops being there for the others: say what they must be told, and by when.
void Churn::departed(uint32_t peer) {
  Peer& p = peers_[peer];
  if (p.departed) return;
  p.departed = true;
  if (p.joined) --joined_;
  Session& s = sessions_[p.session];
  const double by = now() + (p.leave == Leave::kSilent ? kSilentTimeout : kNoticeTimeout);
  if (p.role == Role::kJoiner) {
    if (p.bound && p.member_in_open && !p.tried_another && !peers_[s.founder].departed) {
      notice_checks_.push_back(NoticeCheck{by, peer, true});
    }
    maybe_founder_leaves(s);
    return;
  }
  s.founder_departed = true;
  for (uint32_t j : s.joiners) {
    const Peer& q = peers_[j];
    if (q.bound && q.down_open && !q.departed) notice_checks_.push_back(NoticeCheck{by, j, false});
  }
}

void Churn::gone(uint32_t peer) {
  Peer& p = peers_[peer];
  if (p.state == State::kGone) return;
  departed(peer);
  p.state = State::kGone;
  Session& s = sessions_[p.session];
  if (--s.live != 0) return;
  --live_sessions_;
  --(s.kind == Kind::kSteady ? steady_sessions_ : normal_sessions_);
  ++counters_.sessions_done;
}

// ---- Time ----

void Churn::schedule(double at, uint32_t peer, TimerKind kind) {
  if (kind == TimerKind::kSend) peers_[peer].send_timer = true;
  timers_.push(Timer{at, peer, kind});
}

void Churn::fire_timers() {
  const double t = now();
  while (!timers_.empty() && timers_.top().at <= t) {
    const Timer timer = timers_.top();
    timers_.pop();
    Peer& p = peers_[timer.peer];
    if (timer.kind == TimerKind::kSend) {
      p.send_timer = false;
      try_send(timer.peer);
    } else if (!p.departed) {
      leave(timer.peer, pick_leave());
    }
  }
}

void Churn::poll_silent() {
  for (const SilentResult& r : silent_.poll(now())) {
    if (r.code == kCloseHeartbeat) {
      ++counters_.heartbeat_closes;
    } else {
      error(r.peer, "silent peer not closed with 4002", "got " + std::to_string(r.code));
    }
    gone(r.peer);
  }
}

void Churn::sweep() {
  const double t = now();
  size_t kept = 0;
  for (uint32_t peer : active_) {
    if (peers_[peer].state != State::kGone) {
      active_[kept++] = peer;
    } else {
      // The ClientLoop keeps every connection it made; what a closed one had buffered (up to
      // a 64 KiB content) is given back here, outside its read.
      std::string().swap(loop_.conn(peer).in);
    }
  }
  active_.resize(kept);
  for (size_t i = 0; i < active_.size(); ++i) {
    const uint32_t peer = active_[i];
    Peer& p = peers_[peer];
    const Session& s = sessions_[p.session];
    switch (p.state) {
      case State::kConnecting:
        if (t > p.deadline) {
          error(peer, "no isFirst within 10 s of connecting");
          leave(peer, Leave::kMidFrameFin);
        }
        break;
      case State::kRelaying:
        if (!s.founder_departed && p.sent > p.replies &&
            t - p.sent_at[p.replies % kMaxWindow] > kReplyTimeout) {
          error(peer, "reply lost (none within 10 s)",
                "request " + std::to_string(p.replies) + " of " + std::to_string(p.sent));
          leave(peer, Leave::kClean);
        }
        break;
      case State::kEnding:
      case State::kReplacing:
        if (!s.founder_departed && t > p.deadline) {
          error(peer, p.state == State::kEnding ? "no isEnd from the member within 10 s"
                                                : "no isFirst within 10 s of tryAnother");
          leave(peer, Leave::kClean);
        }
        break;
      case State::kMember:
        if (p.expect_replaced && t > p.deadline) {
          error(peer, "blocking member not closed with 4004 within 10 s");
          p.expect_replaced = false;
          leave(peer, Leave::kClean);
        }
        break;
      case State::kLeaving:
        // Silent peers have their own deadline (SilentSockets); others are gone at once.
        if (p.leave == Leave::kClean && t > p.deadline) {
          error(peer, "no close frame back within 5 s");
          p.leave = Leave::kMidFrameFin;
          loop_.close(loop_.conn(peer));
          gone(peer);
        }
        break;
      case State::kGone:
        break;
    }
  }
  size_t left = 0;
  for (const NoticeCheck& check : notice_checks_) {
    if (check.deadline > t) {
      notice_checks_[left++] = check;
      continue;
    }
    const Peer& joiner = peers_[check.peer];
    const Session& s = sessions_[joiner.session];
    if (check.to_member) {
      if (joiner.member_in_open && !peers_[s.founder].departed) {
        error(s.founder, "no end notice for a joiner that left",
              "joiner " + std::to_string(check.peer));
      }
    } else if (joiner.down_open && !joiner.departed) {
      error(check.peer, "no end notice after its member left");
    }
  }
  notice_checks_.resize(left);
}

void Churn::tick(int wait_ms) {
  start_sessions();
  loop_.run_once(wait_ms);
  fire_timers();
  if (now() >= next_sweep_) {
    next_sweep_ = now() + kSweepEvery;
    poll_silent();
    sweep();
  }
}

void Churn::note_event(const std::string& what) {
  last_event_ = what;
  last_event_at_ = now();
}

void Churn::begin_finish() {
  stopping_ = true;
  const std::vector<uint32_t> peers = active_;
  for (uint32_t peer : peers) {
    if (!peers_[peer].departed) leave(peer, Leave::kClean);
  }
}

size_t Churn::server_sockets() {
  size_t open = silent_.size();
  for (uint32_t peer : active_) {
    if (loop_.conn(peer).state != bench::ConnState::kClosed) ++open;
  }
  counters_.max_sockets = std::max(counters_.max_sockets, open);
  return open;
}

}  // namespace soak
