#pragma once
// The master process's class, shared by master.cc (start-up, supervision, signals, reload)
// and master_upgrade.cc (handing over to a new binary). Internal to src/master.
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/channel.h"
#include "core/client_counts.h"
#include "core/handover.h"
#include "core/tls_material.h"
#include "core/tls_tickets.h"
#include "core/unique_fd.h"
#include "core/worker_stats.h"
#include "master/daemonize.h"
#include "master/handoff_queues.h"
#include "master/master.h"
#include "master/pidfile.h"
#include "master/privileges.h"
#include "master/process_table.h"
#include "master/status_server.h"
#include "master/worker_process.h"

namespace sigver {

using Clock = ProcessTable::Clock;
inline constexpr Clock::duration kQuitGrace = std::chrono::seconds(10);
inline constexpr Clock::duration kTerminateGrace = std::chrono::seconds(3);
// After SIGKILL the kernel reaps quickly; this bound only guards against a stuck process.
inline constexpr Clock::duration kKillWait = std::chrono::seconds(5);

// "exited with code 3", "was killed by SIGKILL", ... for a waitpid() status.
std::string describe_exit(int status);

class Master {
 public:
  explicit Master(MasterOptions& options)
      : options_(options), status_([this](std::string_view path) { return status(path); }) {}
  int run();

 private:
  // kHandedOver: a binary upgrade committed; the workers finish, nothing is respawned.
  enum class Phase { kRunning, kStopping, kKilling, kHandedOver };

  bool start_up(int& exit_code);
  void fail_start(const std::string& message);
  void serve();
  void handle_signal(int signo);
  void reap_children();
  void spawn(int index);
  void respawn_due();
  void reload();
  bool apply_listen(const ListenAddress& old_address);
  void apply_worker_count(int old_count, int new_count);
  void reopen_logs();
  // New connections go only to the first `count` sockets of the group (listeners.h); the
  // default spread is kept if the kernel refuses.
  void steer(const std::vector<UniqueFd>& sockets, int count);
  // The status listener (status_listen): what it answers, and (re)binding it.
  StatusResponse status(std::string_view path) const;
  bool apply_status_listen(std::string& error);
  void begin_shutdown(int signo, Clock::duration grace);
  void signal_workers(int signo);
  int poll_timeout_ms() const;

  // ---- binary upgrade, the old master's side (master_upgrade.cc) ----
  // One attempt: the new master started, the groups moving to its workers, the commit.
  struct UpgradeAttempt {
    // kCommitting: asked the new master to take over, waiting for its answer.
    enum class Step { kStarting, kMoving, kCommitting } step = Step::kStarting;
    bool drain = false;  // nothing moves (another handover version, or no shared stats)
    pid_t pid = -1;
    UniqueFd control;
    Clock::time_point deadline{};
    std::vector<UniqueFd> new_outboxes;  // the new workers' queues
    uint64_t groups = 0;                 // what the old workers held when they were told
  };
  void start_upgrade();  // SIGUSR2
  bool launch_new_master(std::string& error);
  void on_new_master_message();
  void on_hello(ChannelMessage& msg);
  void check_upgrade();  // every old worker moved? deadline passed?
  void abandon_upgrade(const std::string& why);
  void drain_instead(const std::string& why);  // groups cannot move: the old workers drain
  void ask_to_take_over();  // every group moved (or a drain): the commit, old side
  void hand_over();         // the new master answered: the old workers retire
  // Reaps the new master if `pid` is it (true).
  bool reap_new_master(pid_t pid, int status);
  bool upgrading() const { return upgrade_.has_value(); }
  // ---- ... the new master's side ----
  // At start-up: takes over the listeners the old master passed (false + error when they
  // cannot be used).
  bool adopt_handover(uint16_t& port, uint16_t& tls_port, std::string& error);
  void say_hello();
  void on_old_master_message();
  // The commit, new side; `answer`: tell the old master (not when it went away).
  void take_over(bool answer);

  std::optional<UpgradeAttempt> upgrade_;
  std::optional<HandoverEnv> handover_;  // set while the new master waits for the commit
  UniqueFd handover_control_;
  std::vector<UniqueFd> old_queues_;  // the old workers' queues (a rollback's way back)
  pid_t new_master_pid_ = 0;          // after a commit: the new master, still our child
  struct Abandoned {                  // a new master told to stop, not reaped yet
    pid_t pid;
    std::optional<Clock::time_point> kill_at;  // SIGKILL then if it still runs
  };
  std::vector<Abandoned> abandoned_;

  MasterOptions& options_;
  Config& config() { return options_.config; }
  std::vector<UniqueFd> listeners_;
  std::vector<UniqueFd> tls_listeners_;  // listen_tls, one per worker
  TlsMaterial tls_material_;             // what workers build their TLS contexts from
  TicketKeyRing tickets_;                // session ticket keys, in memory only
  std::vector<HandoffQueue> queues_;
  Credentials credentials_;
  Daemonizer daemonizer_;
  UniqueFd signal_fd_;
  PidFile pid_file_;
  std::optional<ProcessTable> table_;
  ClientCounts clients_;  // connections per client address, shared with every worker
  SharedStats stats_;     // every worker's counters, read for /metrics and /health
  StatusServer status_;
  uint64_t worker_restarts_ = 0;
  WorkerSpawner spawner_;
  Phase phase_ = Phase::kRunning;
  Clock::time_point deadline_{};
  int stop_signal_ = 0;
  int exit_code_ = 0;
};

}  // namespace sigver
