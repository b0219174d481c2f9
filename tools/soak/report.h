#pragma once
// What sigver-soak reads of the server and how it judges it. The server is a process tree
// (master and workers, whose number changes with every other reload), so memory and
// descriptors are summed over the tree. Memory is judged on PSS: a page shared by the
// forked workers counts once in total, so the sum does not jump by a whole copy of the
// shared libraries when a worker starts or retires. RSS does jump, so it is judged only
// against samples with the same number of processes. Descriptors are
// judged net of the sockets the tool holds to the server: each connection costs the server
// one descriptor, and the number of connections drifts with the churn, so what is left over
// is what must stay flat.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace soak {

struct Sample {
  double t = 0;
  size_t processes = 0;  // master + workers (+ a retired worker still finishing)
  uint64_t rss_kib = 0, pss_kib = 0;
  uint64_t fds = 0, master_fds = 0;
  uint64_t sockets = 0;  // sockets the tool holds to the server
  // Running totals of the churn, at the time of the sample.
  uint64_t connections = 0, round_trips = 0, errors = 0;
  std::string event;  // what happened since the previous sample (a reload)

  int64_t spare_fds() const { return static_cast<int64_t>(fds) - static_cast<int64_t>(sockets); }
};

// The figures of `root` and its descendants right now (processes = 0 if root is gone).
Sample take_sample(pid_t root);

// A figure over the samples after warm-up: the level it started from (mean of the first
// three), where it ended (mean of the last three), its extremes and its least-squares slope.
struct Trend {
  double level = 0, end = 0, min = 0, max = 0, slope_per_minute = 0;
  size_t count = 0;
};
Trend trend(const std::vector<Sample>& samples, size_t from, double (*value)(const Sample&));

struct Tolerance {
  double pss_ratio = 0.10;      // PSS may end this much above its level ...
  double pss_slack_kib = 4096;  // ... plus this
  double fd_ratio = 0.05;       // spare descriptors may grow by this share of the fds
  // Once every peer left (and the first worker count is back), fds over the count before
  // the load: nothing is in flight any more, so only a handful.
  uint64_t drained_fd_slack = 4;
};

struct Judgement {
  bool memory_ok = true, rss_ok = true, fds_ok = true, drained_ok = true;
  std::string text;  // markdown: the trend table and one line per check
};

// `samples` are those taken during the churn; `before` and `drained` before any peer
// connected and after all of them left.
Judgement judge(const std::vector<Sample>& samples, size_t warmup, const Sample& before,
                const Sample& drained, const Tolerance& tolerance);

// The samples as a markdown table (one row each, within 100 columns).
std::string sample_table(const Sample& before, const std::vector<Sample>& samples,
                         const Sample& drained);

}  // namespace soak
