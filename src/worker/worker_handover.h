#pragma once
// A worker's part in a binary upgrade (core/handover.h), as state the Worker keeps. An old
// worker, told kUpgrade, moves every group to the new workers and forwards whatever it
// accepts to them, keeping its own master's queues until the master commits (it then
// retires) or rolls back (it serves as before). A new worker accepts nothing until its
// master commits; stopped before that (its master failed), it sends every group back.
#include <cstdint>
#include <vector>

namespace sigver {

// accept_resume_ms_ of a new worker until the commit: never reached, never resumed by the
// connection limit's logic either (that waits for kNoDeadline).
inline constexpr uint64_t kHeldForUpgrade = UINT64_MAX - 1;
// How long a new worker sent back waits for every old worker's kUpgradeEnd (what they had
// sent it before must arrive first) before it returns what it holds anyway.
inline constexpr uint64_t kReturnWaitMs = 2000;

struct WorkerHandover {
  // ---- old worker, from kUpgrade to kCommit or kRollback ----
  bool forwarding = false;        // every connection goes to the new workers
  std::vector<int> own_outboxes;  // its master's queues (setup_.outboxes before)
  int own_count = 0;              // and ring size
  // ---- new worker, until the commit ----
  std::vector<int> fallback_outboxes;  // the old workers' queues
  int fallback_count = 0;
  bool returning = false;     // stopped before the commit
  std::vector<bool> ended;    // kUpgradeEnd received, by old worker
  uint64_t return_at_ms = 0;  // give up waiting for kUpgradeEnd then

  bool armed() const { return !fallback_outboxes.empty(); }
};

}  // namespace sigver
