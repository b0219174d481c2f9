// Handing a running server over to a new binary (`sigverd -s upgrade`, SIGUSR2), both
// masters' sides. The old master tests the new binary's configuration, then starts it with
// the listening sockets, the status socket, its workers' queues and a control socket
// (core/handover.h). The new master starts its workers, which accept nothing yet, and
// says hello with their queues; the old workers move every group to them (kUpgrade, then
// the kMigrate messages of a worker-count change) and forward what they accept. When every
// old worker reports it moved everything (WorkerStats::handed_over) the old master asks the
// new one to take over; the new master answers that it did (the point of no return), takes
// the pid file and lets its workers accept; only then do the old workers retire. Before that
// answer any failure rolls back: the new workers send back what they got.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/log.h"
#include "master/listeners.h"
#include "master/master_process.h"
#include "master/sd_notify.h"

namespace sigver {
namespace {

constexpr Clock::duration kHelloWait = std::chrono::seconds(30);
constexpr Clock::duration kMoveWait = std::chrono::seconds(30);
constexpr Clock::duration kCommitWait = std::chrono::seconds(5);
constexpr auto kConfigTestWait = std::chrono::seconds(10);
constexpr size_t kConfigTestOutputMax = 4096;

std::vector<int> fd_numbers(const std::vector<UniqueFd>& fds) {
  std::vector<int> out;
  for (const UniqueFd& fd : fds) out.push_back(fd.get());
  return out;
}

std::vector<char*> exec_argv(const std::string& binary, const std::vector<std::string>& args,
                             const char* extra) {
  std::vector<char*> argv{const_cast<char*>(binary.c_str())};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  if (extra != nullptr) argv.push_back(const_cast<char*>(extra));
  argv.push_back(nullptr);
  return argv;
}

// In a child about to exec: the master blocks its signals for its signalfd, and a blocked
// mask survives exec.
void unblock_all_signals() {
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// Runs `binary ARGS -t`, its output captured; false with the reason (its own words first).
bool test_configuration(const std::string& binary, const std::vector<std::string>& args,
                        std::string& why) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    why = std::string("pipe2() failed: ") + std::strerror(errno);
    return false;
  }
  UniqueFd read_end(out[0]);
  std::vector<char*> argv = exec_argv(binary, args, "-t");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[1]);
    why = std::string("fork() failed: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    unblock_all_signals();
    ::execv(binary.c_str(), argv.data());
    std::fprintf(stderr, "cannot run %s: %s\n", binary.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string output;
  const auto give_up = Clock::now() + kConfigTestWait;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - Clock::now());
    pollfd pfd{read_end.get(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      why = "the configuration test did not finish in 10 s";
      return false;
    }
    char buf[1024];
    const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output.size() < kConfigTestOutputMax) output.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  for (char& c : output) {
    if (c == '\n') c = ' ';
  }
  why = "the new binary's configuration test " + describe_exit(status) +
        (output.empty() ? "" : ": " + output);
  return false;
}

uint16_t bound_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6&>(addr).sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in&>(addr).sin_port);
}

// A commit or rollback to a worker's queue: one byte, waiting a little for room (a full
// queue belongs to a busy worker, which reads it soon).
int send_control(int queue, ChannelType type, std::string_view payload) {
  for (int waited = 0;; waited += 5) {
    const int err = channel_send(queue, type, payload, nullptr, 0);
    if ((err != EAGAIN && err != ENOBUFS) || waited >= 1000) return err;
    pollfd pfd{queue, POLLOUT, 0};
    ::poll(&pfd, 1, 5);
  }
}

}  // namespace

// ---------------------------------------------------------------- the old master

void Master::start_upgrade() {
  if (phase_ != Phase::kRunning || upgrade_ || handover_) {
    LOG_WARN("upgrade ignored: %s",
             upgrade_ || handover_ ? "an upgrade is already in progress" : "stopping");
    return;
  }
  if (options_.binary.empty()) {
    LOG_ERROR("upgrade abandoned: the path of this binary is unknown; still serving");
    return;
  }
  if (options_.has_config_test) {
    LOG_NOTICE("upgrade: checking the configuration with %s", options_.binary.c_str());
    std::string why;
    if (!test_configuration(options_.binary, options_.args, why)) {
      LOG_ERROR("upgrade abandoned: %s; still serving", why.c_str());
      return;
    }
  }
  std::string error;
  if (!launch_new_master(error)) {
    LOG_ERROR("upgrade abandoned: %s; still serving", error.c_str());
    return;
  }
  LOG_NOTICE("upgrade: started new master %d (%s)", static_cast<int>(upgrade_->pid),
             options_.binary.c_str());
}

