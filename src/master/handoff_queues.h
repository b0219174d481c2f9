#pragma once
// The handoff queues: one SOCK_SEQPACKET socketpair per worker. Every worker writes to the
// send end of another worker's queue and reads its own receive end. The master creates them
// before the first fork and never closes them, so messages queued for a dying worker wait
// for its successor.
#include <string>
#include <vector>

#include "core/unique_fd.h"

namespace sigver {

struct HandoffQueue {
  UniqueFd inbox;   // receive end, kept only by the owning worker (and the master)
  UniqueFd outbox;  // send end, kept by every worker
};

// Non-blocking on both ends: workers drive them from their event loops, and the flag lives
// in the shared file description, so all processes see the same mode.
bool open_handoff_queues(int count, std::vector<HandoffQueue>& out, std::string& error);

}  // namespace sigver
