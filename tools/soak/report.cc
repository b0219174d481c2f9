#include "report.h"

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "proc_tree.h"

namespace soak {
namespace {

// kB value of the line starting with `label` in a /proc status-like file; 0 if absent.
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

uint64_t count_fds(pid_t pid) {
  DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (dir == nullptr) return 0;
  uint64_t n = 0;
  while (const dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n;
}

std::string format(const char* fmt, double a, double b = 0, double c = 0, double d = 0,
                   double e = 0) {
  char text[256];
  std::snprintf(text, sizeof text, fmt, a, b, c, d, e);
  return text;
}

double mib(double kib) { return kib / 1024.0; }

}  // namespace

Sample take_sample(pid_t root) {
  Sample s;
  for (pid_t pid : bench::process_tree(root)) {
    const std::string base = "/proc/" + std::to_string(pid);
    s.rss_kib += kib_field(base + "/status", "VmRSS:");
    s.pss_kib += kib_field(base + "/smaps_rollup", "Pss:");
    const uint64_t fds = count_fds(pid);
    s.fds += fds;
    if (pid == root) s.master_fds = fds;
    ++s.processes;
  }
  return s;
}

Trend trend(const std::vector<Sample>& samples, size_t from, double (*value)(const Sample&)) {
  Trend t;
  if (from >= samples.size()) return t;
  const size_t n = samples.size() - from;
  const size_t edge = std::min<size_t>(3, n);
  t.count = n;
  t.min = t.max = value(samples[from]);
  double sum_t = 0, sum_v = 0;
  for (size_t i = from; i < samples.size(); ++i) {
    const double v = value(samples[i]);
    t.min = std::min(t.min, v);
    t.max = std::max(t.max, v);
    sum_t += samples[i].t;
    sum_v += v;
    if (i < from + edge) t.level += v / static_cast<double>(edge);
    if (i >= samples.size() - edge) t.end += v / static_cast<double>(edge);
  }
  const double mean_t = sum_t / static_cast<double>(n), mean_v = sum_v / static_cast<double>(n);
  double num = 0, den = 0;
  for (size_t i = from; i < samples.size(); ++i) {
    num += (samples[i].t - mean_t) * (value(samples[i]) - mean_v);
    den += (samples[i].t - mean_t) * (samples[i].t - mean_t);
  }
  t.slope_per_minute = den > 0 ? 60.0 * num / den : 0;
  return t;
}

Judgement judge(const std::vector<Sample>& samples, size_t warmup, const Sample& before,
                const Sample& drained, const Tolerance& tolerance) {
  Judgement j;
  const Trend pss = trend(samples, warmup, [](const Sample& s) { return double(s.pss_kib); });
  const Trend rss = trend(samples, warmup, [](const Sample& s) { return double(s.rss_kib); });
  const Trend fds = trend(samples, warmup, [](const Sample& s) { return double(s.fds); });
  const Trend spare = trend(samples, warmup, [](const Sample& s) { return double(s.spare_fds()); });
  const Trend sockets = trend(samples, warmup, [](const Sample& s) { return double(s.sockets); });
  const double from_t = warmup < samples.size() ? samples[warmup].t : 0;
  std::string& out = j.text;
  out += format(
      "After warm-up: the %.0f samples from t = %.0f s on. Level = mean of the first "
      "three, end = mean of the last three.\n\n",
      static_cast<double>(pss.count), from_t);
  out += "| figure | level | end | min | max | slope per minute |\n|---|---|---|---|---|---|\n";
  auto memory_row = [&](const char* name, const Trend& t) {
    out += std::string("| ") + name +
           format(" | %.1f | %.1f | %.1f | %.1f | %+.3f |\n", mib(t.level), mib(t.end), mib(t.min),
                  mib(t.max), mib(t.slope_per_minute));
  };
  auto count_row = [&](const char* name, const Trend& t) {
    out += std::string("| ") + name +
           format(" | %.0f | %.0f | %.0f | %.0f | %+.2f |\n", t.level, t.end, t.min, t.max,
                  t.slope_per_minute);
  };
  memory_row("server PSS (MiB)", pss);
  memory_row("server RSS (MiB)", rss);
  count_row("server fds", fds);
  count_row("client sockets", sockets);
  count_row("server fds - client sockets", spare);
  out += "\n";

  const double pss_limit = pss.level * (1 + tolerance.pss_ratio) + tolerance.pss_slack_kib;
  j.memory_ok = pss.count > 0 && pss.end <= pss_limit;
  out += format(
      "- memory: PSS ended at %.1f MiB, limit %.1f MiB (level + %.0f%% + %.0f MiB): ", mib(pss.end),
      mib(pss_limit), 100 * tolerance.pss_ratio, mib(tolerance.pss_slack_kib));
  out += j.memory_ok ? "ok\n" : "**GREW**\n";

  // RSS per process count: the level and end of the samples with that many processes.
  std::vector<size_t> counts;
  for (size_t i = warmup; i < samples.size(); ++i) counts.push_back(samples[i].processes);
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  for (size_t processes : counts) {
    std::vector<Sample> same;
    for (size_t i = warmup; i < samples.size(); ++i) {
      if (samples[i].processes == processes) same.push_back(samples[i]);
    }
    if (same.size() < 6) continue;  // a transition (a retired worker finishing), not a level
    const Trend t = trend(same, 0, [](const Sample& s) { return double(s.rss_kib); });
    const double limit = t.level * (1 + tolerance.pss_ratio) + tolerance.pss_slack_kib;
    const bool ok = t.end <= limit;
    j.rss_ok = j.rss_ok && ok;
    out += format(
        "- memory: RSS of the %.0f samples with %.0f processes ended at %.1f MiB, "
        "level %.1f, limit %.1f MiB: ",
        double(same.size()), double(processes), mib(t.end), mib(t.level), mib(limit));
    out += ok ? "ok\n" : "**GREW**\n";
  }

  const double fd_growth = spare.end - spare.level;
  const double fd_limit = tolerance.fd_ratio * fds.level;
  j.fds_ok = spare.count > 0 && fd_growth <= fd_limit;
  out += format(
      "- descriptors: fds beyond the client's sockets went from %.0f to %.0f (%+.0f), "
      "limit +%.0f (%.0f%% of the fd level): ",
      spare.level, spare.end, fd_growth, fd_limit, 100 * tolerance.fd_ratio);
  out += j.fds_ok ? "ok\n" : "**GREW**\n";

  const uint64_t drained_limit = before.fds + tolerance.drained_fd_slack;
  j.drained_ok = drained.processes == before.processes && drained.fds <= drained_limit;
  out += format(
      "- after every peer left: %.0f fds in %.0f processes (before the load: %.0f in "
      "%.0f), limit %.0f: ",
      double(drained.fds), double(drained.processes), double(before.fds), double(before.processes),
      double(drained_limit));
  out += j.drained_ok ? "ok\n" : "**LEFT OVER**\n";
  out += format(
      "- memory after every peer left: PSS %.1f MiB, RSS %.1f MiB (before the load: "
      "PSS %.1f MiB, RSS %.1f MiB)\n",
      mib(double(drained.pss_kib)), mib(double(drained.rss_kib)), mib(double(before.pss_kib)),
      mib(double(before.rss_kib)));
  return j;
}

std::string sample_table(const Sample& before, const std::vector<Sample>& samples,
                         const Sample& drained) {
  std::string out =
      "| t (s) | procs | sockets | PSS MiB | RSS MiB | fds | fds-sockets | master fds | "
      "new conns | round trips | errors | event |\n"
      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  const Sample* previous = &before;
  auto row = [&](const Sample& s, const char* t) {
    char text[256];
    std::snprintf(text, sizeof text,
                  "| %s | %zu | %llu | %.1f | %.1f | %llu | %lld | %llu | %llu | %llu | %llu | ", t,
                  s.processes, static_cast<unsigned long long>(s.sockets), mib(double(s.pss_kib)),
                  mib(double(s.rss_kib)), static_cast<unsigned long long>(s.fds),
                  static_cast<long long>(s.spare_fds()),
                  static_cast<unsigned long long>(s.master_fds),
                  static_cast<unsigned long long>(s.connections - previous->connections),
                  static_cast<unsigned long long>(s.round_trips - previous->round_trips),
                  static_cast<unsigned long long>(s.errors));
    out += text + s.event + " |\n";
    previous = &s;
  };
  row(before, "0");
  for (const Sample& s : samples) row(s, format("%.0f", s.t).c_str());
  row(drained, "drained");
  return out;
}

}  // namespace soak
