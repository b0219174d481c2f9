#include "master/master.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>

#include "core/channel.h"
#include "core/log.h"
#include "master/daemonize.h"
#include "master/handoff_queues.h"
#include "master/listeners.h"
#include "master/master_process.h"
#include "master/pidfile.h"
#include "master/privileges.h"
#include "master/process_table.h"
#include "master/reload.h"
#include "master/sd_notify.h"
#include "master/signals.h"
#include "master/status_pages.h"
#include "master/status_server.h"
#include "master/tls_master.h"
#include "master/worker_process.h"

// The executables get the version from CMake; the library falls back to this.
#ifndef SIGVER_VERSION
#define SIGVER_VERSION "0.1.0"
#endif

namespace sigver {

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    std::string text = "was killed by " + signal_name(WTERMSIG(status));
    if (WCOREDUMP(status)) text += " (core dumped)";
    return text;
  }
  return "changed state " + std::to_string(status);
}
void Master::steer(const std::vector<UniqueFd>& sockets, int count) {
  std::string error;
  if (!steer_new_connections(sockets, count, error)) {
    LOG_WARN("%s; a smaller worker count may reset connections queued on a retired worker",
             error.c_str());
  }
}

void Master::fail_start(const std::string& message) {
  LOG_CRIT("%s", message.c_str());
  // With a log file, whoever started us on a terminal would otherwise see nothing.
  const std::string& log_path = config().error_log;
  if (!log_path.empty() && log_path != "stderr") {
    std::fprintf(stderr, "sigverd: %s\n", message.c_str());
  }
  daemonizer_.report_failure();
}

