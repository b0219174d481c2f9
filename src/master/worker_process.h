#pragma once
// Forking one worker: the child keeps only what WorkerSetup lists (its listeners, its own
// inbox, every outbox), drops privileges, and runs the WorkerMain until it returns.
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "core/client_counts.h"
#include "core/config.h"
#include "core/tls_material.h"
#include "core/unique_fd.h"
#include "core/worker_setup.h"
#include "master/handoff_queues.h"
#include "master/privileges.h"

namespace sigver {

// Exit code with which a worker says "do not start me again" (e.g. a setting it cannot use).
constexpr int kWorkerFatalExit = 2;

struct WorkerSpawner {
  const std::vector<UniqueFd>* listeners = nullptr;      // indexed by worker
  const std::vector<UniqueFd>* tls_listeners = nullptr;  // indexed by worker; null = none
  bool listeners_speak_tls = false;  // `sigver --key/--cert`: `listeners` serve wss:// too
  const TlsMaterial* tls = nullptr;  // the certificate in force now; null without TLS
  const std::vector<HandoffQueue>* queues = nullptr;  // indexed by worker
  std::vector<int> master_only_fds;                   // closed in the child (signalfd, ...)
  const Credentials* credentials = nullptr;
  const Config* config = nullptr;  // the configuration in force now
  int count = 0;                   // workers in service (queues may outnumber them)
  std::function<bool(Config&, std::string&)> reload_config;
  WorkerMain worker_main = nullptr;
  ClientCounts* clients = nullptr;  // shared across workers; null if it could not be mapped
  SharedStats* stats = nullptr;     // the workers' counters; null if it could not be mapped
  // A binary upgrade not committed yet (the new master): see WorkerSetup::hold_accepting.
  bool hold_accepting = false;
  const std::vector<UniqueFd>* fallback_outboxes = nullptr;
  int fallback_count = 0;

  // Returns the child's pid, or -1 with `error` when fork() failed. Never returns in the
  // child.
  pid_t spawn(int index, std::string& error) const;

 private:
  [[noreturn]] void run_child(int index, pid_t master_pid) const;
};

}  // namespace sigver
