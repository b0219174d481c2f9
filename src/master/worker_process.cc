#include "master/worker_process.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "core/log.h"

namespace sigver {

pid_t WorkerSpawner::spawn(int index, std::string& error) const {
  pid_t master_pid = ::getpid();
  std::fflush(nullptr);  // nothing buffered may be written twice
  pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork() failed: ") + std::strerror(errno);
    return -1;
  }
  if (pid == 0) run_child(index, master_pid);
  return pid;
}

void WorkerSpawner::run_child(int index, pid_t master_pid) const {
  log::set_process_tag(index);
  // The child's copies of the master's UniqueFd objects are never destroyed (we leave with
  // _exit), so closing by number here is the only close.
  for (int fd : master_only_fds) {
    if (fd >= 0) ::close(fd);
  }
  WorkerSetup setup;
  setup.index = index;
  setup.count = count > 0 ? count : static_cast<int>(queues->size());
  for (size_t i = 0; i < listeners->size(); ++i) {
    if (static_cast<int>(i) == index) {
      (listeners_speak_tls ? setup.tls_listeners : setup.listeners)
          .push_back((*listeners)[i].get());
    } else {
      ::close((*listeners)[i].get());
    }
  }
  for (size_t i = 0; tls_listeners != nullptr && i < tls_listeners->size(); ++i) {
    if (static_cast<int>(i) == index) {
      setup.tls_listeners.push_back((*tls_listeners)[i].get());
    } else {
      ::close((*tls_listeners)[i].get());
    }
  }
  if (tls != nullptr) setup.tls = *tls;
  for (size_t i = 0; i < queues->size(); ++i) {
    const HandoffQueue& queue = (*queues)[i];
    if (static_cast<int>(i) == index) {
      setup.inbox = queue.inbox.get();
    } else {
      ::close(queue.inbox.get());
    }
    setup.outboxes.push_back(queue.outbox.get());
  }

  std::string error;
  if (!drop_privileges(*credentials, error)) {
    LOG_CRIT("worker %d: %s", index, error.c_str());
    ::_exit(kWorkerFatalExit);  // it would fail the same way every time
  }
  // A worker must not outlive the master, even one killed with SIGKILL. Set after the
  // privilege drop, because the kernel clears it when credentials change. The master may
  // have died before this: then we already have a new parent.
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
    LOG_CRIT("prctl(PR_SET_PDEATHSIG) failed: %s", std::strerror(errno));
    ::_exit(1);
  }
  if (::getppid() != master_pid) ::_exit(1);
  setup.config = *config;
  setup.reload_config = reload_config;
  setup.clients = clients;
  setup.stats = stats;
  setup.hold_accepting = hold_accepting;
  if (hold_accepting && fallback_outboxes != nullptr) {
    for (const UniqueFd& fd : *fallback_outboxes) setup.fallback_outboxes.push_back(fd.get());
    setup.fallback_count = fallback_count;
  }
  int code = 1;
  try {
    code = worker_main(setup);
  } catch (const std::exception& e) {
    LOG_CRIT("worker %d: %s", index, e.what());
  } catch (...) {
    LOG_CRIT("worker %d: unknown exception", index);
  }
  std::fflush(nullptr);
  ::_exit(code);
}

}  // namespace sigver