bool Master::start_up(int& exit_code) {
  exit_code = 1;
  std::string error;
  // Blocked before anything else, so a signal during start-up waits for the loop instead
  // of killing us with its default action.
  sigset_t previous;
  if (!block_signals(master_signal_set(), previous, error)) {
    fail_start(error);
    return false;
  }
  if (!apply_log_settings(config(), "", error)) {
    std::fprintf(stderr, "sigverd: %s\n", error.c_str());
    return false;
  }
  std::string warning;
  if (!resolve_credentials(config(), credentials_, warning, error)) {
    fail_start(error);
    return false;
  }
  if (!warning.empty()) LOG_WARN("%s", warning.c_str());
  // Started by an old master handing over to us (master_upgrade.cc)?
  if (const char* handover = ::getenv(kHandoverEnvVar)) {
    handover_ = decode_handover_env(handover);
    ::unsetenv(kHandoverEnvVar);
    if (!handover_) {
      fail_start(std::string("upgrade: malformed ") + kHandoverEnvVar);
      return false;
    }
    if (!handover_->same_version()) {
      LOG_WARN(
          "upgrade: the old master speaks handover version %u, this one %u: taking its "
          "listeners over without its groups (its workers drain)",
          handover_->version, kHandoverVersion);
    }
  }
  if (!handover_ && !config().pid.empty() && !PidFile::check_not_running(config().pid, error)) {
    fail_start(error);
    return false;
  }
  if (tls_enabled(config()) && !load_tls_material(config(), tls_material_, error)) {
    fail_start(error);
    return false;
  }
  if (tls_enabled(config())) update_ticket_keys(config(), tickets_, true, tls_material_);
  int count = std::max(1, config().worker_processes);
  uint16_t port = 0;
  uint16_t tls_port = 0;
  // Bound before daemonizing (like nginx), so an address in use fails the command that
  // started us with exit code 1 and a message on its terminal.
  const bool bound =
      handover_ ? adopt_handover(port, tls_port, error)
                : open_listeners(config().listen, count, listeners_, port, error) &&
                      (!config().listen_tls || open_listeners(*config().listen_tls, count,
                                                              tls_listeners_, tls_port, error)) &&
                      apply_status_listen(error);
  if (!bound || !open_handoff_queues(count, queues_, error)) {
    fail_start(error);
    return false;
  }
  config().listen.port = port;
  if (config().listen_tls) config().listen_tls->port = tls_port;
  if (config().daemon && !handover_) {  // a new master stays where the old one runs it
    switch (daemonizer_.start(exit_code, error)) {
      case Daemonizer::Role::kOriginal:
        return false;  // the daemon carries on; exit_code is its start-up verdict
      case Daemonizer::Role::kError:
        fail_start(error);
        return false;
      case Daemonizer::Role::kDaemon:
        break;
    }
  }
  exit_code = 1;
  // After daemonizing, so the pid file names the process that stays.
  signal_fd_ = open_signalfd(master_signal_set(), error);
  // A new master takes the pid file when the old one commits.
  if (!signal_fd_ ||
      (!handover_ && !config().pid.empty() && !pid_file_.write(config().pid, error))) {
    fail_start(error);
    return false;
  }
  LOG_NOTICE("sigverd %s master started, %d worker%s, listening on %s%s%s", SIGVER_VERSION, count,
             count == 1 ? "" : "s", describe_listen_addresses(config()).c_str(),
             options_.config_name.empty() ? "" : ", configuration ", options_.config_name.c_str());
  daemonizer_.report_ready();
  if (!handover_ && !sd_notify_send("READY=1", error)) LOG_WARN("sd_notify: %s", error.c_str());

  table_.emplace(count);
  spawner_.listeners = &listeners_;
  spawner_.tls_listeners = &tls_listeners_;
  spawner_.listeners_speak_tls = config().listen_speaks_tls;
  spawner_.tls = tls_enabled(config()) ? &tls_material_ : nullptr;
  spawner_.queues = &queues_;
  spawner_.master_only_fds = {signal_fd_.get(), status_.listener_fd()};
  if (handover_) {
    spawner_.master_only_fds.push_back(handover_control_.get());
    spawner_.hold_accepting = true;
    if (handover_->same_version()) {  // groups may come, and go back on a rollback
      spawner_.fallback_outboxes = &old_queues_;
      spawner_.fallback_count = handover_->old_count;
    }
  }
  spawner_.credentials = &credentials_;
  spawner_.config = &options_.config;
  spawner_.count = count;
  spawner_.reload_config = options_.reload_config;
  spawner_.worker_main = options_.worker_main;
  spawner_.clients = clients_.ok() ? &clients_ : nullptr;
  spawner_.stats = stats_.ok() ? &stats_ : nullptr;
  if (!clients_.ok()) {
    LOG_WARN(
        "mmap() of the per-address connection counts failed: %s; max_connections_per_ip "
        "counts per worker only",
        std::strerror(errno));
  }
  for (int i = 0; i < count; ++i) spawn(i);
  if (handover_) say_hello();
  return true;
}

void Master::spawn(int index) {
  std::string error;
  clients_.note_worker(index);
  stats_.clear(index);
  pid_t pid = spawner_.spawn(index, error);
  if (pid < 0) {
    LOG_ERROR("cannot start worker %d: %s", index, error.c_str());
    table_->on_spawn_failed(index, Clock::now());
    return;
  }
  table_->on_spawned(index, pid, Clock::now());
  LOG_INFO("worker %d started, pid %d", index, static_cast<int>(pid));
}

