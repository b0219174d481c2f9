#include "master/process_table.h"

#include <algorithm>

namespace sigver {

void ProcessTable::resize(int count) {
  if (static_cast<size_t>(count) > slots_.size()) slots_.resize(static_cast<size_t>(count));
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    s.retired = i >= static_cast<size_t>(count);
    if (s.retired && s.state == State::kWaitingRespawn) s.state = State::kExited;
  }
}

void ProcessTable::on_spawned(int index, pid_t pid, Clock::time_point now) {
  Slot& s = slots_[static_cast<size_t>(index)];
  s.state = State::kRunning;
  s.pid = pid;
  s.started = now;
}

void ProcessTable::on_spawn_failed(int index, Clock::time_point now) {
  Slot& s = slots_[static_cast<size_t>(index)];
  Clock::duration wait{};
  schedule_respawn(s, Clock::duration::zero(), now, wait);
}

void ProcessTable::schedule_respawn(Slot& slot, Clock::duration lived, Clock::time_point now,
                                    Clock::duration& wait) {
  if (lived >= kStableLife) slot.next_delay = Clock::duration::zero();
  wait = slot.next_delay;
  if (lived < kQuickDeath) {
    slot.next_delay = slot.next_delay == Clock::duration::zero()
                          ? kFirstDelay
                          : std::min(slot.next_delay * 2, kMaxDelay);
  }
  slot.state = State::kWaitingRespawn;
  slot.pid = 0;
  slot.respawn_at = now + wait;
}

ProcessTable::Exit ProcessTable::on_exit(pid_t pid, bool fatal, bool shutting_down,
                                         Clock::time_point now) {
  Exit exit;
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.state != State::kRunning || s.pid != pid) continue;
    exit.index = static_cast<int>(i);
    exit.lived = now - s.started;
    if (fatal) {
      s.state = State::kFatal;
      s.pid = 0;
    } else if (shutting_down || s.retired) {
      s.state = State::kExited;
      s.pid = 0;
    } else {
      exit.respawn = true;
      schedule_respawn(s, exit.lived, now, exit.respawn_after);
    }
    break;
  }
  return exit;
}

std::vector<int> ProcessTable::due_for_respawn(Clock::time_point now) const {
  std::vector<int> due;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.state == State::kWaitingRespawn && s.respawn_at <= now) {
      due.push_back(static_cast<int>(i));
    }
  }
  return due;
}

std::optional<ProcessTable::Clock::time_point> ProcessTable::next_respawn() const {
  std::optional<Clock::time_point> next;
  for (const Slot& s : slots_) {
    if (s.state == State::kWaitingRespawn && (!next || s.respawn_at < *next)) {
      next = s.respawn_at;
    }
  }
  return next;
}

std::vector<pid_t> ProcessTable::running_pids() const {
  std::vector<pid_t> pids;
  for (const Slot& s : slots_) {
    if (s.state == State::kRunning) pids.push_back(s.pid);
  }
  return pids;
}

bool ProcessTable::all_fatal() const {
  return std::all_of(slots_.begin(), slots_.end(), [](const Slot& s) {
    return s.state == State::kFatal || (s.retired && s.state != State::kRunning);
  });
}

}  // namespace sigver
