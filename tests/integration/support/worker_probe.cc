#include "support/worker_probe.h"

#include <dirent.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "core/key_owner.h"
#include "support/server_process.h"
#include "support/sigver_peer.h"

namespace sigver::itest {
namespace {

std::vector<std::string> DirectoryEntries(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return names;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(dir);
  return names;
}

// Fields of /proc/PID/stat after the command name (which may hold spaces and parentheses):
// [0] is the state, [1] the parent pid.
std::vector<std::string> StatFields(pid_t pid) {
  const std::string stat = read_file_text("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(stat.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

}  // namespace

std::vector<pid_t> ChildPids(pid_t parent) {
  std::vector<pid_t> children;
  const std::string task_dir = "/proc/" + std::to_string(parent) + "/task";
  for (const std::string& tid : DirectoryEntries(task_dir)) {
    std::istringstream list(read_file_text(task_dir + "/" + tid + "/children"));
    for (pid_t child; list >> child;) children.push_back(child);
  }
  return children;
}

int OpenFdCount(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return -1;
  ::closedir(dir);
  return static_cast<int>(DirectoryEntries(path).size());
}

bool ProcessAlive(pid_t pid) {
  const std::vector<std::string> fields = StatFields(pid);
  return !fields.empty() && fields[0] != "Z" && fields[0] != "X";
}

pid_t ParentPid(pid_t pid) {
  const std::vector<std::string> fields = StatFields(pid);
  return fields.size() < 2 ? -1 : static_cast<pid_t>(std::atoi(fields[1].c_str()));
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string KeyOwnedBy(int owner, int count, std::string_view prefix) {
  for (;;) {
    std::string key = random_key(prefix);
    if (key_owner(key, count) == owner) return key;
  }
}

std::vector<LogLine> ParseLog(const std::string& log) {
  std::vector<LogLine> lines;
  std::istringstream in(log);
  for (std::string raw; std::getline(in, raw);) {
    // "DATE TIME [level] PID#TAG: text"
    const size_t open = raw.find(" [");
    const size_t close = raw.find("] ", open == std::string::npos ? 0 : open);
    if (open == std::string::npos || close == std::string::npos) continue;
    const size_t hash = raw.find('#', close);
    const size_t colon = raw.find(": ", hash == std::string::npos ? close : hash);
    if (hash == std::string::npos || colon == std::string::npos) continue;
    LogLine line;
    line.level = raw.substr(open + 2, close - open - 2);
    line.pid = static_cast<pid_t>(std::atoi(raw.c_str() + close + 2));
    const std::string tag = raw.substr(hash + 1, colon - hash - 1);
    line.worker = tag == "master" ? -1 : std::atoi(tag.c_str());
    line.text = raw.substr(colon + 2);
    lines.push_back(std::move(line));
  }
  return lines;
}

std::vector<LogLine> LinesContaining(const std::string& log, std::string_view needle) {
  std::vector<LogLine> found;
  for (LogLine& line : ParseLog(log))
    if (line.text.find(needle) != std::string::npos) found.push_back(std::move(line));
  return found;
}

std::map<int, pid_t> WorkerPidsFromLog(const std::string& log) {
  std::map<int, pid_t> pids;
  for (const LogLine& line : LinesContaining(log, " started, pid ")) {
    int index = -1;
    int pid = 0;
    if (line.worker == -1 &&
        std::sscanf(line.text.c_str(), "worker %d started, pid %d", &index, &pid) == 2)
      pids[index] = static_cast<pid_t>(pid);
  }
  return pids;
}

HandoffTotals HandoffTotalsFromLog(const std::string& log) {
  HandoffTotals totals;
  for (const LogLine& line : LinesContaining(log, "connections handed off:")) {
    int index = -1;
    unsigned long long sent = 0, received = 0;
    if (std::sscanf(line.text.c_str(),
                    "worker %d exiting (connections handed off: %llu sent, %llu received)", &index,
                    &sent, &received) == 3) {
      ++totals.exits;
      totals.sent += sent;
      totals.received += received;
    }
  }
  return totals;
}

}  // namespace sigver::itest