bool Master::launch_new_master(std::string& error) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) {
    error = std::string("socketpair() failed: ") + std::strerror(errno);
    return false;
  }
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);
  HandoverEnv env;
  env.version = kHandoverVersion;
  env.control = theirs.get();
  env.listeners = fd_numbers(listeners_);
  env.tls_listeners = fd_numbers(tls_listeners_);
  env.status = status_.listener_fd();
  for (const HandoffQueue& q : queues_) env.old_queues.push_back(q.outbox.get());
  env.old_count = spawner_.count;
  env.listen = format_listen_address(config().listen);
  if (config().listen_tls) env.listen_tls = format_listen_address(*config().listen_tls);
  if (status_.address()) env.status_listen = format_listen_address(*status_.address());
  const std::string encoded = encode_handover_env(env);
  std::vector<int> inherited = env.listeners;
  inherited.insert(inherited.end(), env.tls_listeners.begin(), env.tls_listeners.end());
  inherited.insert(inherited.end(), env.old_queues.begin(), env.old_queues.end());
  inherited.push_back(env.control);
  if (env.status >= 0) inherited.push_back(env.status);
  std::vector<char*> argv = exec_argv(options_.binary, options_.args, nullptr);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("fork() failed: ") + std::strerror(errno);
    return false;
  }
  if (pid == 0) {
    // Only these cross the exec; every other descriptor of ours is close-on-exec.
    for (int fd : inherited) ::fcntl(fd, F_SETFD, 0);
    ::setenv(kHandoverEnvVar, encoded.c_str(), 1);
    unblock_all_signals();
    ::execv(options_.binary.c_str(), argv.data());
    LOG_CRIT("upgrade: cannot run %s: %s", options_.binary.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  upgrade_.emplace();
  upgrade_->pid = pid;
  upgrade_->control = std::move(ours);
  upgrade_->deadline = Clock::now() + kHelloWait;
  spawner_.master_only_fds.push_back(upgrade_->control.get());
  return true;
}

void Master::on_new_master_message() {
  if (!upgrade_ || !upgrade_->control) return;
  char buffer[512];
  for (;;) {
    ChannelMessage msg;
    const ChannelResult r = channel_receive(upgrade_->control.get(), buffer, sizeof buffer, msg);
    if (r == ChannelResult::kEmpty) return;
    if (r == ChannelResult::kClosed) {
      // It is exiting: its exit status (reap_new_master) says why, or the deadline does.
      std::erase(spawner_.master_only_fds, upgrade_->control.get());
      upgrade_->control.reset();
      upgrade_->deadline = std::min(upgrade_->deadline, Clock::now() + kKillWait);
      return;
    }
    if (r != ChannelResult::kMessage) {
      abandon_upgrade("unreadable message from the new master");
    } else if (msg.type == ChannelType::kHello &&
               upgrade_->step == UpgradeAttempt::Step::kStarting) {
      on_hello(msg);
    } else if (msg.type == ChannelType::kCommit &&
               upgrade_->step == UpgradeAttempt::Step::kCommitting) {
      hand_over();
    } else {
      abandon_upgrade("unexpected message from the new master");
    }
    if (!upgrade_) return;
  }
}

void Master::on_hello(ChannelMessage& msg) {
  const std::optional<HandoverHello> hello = decode_hello(msg.payload);
  if (!hello) {
    abandon_upgrade("malformed hello from the new master");
    return;
  }
  const int pid = static_cast<int>(upgrade_->pid);
  if (hello->version != kHandoverVersion) {
    // Groups cannot move between versions that do not share a format: the old workers
    // serve theirs until their peers leave, the new ones take every new connection.
    drain_instead("new master " + std::to_string(pid) + " speaks handover version " +
                  std::to_string(hello->version) + ", this one " +
                  std::to_string(kHandoverVersion));
    return;
  }
  if (!stats_.ok()) {
    // Without the shared page no old worker can say it moved everything (handed_over).
    drain_instead("no shared statistics page (its mmap failed at start)");
    return;
  }
  if (msg.fds.size() != hello->workers) {
    abandon_upgrade("the new master's hello carries " + std::to_string(msg.fds.size()) +
                    " queues for " + std::to_string(hello->workers) + " workers");
    return;
  }
  upgrade_->new_outboxes = std::move(msg.fds);
  const std::vector<int> outboxes = fd_numbers(upgrade_->new_outboxes);
  const std::string payload = encode_upgrade(hello->workers);
  upgrade_->step = UpgradeAttempt::Step::kMoving;
  upgrade_->deadline = Clock::now() + kMoveWait;
  for (int i = 0; i < spawner_.count && i < table_->size(); ++i) {
    if (table_->slot(i).state != ProcessTable::State::kRunning) continue;
    if (WorkerStats* s = stats_.worker(i)) {
      upgrade_->groups += WorkerStats::get(s->groups);
      WorkerStats::set(s->upgrade_wanted, 1);
    }
    if (int err = channel_send(queues_[static_cast<size_t>(i)].outbox.get(), ChannelType::kUpgrade,
                               payload, outboxes.data(), outboxes.size())) {
      abandon_upgrade("cannot tell worker " + std::to_string(i) +
                      " to move its groups: " + std::strerror(err));
      return;
    }
  }
  LOG_INFO("upgrade: new master %d started %u workers; moving %llu groups to them", pid,
           hello->workers, static_cast<unsigned long long>(upgrade_->groups));
}

void Master::check_upgrade() {
  for (Abandoned& a : abandoned_) {
    // One that does not stop (it is frozen, say) would keep the groups it got: killed, its
    // workers are stopped by their parent-death signal and send them back.
    if (a.kill_at && Clock::now() >= *a.kill_at) {
      LOG_WARN("abandoned new master (pid %d) still running after 5 s, sending SIGKILL",
               static_cast<int>(a.pid));
      ::kill(a.pid, SIGKILL);
      a.kill_at.reset();
    }
  }
  if (!upgrade_) return;
  if (upgrade_->step == UpgradeAttempt::Step::kMoving) {
    bool all_moved = true;
    for (int i = 0; i < spawner_.count && i < table_->size(); ++i) {
      if (table_->slot(i).state != ProcessTable::State::kRunning) continue;  // nothing left
      const WorkerStats* s = stats_.ok() ? stats_.worker(i) : nullptr;
      if (s != nullptr && WorkerStats::get(s->handed_over) == 0) all_moved = false;
    }
    if (all_moved) {
      ask_to_take_over();
      return;
    }
  }
  if (Clock::now() < upgrade_->deadline) return;
  on_new_master_message();  // an answer that came with the deadline counts
  if (!upgrade_ || Clock::now() < upgrade_->deadline) return;
  if (!upgrade_->control) {
    abandon_upgrade("the new master closed its control socket");
    return;
  }
  switch (upgrade_->step) {
    case UpgradeAttempt::Step::kStarting:
      abandon_upgrade("the new master did not report in 30 s");
      break;
    case UpgradeAttempt::Step::kMoving:
      abandon_upgrade("the groups did not finish moving in 30 s");
      break;
    case UpgradeAttempt::Step::kCommitting:
      abandon_upgrade("the new master did not confirm it took over in 5 s");
      break;
  }
}

void Master::abandon_upgrade(const std::string& why) {
  if (!upgrade_) return;
  if (upgrade_->step != UpgradeAttempt::Step::kStarting && !upgrade_->drain) {
    // Each old worker marks the end of what it sent; the new workers, stopped below, send
    // it all back once they have every mark.
    for (int i = 0; i < spawner_.count && i < static_cast<int>(queues_.size()); ++i) {
      if (WorkerStats* s = stats_.ok() ? stats_.worker(i) : nullptr) {
        WorkerStats::set(s->upgrade_wanted, 0);
      }
      send_control(queues_[static_cast<size_t>(i)].outbox.get(), ChannelType::kRollback, "");
    }
  }
  // Stopped before its control socket closes, which it would take for a commit.
  if (upgrade_->pid > 0 && ::kill(upgrade_->pid, SIGTERM) == 0) {
    abandoned_.push_back({upgrade_->pid, Clock::now() + kKillWait});
  }
  std::erase(spawner_.master_only_fds, upgrade_->control.get());
  LOG_ERROR("upgrade abandoned: %s; still serving", why.c_str());
  upgrade_.reset();
}

void Master::drain_instead(const std::string& why) {
  LOG_WARN("upgrade: %s: draining instead of moving groups", why.c_str());
  upgrade_->drain = true;
  ask_to_take_over();
}

void Master::ask_to_take_over() {
  if (int err = send_control(upgrade_->control.get(), ChannelType::kCommit, "")) {
    abandon_upgrade(std::string("cannot tell the new master to take over: ") + std::strerror(err));
    return;
  }
  // The old workers keep forwarding (after a move) or serving (a drain) until it answers.
  upgrade_->step = UpgradeAttempt::Step::kCommitting;
  upgrade_->deadline = Clock::now() + kCommitWait;
  LOG_INFO("upgrade: asking new master %d to take over", static_cast<int>(upgrade_->pid));
}

void Master::hand_over() {
  const int pid = static_cast<int>(upgrade_->pid);
  const bool moved = !upgrade_->drain;
  for (int i = 0; i < table_->size() && i < static_cast<int>(queues_.size()); ++i) {
    if (table_->slot(i).state != ProcessTable::State::kRunning) continue;
    send_control(queues_[static_cast<size_t>(i)].outbox.get(), ChannelType::kCommit, "O");
  }
  if (moved) {
    LOG_NOTICE("upgrade: new master %d is serving, %llu groups moved; old workers finish and exit",
               pid, static_cast<unsigned long long>(upgrade_->groups));
  } else {
    LOG_NOTICE("upgrade: new master %d is serving; old workers drain and exit", pid);
  }
  new_master_pid_ = upgrade_->pid;
  std::erase(spawner_.master_only_fds, upgrade_->control.get());
  upgrade_.reset();
  phase_ = Phase::kHandedOver;
  // The new master has its own copies of every socket; the old workers keep theirs until
  // they retire (closing one here closes nothing for them).
  std::string ignored;
  status_.listen(std::nullopt, ignored);
  listeners_.clear();
  tls_listeners_.clear();
}

bool Master::reap_new_master(pid_t pid, int status) {
  if (upgrade_ && pid == upgrade_->pid) {
    upgrade_->pid = -1;
    abandon_upgrade("the new master (pid " + std::to_string(pid) + ") " + describe_exit(status));
    return true;
  }
  if (pid == new_master_pid_) {
    LOG_INFO("new master (pid %d) %s", static_cast<int>(pid), describe_exit(status).c_str());
    new_master_pid_ = 0;
    return true;
  }
  if (const auto it = std::find_if(abandoned_.begin(), abandoned_.end(),
                                   [pid](const Abandoned& a) { return a.pid == pid; });
      it != abandoned_.end()) {
    LOG_INFO("abandoned new master (pid %d) %s", static_cast<int>(pid),
             describe_exit(status).c_str());
    abandoned_.erase(it);
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- the new master

bool Master::adopt_handover(uint16_t& port, uint16_t& tls_port, std::string& error) {
  HandoverEnv& h = *handover_;
  handover_control_ = UniqueFd(h.control);
  for (int fd : h.old_queues) old_queues_.emplace_back(fd);
  std::vector<int> all = h.listeners;
  all.insert(all.end(), h.tls_listeners.begin(), h.tls_listeners.end());
  all.insert(all.end(), h.old_queues.begin(), h.old_queues.end());
  all.push_back(h.control);
  if (h.status >= 0) all.push_back(h.status);
  for (int fd : all) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  if (!h.same_version()) old_queues_.clear();  // another version's workers: no use here
  const int count = std::max(1, config().worker_processes);
  // The inherited sockets when they are on the configured address (with port 0: any port),
  // plus more in the same group if this master runs more workers; fresh ones otherwise.
  const auto take = [&](const std::vector<int>& fds, const std::string& address,
                        const ListenAddress& wanted, std::vector<UniqueFd>& out, uint16_t& bound) {
    std::vector<UniqueFd> inherited;
    for (int fd : fds) inherited.emplace_back(fd);
    ListenAddress want = wanted;
    if (!inherited.empty() && want.port == 0) want.port = bound_port(inherited.front().get());
    if (inherited.empty() || format_listen_address(want) != address) {
      return open_listeners(wanted, count, out, bound, error);
    }
    bound = want.port;
    out = std::move(inherited);
    if (static_cast<int>(out.size()) < count) {
      std::vector<UniqueFd> more;
      uint16_t ignored = 0;
      if (!open_listeners(want, count - static_cast<int>(out.size()), more, ignored, error)) {
        return false;
      }
      for (UniqueFd& fd : more) out.push_back(std::move(fd));
    }
    return true;
  };
  if (!take(h.listeners, h.listen, config().listen, listeners_, port)) return false;
  if (config().listen_tls &&
      !take(h.tls_listeners, h.listen_tls, *config().listen_tls, tls_listeners_, tls_port)) {
    return false;
  }
  if (!config().listen_tls) {
    for (int fd : h.tls_listeners) ::close(fd);
  }
  UniqueFd status(h.status);
  if (status && config().status_listen &&
      format_listen_address(*config().status_listen) == h.status_listen) {
    status_.adopt(std::move(status), *config().status_listen);
    spawner_.master_only_fds = {signal_fd_.get(), status_.listener_fd()};
    return true;
  }
  status.reset();
  return apply_status_listen(error);
}

void Master::say_hello() {
  HandoverHello hello;
  hello.version = kHandoverVersion;
  hello.workers = static_cast<uint32_t>(spawner_.count);
  std::vector<int> outboxes;
  for (int i = 0; i < spawner_.count; ++i)
    outboxes.push_back(queues_[static_cast<size_t>(i)].outbox.get());
  if (int err = channel_send(handover_control_.get(), ChannelType::kHello, encode_hello(hello),
                             outboxes.data(), outboxes.size())) {
    LOG_CRIT("upgrade: cannot report to the old master: %s; stopping", std::strerror(err));
    begin_shutdown(SIGTERM, kTerminateGrace);
  }
}

void Master::on_old_master_message() {
  char buffer[64];
  for (;;) {
    ChannelMessage msg;
    const ChannelResult r = channel_receive(handover_control_.get(), buffer, sizeof buffer, msg);
    if (r == ChannelResult::kEmpty) return;
    if (r == ChannelResult::kClosed) {
      // Before the commit: it died, and its workers (parent-death signal) with it.
      LOG_WARN("upgrade: the old master went away before the commit; taking over");
      take_over(false);
      return;
    }
    if (r != ChannelResult::kMessage) {
      LOG_ERROR("upgrade: unreadable message from the old master: ignored");
      continue;
    }
    if (msg.type == ChannelType::kCommit) {
      take_over(true);
      return;
    }
    LOG_ERROR("upgrade: unexpected message from the old master: ignored");
  }
}

void Master::take_over(bool answer) {
  if (!handover_ || phase_ != Phase::kRunning) return;
  // The answer first: until the old master has it, it may still roll back, and our workers
  // must still be able to send their groups back.
  if (answer) {
    if (int err = send_control(handover_control_.get(), ChannelType::kCommit, "")) {
      LOG_CRIT("upgrade: cannot confirm the take-over to the old master: %s; stopping",
               std::strerror(err));
      begin_shutdown(SIGTERM, kTerminateGrace);
      return;
    }
  }
  std::string error;
  if (!config().pid.empty() && !pid_file_.write(config().pid, error)) {
    LOG_ERROR("upgrade: %s", error.c_str());
  }
  const int count = spawner_.count;
  if (static_cast<int>(listeners_.size()) > count) listeners_.resize(static_cast<size_t>(count));
  if (static_cast<int>(tls_listeners_.size()) > count) {
    tls_listeners_.resize(static_cast<size_t>(count));
  }
  steer(listeners_, count);
  steer(tls_listeners_, count);
  for (int i = 0; i < count; ++i) {
    if (int err =
            send_control(queues_[static_cast<size_t>(i)].outbox.get(), ChannelType::kCommit, "N")) {
      LOG_ERROR("upgrade: cannot tell worker %d to start accepting: %s", i, std::strerror(err));
    }
  }
  spawner_.hold_accepting = false;
  spawner_.fallback_outboxes = nullptr;
  old_queues_.clear();
  std::erase(spawner_.master_only_fds, handover_control_.get());
  handover_control_.reset();
  handover_.reset();
  if (!sd_notify_send("MAINPID=" + std::to_string(::getpid()) + "\nREADY=1", error)) {
    LOG_WARN("sd_notify: %s", error.c_str());
  }
  LOG_NOTICE("upgrade complete: master %d serving", static_cast<int>(::getpid()));
}

}  // namespace sigver
