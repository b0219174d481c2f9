#pragma once
// The pieces of self-defence that need no sockets: which limit was hit (named as in the
// configuration, for logs and counters), a log that says so once per burst, and the
// per-peer message rate. The worker applies them at named points (see worker_limits.cc).
#include <cstdint>

namespace sigver {

enum class Limit : uint8_t {
  kOutboundTotal,      // max_outbound_total
  kInboundTotal,       // max_inbound_total
  kConnections,        // max_connections
  kConnectionsPerIp,   // max_connections_per_ip
  kPendingHandshakes,  // max_pending_handshakes
  kPeersPerKey,        // max_peers_per_key
  kMessageRate,        // max_messages_per_second
  kOrigin,             // allowed_origins
  kCount
};
inline constexpr int kLimitCount = static_cast<int>(Limit::kCount);

// The setting's name: "max_connections_per_ip", ...
const char* limit_name(Limit limit);

// Counts every time a limit acts, and logs a burst of them as two lines rather than one per
// connection: the first hit at once (with its details), then, if more followed, one summary
// per period ("N more in the last 10 s"). A quiet period ends the burst.
class LimitLog {
 public:
  static constexpr uint64_t kPeriodMs = 10'000;

  // Records a hit; logs `what` (a short description of this hit) if it starts a burst.
  void hit(Limit limit, uint64_t now_ms, const char* what);
  // Logs the summaries that are due. Cheap when nothing is pending.
  void tick(uint64_t now_ms);
  // When tick() has something to log (UINT64_MAX = nothing pending).
  uint64_t next_deadline_ms() const;
  uint64_t total(Limit limit) const { return state_[static_cast<int>(limit)].total; }

 private:
  struct State {
    uint64_t total = 0;
    uint64_t unlogged = 0;      // hits since the last line
    uint64_t logged_at_ms = 0;  // when the last line was written (0 = never)
  };
  State state_[kLimitCount];
};

// A token bucket per peer, kept as one number (the "generic cell rate algorithm"): `due_us`
// is when the peer's budget would be full again. A peer may send `burst` messages at once
// and `rate` per second after that.
class MessageRate {
 public:
  // rate 0 = no limit.
  void configure(double rate_per_second, uint32_t burst);
  bool enabled() const { return interval_us_ != 0; }
  // One more message from a peer whose state is `due_us`, at `now_us`. False: over the
  // limit (the state is left as it was).
  bool allow(uint64_t& due_us, uint64_t now_us) const {
    if (interval_us_ == 0) return true;
    const uint64_t due = due_us > now_us ? due_us : now_us;
    if (due - now_us > tolerance_us_) return false;
    due_us = due + interval_us_;
    return true;
  }

 private:
  uint64_t interval_us_ = 0;   // time one message uses up
  uint64_t tolerance_us_ = 0;  // burst x interval: how far ahead the budget may be spent
};

}  // namespace sigver
