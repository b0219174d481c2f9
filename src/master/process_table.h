#pragma once
// The master's view of its workers: which pid runs which index, and when a dead worker may
// be started again. Pure bookkeeping (no fork, no signals) with the clock passed in, so the
// back-off policy is testable without processes.
//
// Back-off: a worker that dies is restarted at once; if the new one dies within kQuickDeath
// of its start, the next restart waits kFirstDelay, then twice as long each time, capped at
// kMaxDelay. A worker that lived kStableLife or longer starts the sequence over.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <vector>

namespace sigver {

class ProcessTable {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::duration kQuickDeath = std::chrono::seconds(1);
  static constexpr Clock::duration kStableLife = std::chrono::seconds(10);
  static constexpr Clock::duration kFirstDelay = std::chrono::milliseconds(250);
  static constexpr Clock::duration kMaxDelay = std::chrono::seconds(5);

  enum class State { kNotStarted, kRunning, kWaitingRespawn, kFatal, kExited };

  struct Slot {
    State state = State::kNotStarted;
    pid_t pid = 0;
    Clock::time_point started{};
    Clock::time_point respawn_at{};
    Clock::duration next_delay{};  // wait before the restart after the next quick death
    bool retired = false;          // beyond the worker count: finishes, never restarted
  };

  struct Exit {
    int index = -1;  // -1: not one of our workers
    Clock::duration lived{};
    bool respawn = false;
    Clock::duration respawn_after{};
  };

  explicit ProcessTable(int count) : slots_(static_cast<size_t>(count)) {}

  int size() const { return static_cast<int>(slots_.size()); }
  // A new worker count: slots below it are active (new ones not started yet), slots at or
  // above it are retired: their workers finish and are not restarted.
  void resize(int count);
  const Slot& slot(int index) const { return slots_[static_cast<size_t>(index)]; }

  void on_spawned(int index, pid_t pid, Clock::time_point now);
  // fork() failed: retry later, with the same back-off as a quick death.
  void on_spawn_failed(int index, Clock::time_point now);
  // A worker was reaped. `fatal`: it asked not to be restarted. `shutting_down`: nothing is
  // restarted.
  Exit on_exit(pid_t pid, bool fatal, bool shutting_down, Clock::time_point now);

  std::vector<int> due_for_respawn(Clock::time_point now) const;
  std::optional<Clock::time_point> next_respawn() const;
  std::vector<pid_t> running_pids() const;
  bool any_running() const { return !running_pids().empty(); }
  // Every worker stopped for good with the "fatal" exit code.
  bool all_fatal() const;

 private:
  void schedule_respawn(Slot& slot, Clock::duration lived, Clock::time_point now,
                        Clock::duration& wait);
  std::vector<Slot> slots_;
};

}  // namespace sigver
