#include "proc_tree.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>

namespace bench {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The fields of /proc/PID/stat after "(comm)", which may itself hold spaces and parentheses:
// [0] is the state, [1] the parent pid, [11] utime, [12] stime.
std::vector<std::string> stat_fields(pid_t pid) {
  const std::string text = read_text("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = text.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos) return fields;
  std::istringstream rest(text.substr(close + 1));
  std::string field;
  while (rest >> field) fields.push_back(field);
  return fields;
}

uint64_t to_u64(const std::string& s) {
  uint64_t value = 0;
  std::from_chars(s.data(), s.data() + s.size(), value);
  return value;
}

// Value in kB of the line starting with `label` in a /proc status-like file, 0 if absent.
uint64_t kib_field(const std::string& path, const std::string& label) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, label.size(), label) == 0) {
      std::istringstream value(line.substr(label.size()));
      uint64_t kib = 0;
      value >> kib;
      return kib;
    }
  }
  return 0;
}

// Parent of every live process, from one scan of /proc (the per-task "children" files need
// CONFIG_PROC_CHILDREN, which not every kernel has).
std::vector<std::pair<pid_t, pid_t>> parent_links() {
  std::vector<std::pair<pid_t, pid_t>> links;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return links;
  while (dirent* entry = readdir(dir)) {
    pid_t pid = 0;
    const std::string_view name(entry->d_name);
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (ec != std::errc() || end != name.data() + name.size()) continue;
    const auto fields = stat_fields(pid);
    if (fields.size() > 1 && fields[0] != "Z") {
      links.emplace_back(pid, static_cast<pid_t>(to_u64(fields[1])));
    }
  }
  closedir(dir);
  return links;
}

}  // namespace

bool process_alive(pid_t pid) {
  const auto fields = stat_fields(pid);
  return !fields.empty() && fields[0] != "Z" && fields[0] != "X";
}

std::vector<pid_t> process_tree(pid_t root) {
  std::vector<pid_t> tree;
  if (!process_alive(root)) return tree;
  tree.push_back(root);
  const auto links = parent_links();
  for (size_t i = 0; i < tree.size(); ++i) {
    for (const auto& [pid, parent] : links) {
      if (parent == tree[i]) tree.push_back(pid);
    }
  }
  return tree;
}

namespace {

// Every process of the trees of `roots`.
std::vector<pid_t> trees(const std::vector<pid_t>& roots) {
  std::vector<pid_t> all;
  for (pid_t root : roots) {
    const std::vector<pid_t> tree = process_tree(root);
    all.insert(all.end(), tree.begin(), tree.end());
  }
  return all;
}

}  // namespace

TreeCpu tree_cpu(pid_t root) { return tree_cpu(std::vector<pid_t>{root}); }

TreeCpu tree_cpu(const std::vector<pid_t>& roots) {
  static const auto ticks_per_second = static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  uint64_t user = 0, system = 0;
  for (pid_t pid : trees(roots)) {
    const auto fields = stat_fields(pid);
    if (fields.size() > 12) {
      user += to_u64(fields[11]);
      system += to_u64(fields[12]);
    }
  }
  return TreeCpu{user * 1000000 / ticks_per_second, system * 1000000 / ticks_per_second};
}

TreeMemory tree_memory(pid_t root) { return tree_memory(std::vector<pid_t>{root}); }

TreeMemory tree_memory(const std::vector<pid_t>& roots) {
  TreeMemory memory;
  for (pid_t pid : trees(roots)) {
    const std::string base = "/proc/" + std::to_string(pid);
    memory.rss_kib += kib_field(base + "/status", "VmRSS:");
    memory.pss_kib += kib_field(base + "/smaps_rollup", "Pss:");
    ++memory.processes;
  }
  return memory;
}

}  // namespace bench