int Master::poll_timeout_ms() const {
  std::optional<Clock::time_point> wake;
  if (phase_ == Phase::kRunning) {
    wake = table_->next_respawn();
    if (const uint64_t rotate_ms = tickets_.next_rotation_ms(); rotate_ms != UINT64_MAX) {
      const uint64_t now_ms = monotonic_ms();
      const auto rotate_at =
          Clock::now() + std::chrono::milliseconds(rotate_ms > now_ms ? rotate_ms - now_ms : 0);
      wake = wake ? std::min(*wake, rotate_at) : rotate_at;
    }
    const auto at = [&wake](Clock::time_point t) { wake = wake ? std::min(*wake, t) : t; };
    if (upgrade_) at(upgrade_->deadline);
    for (const Abandoned& a : abandoned_) {
      if (a.kill_at) at(*a.kill_at);
    }
  } else if (phase_ != Phase::kHandedOver) {
    wake = deadline_;
  }
  if (!wake) return -1;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(*wake - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

void Master::serve() {
  for (;;) {
    if (phase_ == Phase::kRunning) {
      // While groups move to a new binary, a fresh old worker would split them.
      if (!upgrade_ || upgrade_->step == UpgradeAttempt::Step::kStarting) respawn_due();
      check_upgrade();
      if (tickets_.due(monotonic_ms())) {
        update_ticket_keys(config(), tickets_, true, tls_material_);
        send_ticket_keys(queues_, spawner_.count, tls_material_);
        LOG_INFO("session ticket key rotated (%zu keys kept)", tickets_.keys().keys.size());
      }
      if (table_->all_fatal()) {
        LOG_CRIT("every worker exited with the fatal code %d, exiting", kWorkerFatalExit);
        exit_code_ = 1;
        return;
      }
    } else if (phase_ == Phase::kHandedOver) {
      if (!table_->any_running()) return;  // the last old worker finished
    } else {
      if (!table_->any_running()) return;
      if (Clock::now() >= deadline_) {
        if (phase_ == Phase::kKilling) {
          LOG_CRIT("workers survived SIGKILL, exiting without them");
          exit_code_ = 1;
          return;
        }
        LOG_WARN("workers still running after %s, sending SIGKILL",
                 signal_name(stop_signal_).c_str());
        signal_workers(SIGKILL);
        phase_ = Phase::kKilling;
        deadline_ = Clock::now() + kKillWait;
      }
    }
    std::vector<pollfd> fds{{signal_fd_.get(), POLLIN, 0}};
    // The other master during an upgrade (the old one's or the new one's end).
    const int control = upgrade_ ? upgrade_->control.get() : handover_control_.get();
    if (control >= 0) fds.push_back({control, POLLIN, 0});
    const size_t status_first = fds.size();
    status_.add_poll_fds(fds);
    int timeout = poll_timeout_ms();
    if (upgrade_ && upgrade_->step == UpgradeAttempt::Step::kMoving) {
      timeout = timeout < 0 ? 10 : std::min(timeout, 10);  // polls WorkerStats::handed_over
    }
    if (const int status_timeout = status_.timeout_ms(); status_timeout >= 0) {
      timeout = timeout < 0 ? status_timeout : std::min(timeout, status_timeout);
    }
    int rc = ::poll(fds.data(), fds.size(), timeout);
    if (rc < 0 && errno != EINTR) {
      LOG_CRIT("poll() failed: %s", std::strerror(errno));
      begin_shutdown(SIGTERM, kTerminateGrace);
      continue;
    }
    if (rc > 0) status_.on_poll(fds, status_first);
    // Signals first: an old master that gives up stops us before it closes the control
    // socket, which would otherwise read as its going away.
    while (int signo = read_signal(signal_fd_.get())) handle_signal(signo);
    if (rc > 0 && control >= 0 && fds[1].revents != 0) {
      if (upgrade_ && control == upgrade_->control.get()) {
        on_new_master_message();
      } else if (handover_ && control == handover_control_.get()) {
        on_old_master_message();
      }
    }
  }
}

StatusResponse Master::status(std::string_view path) const {
  StatusInputs in;
  in.stats = stats_.ok() ? &stats_ : nullptr;
  in.worker_restarts = worker_restarts_;
  in.now_ms = monotonic_ms();
  for (int i = 0; i < spawner_.count && i < table_->size(); ++i) {
    const ProcessTable::Slot& slot = table_->slot(i);
    in.workers.push_back({i, slot.state == ProcessTable::State::kRunning ? slot.pid : 0});
  }
  return status_page(path, in);
}

bool Master::apply_status_listen(std::string& error) {
  if (!status_.listen(config().status_listen, error)) return false;
  // Workers must not keep the status socket open.
  spawner_.master_only_fds = {signal_fd_.get(), status_.listener_fd()};
  if (status_.listening()) {
    LOG_NOTICE("status (/metrics, /health) on http://%s",
               format_listen_address(*config().status_listen).c_str());
  }
  return true;
}

void Master::handle_signal(int signo) {
  switch (signo) {
    case SIGCHLD:
      reap_children();
      break;
    case SIGHUP:
      if (phase_ == Phase::kRunning && (upgrade_ || handover_)) {
        LOG_WARN("reload ignored: a binary upgrade is in progress");
      } else if (phase_ == Phase::kRunning) {
        reload();
      }
      break;
    case SIGUSR2:
      start_upgrade();
      break;
    case SIGUSR1:
      reopen_logs();
      break;
    case SIGQUIT:
      if (upgrade_) abandon_upgrade("the master was told to stop");
      if (phase_ == Phase::kRunning || phase_ == Phase::kHandedOver) {
        begin_shutdown(SIGQUIT, kQuitGrace);
      }
      break;
    case SIGTERM:
    case SIGINT:
      if (upgrade_) abandon_upgrade("the master was told to stop");
      // Also turns a graceful stop in progress into a fast one.
      if (phase_ == Phase::kRunning || phase_ == Phase::kHandedOver || stop_signal_ == SIGQUIT) {
        begin_shutdown(SIGTERM, kTerminateGrace);
      }
      break;
    default:
      break;
  }
}

void Master::reap_children() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (reap_new_master(pid, status)) continue;
    bool fatal = WIFEXITED(status) && WEXITSTATUS(status) == kWorkerFatalExit;
    ProcessTable::Exit exit = table_->on_exit(pid, fatal, phase_ != Phase::kRunning, Clock::now());
    if (exit.index < 0) {
      LOG_DEBUG("reaped process %d, not a worker", static_cast<int>(pid));
      continue;
    }
    // Its client sockets are closed now (or live on in the worker it handed them to, which
    // counts them): whatever its slice still holds would be counted forever.
    clients_.clear(exit.index);
    stats_.clear(exit.index);
    std::string what = describe_exit(status);
    if (phase_ != Phase::kRunning) {
      LOG_INFO("worker %d (pid %d) %s", exit.index, static_cast<int>(pid), what.c_str());
    } else if (table_->slot(exit.index).retired) {
      LOG_INFO("worker %d (pid %d) %s, retired by the worker count", exit.index,
               static_cast<int>(pid), what.c_str());
    } else if (fatal) {
      LOG_ERROR("worker %d (pid %d) %s (fatal), not restarting it", exit.index,
                static_cast<int>(pid), what.c_str());
    } else {
      double delay = std::chrono::duration<double>(exit.respawn_after).count();
      std::string when = delay > 0 ? " in " + std::to_string(delay).substr(0, 4) + " s" : "";
      ++worker_restarts_;
      LOG_ERROR("worker %d (pid %d) %s unexpectedly, restarting it%s", exit.index,
                static_cast<int>(pid), what.c_str(), when.c_str());
    }
  }
}

