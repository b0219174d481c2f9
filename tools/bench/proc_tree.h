#pragma once
// Resource use of a server as seen from /proc: a server is a process tree (sigverd's master
// and its forked workers; node and its helper threads), so every figure sums over the root
// and all its descendants. Reading another process's smaps_rollup needs the same user.
#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace bench {

// The root and every descendant alive now (zombies excluded); empty if the root is gone.
std::vector<pid_t> process_tree(pid_t root);

// True while `pid` exists and has not exited (a zombie counts as exited).
bool process_alive(pid_t pid);

// utime and stime of every process of the tree, all threads included, in microseconds.
struct TreeCpu {
  uint64_t user_us = 0;
  uint64_t system_us = 0;
  uint64_t total_us() const { return user_us + system_us; }
};
TreeCpu tree_cpu(pid_t root);
TreeCpu tree_cpu(const std::vector<pid_t>& roots);  // summed over several trees

struct TreeMemory {
  uint64_t rss_kib = 0;  // sum of VmRSS: counts pages shared by forked processes repeatedly
  uint64_t pss_kib = 0;  // sum of Pss: shared pages split between the processes sharing them
  size_t processes = 0;
};
TreeMemory tree_memory(pid_t root);
TreeMemory tree_memory(const std::vector<pid_t>& roots);

}  // namespace bench
