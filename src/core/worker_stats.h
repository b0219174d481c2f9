#pragma once
// What each worker tells the master for /metrics and /health, without a message, a lock or
// an allocation: a page of counters per worker index in memory the master maps before it
// forks the first worker. Only the worker of an index writes its page (plain load + store
// of relaxed atomics, no locked instruction); the master reads every page when it is
// scraped. Event counters are bumped where the event happens; gauges and the counters other
// classes keep are copied once per loop iteration, not per message.
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sigver {

// Why an upgrade did not become a WebSocket (label `reason` of upgrades_failed_total).
enum class UpgradeFailure : uint8_t {
  kBadRequest,       // 400
  kUpgradeRequired,  // 426 (no Upgrade: websocket)
  kBadVersion,       // 426 (another WebSocket version)
  kHeadersTooLarge,  // 431
  kOrigin,           // 403 (allowed_origins)
  kOverloaded,       // 503 (max_connections_per_ip, no worker could take it)
  kTimeout,          // handshake_timeout
  kDropped,          // max_pending_handshakes dropped it
  kCount
};
const char* upgrade_failure_name(UpgradeFailure reason);

// Close codes counted one by one (label `code` of closes_total); any other is "other".
inline constexpr uint16_t kCountedCloseCodes[] = {1000, 1001, 1002, 1007, 1008, 1009,
                                                  1011, 1013, 4001, 4002, 4003, 4004};
inline constexpr size_t kCloseCodeSlots = std::size(kCountedCloseCodes) + 1;
size_t close_code_slot(uint16_t code);

inline constexpr size_t kLimitSlots = 8;  // worker/limits.h: Limit::kCount

struct WorkerStats {
  using Counter = std::atomic<uint64_t>;
  static_assert(Counter::is_always_lock_free);

  Counter pid;
  Counter progress_ms;  // CLOCK_MONOTONIC milliseconds at the worker's last loop iteration
  Counter handed_over;  // 1 once it moved every group to a new binary's workers (upgrade)
  // The one field the master writes: 1 while it wants the groups moved to a new binary. A
  // worker that reads kUpgrade after the master gave up (it was stopped, say) sees 0 and
  // moves nothing, instead of sending its groups to workers that are gone.
  Counter upgrade_wanted;
  // Gauges.
  Counter connections;
  Counter groups;
  Counter peers;
  Counter outbound_bytes;
  // Counters.
  Counter accepted;
  Counter messages_relayed;
  Counter bytes_relayed;
  Counter handoffs;
  Counter handoff_failures;
  Counter heartbeat_timeouts;
  Counter tls_handshakes;
  Counter tls_resumptions;  // of tls_handshakes, resumed with a session ticket
  Counter upgrades_failed[static_cast<size_t>(UpgradeFailure::kCount)];
  Counter closes[kCloseCodeSlots];
  Counter limit_rejections[kLimitSlots];

  // Single writer: no read-modify-write instruction is needed.
  static void add(Counter& c, uint64_t n = 1) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  static void set(Counter& c, uint64_t value) { c.store(value, std::memory_order_relaxed); }
  static uint64_t get(const Counter& c) { return c.load(std::memory_order_relaxed); }
};

static_assert(sizeof(WorkerStats) % sizeof(WorkerStats::Counter) == 0,
              "WorkerStats holds Counters only (SharedStats::clear relies on it)");

class SharedStats {
 public:
  static constexpr int kMaxWorkers = 64;

  SharedStats();  // maps the pages (shared with children forked later)
  ~SharedStats();
  SharedStats(const SharedStats&) = delete;
  SharedStats& operator=(const SharedStats&) = delete;
  bool ok() const { return pages_ != nullptr; }

  WorkerStats* worker(int index) const;
  void clear(int index);  // a worker starting in the slot, or the master once it exited

 private:
  WorkerStats* pages_ = nullptr;
};

uint64_t monotonic_ms();

}  // namespace sigver