void Master::respawn_due() {
  for (int index : table_->due_for_respawn(Clock::now())) spawn(index);
}

void Master::reload() {
  LOG_NOTICE("reloading the configuration%s%s", options_.config_name.empty() ? "" : " from ",
             options_.config_name.c_str());
  Config fresh;
  std::string error = "no way to load the configuration again";
  if (!options_.reload_config || !options_.reload_config(fresh, error)) {
    LOG_ERROR("reload failed: %s, keeping the old configuration", error.c_str());
    return;
  }
  for (const std::string& warning : keep_restart_only_settings(config(), fresh)) {
    LOG_WARN("%s", warning.c_str());
  }
  if (!apply_log_settings(fresh, config().error_log, error)) {
    LOG_ERROR("reload failed: %s, keeping the old configuration", error.c_str());
    return;
  }
  const Config old = config();
  config() = std::move(fresh);
  if (config().listen.port == 0) config().listen.port = old.listen.port;
  if (format_listen_address(config().listen) != format_listen_address(old.listen) &&
      !apply_listen(old.listen)) {
    config().listen = old.listen;
  }
  const auto same = [](const std::optional<ListenAddress>& a,
                       const std::optional<ListenAddress>& b) {
    return a.has_value() == b.has_value() &&
           (!a || format_listen_address(*a) == format_listen_address(*b));
  };
  if (!same(old.status_listen, config().status_listen) && !apply_status_listen(error)) {
    LOG_ERROR("%s; keeping the status listener as it was", error.c_str());
    config().status_listen = old.status_listen;
  }
  const int old_count = std::max(1, old.worker_processes);
  const int new_count = std::max(1, config().worker_processes);
  if (new_count != old_count) apply_worker_count(old_count, new_count);
  // New certificate files: checked here, where the key is readable; a bad one is logged and
  // the workers keep theirs. New and respawned workers start with the latest good one.
  // HUP also rotates the session ticket key (the previous ones keep opening tickets).
  if (tls_enabled(config())) {
    TlsMaterial material;
    if (load_tls_material(config(), material, error)) {
      update_ticket_keys(config(), tickets_, true, material);
      tls_material_ = std::move(material);
      send_tls_material(queues_, spawner_.count, tls_material_);
      LOG_NOTICE("TLS certificate reloaded: new connections get it");
    } else {
      LOG_ERROR("TLS certificate not reloaded: %s; keeping the old one", error.c_str());
      update_ticket_keys(config(), tickets_, true, tls_material_);
      send_ticket_keys(queues_, spawner_.count, tls_material_);
    }
  }
  LOG_NOTICE("configuration reloaded, signalling the workers");
  signal_workers(SIGHUP);
}

