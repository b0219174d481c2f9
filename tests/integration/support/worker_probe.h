#pragma once
// What a test can see of a multi-worker sigverd from outside: its processes (/proc) and its
// debug log. Log lines look like "2024/01/01 10:00:00 [debug] 1234#2: text", where 1234 is
// the writer's pid and 2 its worker index ("master" for the master).
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sigver::itest {

// Direct children of `parent` (every thread's children list), in no particular order.
std::vector<pid_t> ChildPids(pid_t parent);
// Number of open descriptors of `pid` (-1 if /proc/PID/fd cannot be read).
int OpenFdCount(pid_t pid);
// True while `pid` exists and is not a zombie.
bool ProcessAlive(pid_t pid);
// Parent of `pid`, or -1 when it does not exist.
pid_t ParentPid(pid_t pid);

// Polls `condition` every 10 ms until it holds or `bound` passes; returns its last value.
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds bound);

// A fresh random key that jump consistent hashing assigns to worker `owner` of `count`.
std::string KeyOwnedBy(int owner, int count, std::string_view prefix = "o");

struct LogLine {
  pid_t pid = 0;
  int worker = -1;  // -1: the master
  std::string level;
  std::string text;  // after "PID#INDEX: "
};
std::vector<LogLine> ParseLog(const std::string& log);
// Lines whose text contains `needle`.
std::vector<LogLine> LinesContaining(const std::string& log, std::string_view needle);

// index -> pid of the latest "worker N started, pid P" line the master wrote.
std::map<int, pid_t> WorkerPidsFromLog(const std::string& log);

// Totals of the workers' exit lines "worker N exiting (connections handed off: S sent,
// R received)"; `exits` counts those lines.
struct HandoffTotals {
  int exits = 0;
  unsigned long long sent = 0;
  unsigned long long received = 0;
};
HandoffTotals HandoffTotalsFromLog(const std::string& log);

}  // namespace sigver::itest
