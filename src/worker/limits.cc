#include "worker/limits.h"

#include <algorithm>
#include <cmath>

#include "core/log.h"

namespace sigver {

const char* limit_name(Limit limit) {
  switch (limit) {
    case Limit::kOutboundTotal:
      return "max_outbound_total";
    case Limit::kInboundTotal:
      return "max_inbound_total";
    case Limit::kConnections:
      return "max_connections";
    case Limit::kConnectionsPerIp:
      return "max_connections_per_ip";
    case Limit::kPendingHandshakes:
      return "max_pending_handshakes";
    case Limit::kPeersPerKey:
      return "max_peers_per_key";
    case Limit::kMessageRate:
      return "max_messages_per_second";
    case Limit::kOrigin:
      return "allowed_origins";
    case Limit::kCount:
      break;
  }
  return "?";
}

void LimitLog::hit(Limit limit, uint64_t now_ms, const char* what) {
  State& s = state_[static_cast<int>(limit)];
  ++s.total;
  // A burst starts when the previous line is a whole period old and nothing waits.
  if (s.unlogged == 0 && (s.logged_at_ms == 0 || now_ms >= s.logged_at_ms + kPeriodMs)) {
    LOG_WARN("limit %s: %s", limit_name(limit), what);
    s.logged_at_ms = now_ms == 0 ? 1 : now_ms;
    return;
  }
  ++s.unlogged;
}

void LimitLog::tick(uint64_t now_ms) {
  for (int i = 0; i < kLimitCount; ++i) {
    State& s = state_[i];
    if (s.unlogged == 0 || now_ms < s.logged_at_ms + kPeriodMs) continue;
    LOG_WARN("limit %s: %llu more in the last %.0f s (%llu in all)",
             limit_name(static_cast<Limit>(i)), static_cast<unsigned long long>(s.unlogged),
             static_cast<double>(now_ms - s.logged_at_ms) / 1000.0,
             static_cast<unsigned long long>(s.total));
    s.unlogged = 0;
    s.logged_at_ms = now_ms;
  }
}

uint64_t LimitLog::next_deadline_ms() const {
  uint64_t next = UINT64_MAX;
  for (const State& s : state_) {
    if (s.unlogged != 0 && s.logged_at_ms + kPeriodMs < next) next = s.logged_at_ms + kPeriodMs;
  }
  return next;
}

void MessageRate::configure(double rate_per_second, uint32_t burst) {
  if (rate_per_second <= 0) {
    interval_us_ = tolerance_us_ = 0;
    return;
  }
  interval_us_ = static_cast<uint64_t>(std::llround(std::max(1e6 / rate_per_second, 1.0)));
  tolerance_us_ = interval_us_ * burst;
}

}  // namespace sigver