// The workers swap their listening sockets for new ones on the new address; no connection
// or group is touched.
bool Master::apply_listen(const ListenAddress& old_address) {
  std::vector<UniqueFd> fresh;
  uint16_t port = 0;
  std::string error;
  if (!open_listeners(config().listen, static_cast<int>(listeners_.size()), fresh, port, error)) {
    LOG_ERROR("cannot listen on %s: %s; keeping %s", format_listen_address(config().listen).c_str(),
              error.c_str(), format_listen_address(old_address).c_str());
    return false;
  }
  config().listen.port = port;
  for (size_t i = 0; i < fresh.size() && i < queues_.size(); ++i) {
    const int fd = fresh[i].get();
    if (int err = channel_send(queues_[i].outbox.get(), ChannelType::kListeners, "plain", &fd, 1)) {
      LOG_ERROR("cannot pass the new listener to worker %zu: %s", i, std::strerror(err));
    }
  }
  listeners_ = std::move(fresh);  // a respawned worker gets the new ones too
  steer(listeners_, static_cast<int>(listeners_.size()));
  LOG_NOTICE("now listening on %s instead of %s", format_listen_address(config().listen).c_str(),
             format_listen_address(old_address).c_str());
  return true;
}

// More or fewer workers without splitting a group: new workers start with the new count,
// then every running worker is told the count with every queue, and moves the groups whose
// keys now belong elsewhere (worker_migrate.cc). Retired workers exit once empty.
void Master::apply_worker_count(int old_count, int new_count) {
  std::string error;
  const auto have_queues = static_cast<int>(queues_.size());
  if (new_count > have_queues) {
    std::vector<HandoffQueue> more;
    if (!open_handoff_queues(new_count - have_queues, more, error)) {
      LOG_ERROR("cannot change worker_processes to %d: %s; keeping %d", new_count, error.c_str(),
                old_count);
      config().worker_processes = old_count;
      return;
    }
    for (HandoffQueue& q : more) queues_.push_back(std::move(q));
  }
  const auto have_listeners = static_cast<int>(listeners_.size());
  if (new_count > have_listeners) {
    std::vector<UniqueFd> more;
    uint16_t port = 0;
    if (!open_listeners(config().listen, new_count - have_listeners, more, port, error)) {
      LOG_ERROR("cannot change worker_processes to %d: %s; keeping %d", new_count, error.c_str(),
                old_count);
      config().worker_processes = old_count;
      return;
    }
    for (UniqueFd& fd : more) listeners_.push_back(std::move(fd));
  } else if (new_count < have_listeners) {
    listeners_.resize(static_cast<size_t>(new_count));  // retired workers close their copies
  }
  steer(listeners_, new_count);
  const auto have_tls = static_cast<int>(tls_listeners_.size());
  if (config().listen_tls && new_count > have_tls) {
    std::vector<UniqueFd> more;
    uint16_t port = 0;
    if (!open_listeners(*config().listen_tls, new_count - have_tls, more, port, error)) {
      LOG_ERROR("cannot change worker_processes to %d: %s; keeping %d", new_count, error.c_str(),
                old_count);
      config().worker_processes = old_count;
      return;
    }
    for (UniqueFd& fd : more) tls_listeners_.push_back(std::move(fd));
  } else if (new_count < have_tls) {
    tls_listeners_.resize(static_cast<size_t>(new_count));
  }
  steer(tls_listeners_, new_count);
  LOG_NOTICE("worker count %d -> %d", old_count, new_count);
  table_->resize(new_count);
  spawner_.count = new_count;
  for (int i = 0; i < new_count; ++i) {
    const ProcessTable::Slot& slot = table_->slot(i);
    if (i >= old_count && slot.state == ProcessTable::State::kRunning) {
      // Retired by an earlier, smaller count and still serving its last TLS clients: it has
      // stopped accepting, so end it; it is restarted with the new count when it exits.
      LOG_NOTICE("worker %d (pid %d) is still finishing after an earlier resize; stopping it", i,
                 static_cast<int>(slot.pid));
      ::kill(slot.pid, SIGQUIT);
    } else if (slot.state != ProcessTable::State::kRunning &&
               slot.state != ProcessTable::State::kWaitingRespawn) {
      spawn(i);
    }
  }
  std::vector<int> outboxes;
  for (int i = 0; i < new_count; ++i)
    outboxes.push_back(queues_[static_cast<size_t>(i)].outbox.get());
  const auto count = static_cast<uint32_t>(new_count);
  const std::string_view payload(reinterpret_cast<const char*>(&count), sizeof count);
  for (int i = 0; i < table_->size() && i < static_cast<int>(queues_.size()); ++i) {
    if (i >= new_count && table_->slot(i).state != ProcessTable::State::kRunning) continue;
    if (i >= old_count && i < new_count) continue;  // started with the new count already
    if (int err = channel_send(queues_[static_cast<size_t>(i)].outbox.get(), ChannelType::kResize,
                               payload, outboxes.data(), outboxes.size())) {
      LOG_ERROR("cannot tell worker %d the new worker count: %s", i, std::strerror(err));
    }
  }
}

