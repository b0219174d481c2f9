#pragma once
// What the master hands a worker process after fork (the master decides, the worker runs).
// Descriptors are plain ints: the child inherits them; whatever it does not list here was
// closed by the master before calling the worker.
#include <functional>
#include <string>
#include <vector>

#include "core/client_counts.h"
#include "core/config.h"
#include "core/tls_material.h"
#include "core/worker_stats.h"

namespace sigver {

struct WorkerSetup {
  int index = 0;  // this worker, 0..count-1
  int count = 1;  // number of workers (the hash ring's size)
  // This worker's SO_REUSEPORT listening sockets (non-blocking), plain WebSocket.
  std::vector<int> listeners;
  // Same for wss:// (listen_tls, or `listen` itself for the `sigver` command line): the
  // worker terminates TLS and passes the plain stream on (see worker/tls_relay.h).
  std::vector<int> tls_listeners;
  // Certificate, key and settings as read by the master, which may be the only process
  // allowed to read the key file. Later versions arrive as kTlsMaterial queue messages.
  TlsMaterial tls;
  // Handoff: one SOCK_SEQPACKET socketpair per worker, created by the master before the
  // first fork and kept open by it, so a respawned worker finds its queue intact.
  int inbox = -1;             // receive end of this worker's own queue
  std::vector<int> outboxes;  // send ends, indexed by worker (outboxes[index] unused)
  Config config;              // settings in force at fork time
  // Connections per client address across all workers (see client_counts.h); null when the
  // master could not map it (then each worker only knows its own).
  ClientCounts* clients = nullptr;
  // This master's counters for /metrics and /health (see worker_stats.h); null when it could
  // not map them (the worker then counts into memory of its own).
  SharedStats* stats = nullptr;
  // A binary upgrade that has not committed yet (the new master's workers, core/handover.h):
  // accept nothing until the kCommit message, and on a stop before it send every group back
  // to the old workers, through these send ends of their queues, on a ring of
  // `fallback_count` (closed at the commit).
  bool hold_accepting = false;
  std::vector<int> fallback_outboxes;
  int fallback_count = 0;
  // Loads the configuration again exactly as at start-up (file + command-line overrides);
  // the worker calls it on SIGHUP. Returns false with an error message.
  std::function<bool(Config&, std::string&)> reload_config;
};

// Runs a worker until it is told to stop (SIGQUIT graceful, SIGTERM/SIGINT fast).
// SIGHUP: reload_config() and apply what can change in place; SIGUSR1: reopen logs.
// Returns the process exit code.
using WorkerMain = int (*)(WorkerSetup& setup);

}  // namespace sigver