void Master::reopen_logs() {
  std::string error;
  if (!log::reopen(error)) LOG_ERROR("%s", error.c_str());
  LOG_NOTICE("log reopened");
  signal_workers(SIGUSR1);
}

void Master::begin_shutdown(int signo, Clock::duration grace) {
  LOG_NOTICE("%s: stopping %d worker(s) with %s", signo == SIGQUIT ? "graceful stop" : "stop",
             static_cast<int>(table_->running_pids().size()), signal_name(signo).c_str());
  Clock::time_point deadline = Clock::now() + grace;
  const bool first = phase_ == Phase::kRunning || phase_ == Phase::kHandedOver;
  deadline_ = first ? deadline : std::min(deadline_, deadline);
  phase_ = Phase::kStopping;
  stop_signal_ = signo;
  signal_workers(signo);
}

void Master::signal_workers(int signo) {
  for (pid_t pid : table_->running_pids()) {
    if (::kill(pid, signo) != 0 && errno != ESRCH) {
      LOG_ERROR("kill(%d, %s) failed: %s", static_cast<int>(pid), signal_name(signo).c_str(),
                std::strerror(errno));
    }
  }
}

int Master::run() {
  int exit_code = 1;
  if (!start_up(exit_code)) return exit_code;
  serve();
  pid_file_.remove();
  LOG_NOTICE("master exiting with code %d", exit_code_);
  return exit_code_;
}

int run_master(MasterOptions& options) {
  Master master(options);
  return master.run();
}

}  // namespace sigver
