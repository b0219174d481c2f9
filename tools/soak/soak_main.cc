// sigver-soak: the load and the judge behind `make soak` (tools/soak/run.sh starts sigverd
// and passes these):
//   sigver-soak run --port P --server-pid PID --config FILE --hup-configs A[,B...]
//       [--seconds 600] [--hup-seconds 60] [--sample-seconds 10] [--sessions 400]
//       [--steady-pairs 32] [--start-rate 40] [--sources 8] [--seed N] [--report FILE]
//   sigver-soak free-port
// For --seconds it keeps the churn of churn.h going; every --hup-seconds it copies the next
// of the --hup-configs files over --config and sends SIGHUP to the master; every
// --sample-seconds it reads the server's memory and descriptors (report.h). Then every peer
// leaves, the first configuration is restored, the server is sampled once more, and the run
// is judged. The report (markdown) goes
// to --report, `name=value` lines to stdout, progress to stderr.
// Exit code: 0 when every check passed, 1 when one failed, 2 on bad usage.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "churn.h"
#include "client_loop.h"
#include "proc_tree.h"
#include "report.h"

namespace soak {
namespace {

constexpr double kFinishBound = 20;  // seconds for every peer to be gone at the end
constexpr double kDrainWait = 5;     // then this long (a last resize, close timeouts) to sample
constexpr int kTickMs = 10;

class Args {
 public:
  bool parse(int argc, char** argv, int first) {
    for (int i = first; i < argc; i += 2) {
      const std::string name = argv[i];
      if (name.rfind("--", 0) != 0 || i + 1 >= argc) {
        std::fprintf(stderr, "sigver-soak: expected --name value, got '%s'\n", name.c_str());
        return false;
      }
      values_[name.substr(2)] = argv[i + 1];
    }
    return true;
  }
  std::string text(const std::string& name, const std::string& fallback = "") const {
    const auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  uint64_t number(const std::string& name, uint64_t fallback) const {
    const std::string value = text(name);
    uint64_t out = fallback;
    if (!value.empty()) std::from_chars(value.data(), value.data() + value.size(), out);
    return out;
  }
  double seconds(const std::string& name, double fallback) const {
    const std::string value = text(name);
    return value.empty() ? fallback : std::stod(value);
  }

 private:
  std::map<std::string, std::string> values_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The value of `name = value` in a configuration text, for labelling a reload.
std::string setting(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    value.erase(0, value.find_first_not_of(' '));
    return value;
  }
  return "?";
}

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::istringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// Rewrites the configuration the way an operator's tool would (a new file renamed over the
// old, so the master never reads half of it), then signals the master.
bool reload(pid_t master, const std::string& config, const std::string& text, std::string& why) {
  const std::string temporary = config + ".new";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    if (!out.flush()) {
      why = "cannot write " + temporary;
      return false;
    }
  }
  if (std::rename(temporary.c_str(), config.c_str()) != 0) {
    why = "cannot rename " + temporary;
    return false;
  }
  if (::kill(master, SIGHUP) != 0) {
    why = "kill(SIGHUP) failed";
    return false;
  }
  return true;
}

// CPU time of the master's children it has reaped (cutime + cstime in /proc/PID/stat): the
// workers retired by a smaller count are no longer in the process tree.
double reaped_cpu_seconds(pid_t pid) {
  const std::string text = read_file("/proc/" + std::to_string(pid) + "/stat");
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 0; i <= 14 && fields >> field; ++i) {
    if (i == 13 || i == 14) ticks += std::stod(field);  // after the state: cutime, cstime
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double own_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void fill_totals(Sample& s, Churn& churn, double t) {
  s.t = t;
  s.sockets = churn.server_sockets();
  s.connections = churn.counters().connections;
  s.round_trips = churn.counters().round_trips;
  s.errors = churn.counters().errors;
}

void print_progress(const Sample& s) {
  std::fprintf(stderr,
               "soak: t=%4.0fs procs=%zu sockets=%llu pss=%.1fMiB rss=%.1fMiB fds=%llu "
               "spare=%lld conns=%llu rts=%llu errors=%llu %s\n",
               s.t, s.processes, static_cast<unsigned long long>(s.sockets), s.pss_kib / 1024.0,
               s.rss_kib / 1024.0, static_cast<unsigned long long>(s.fds),
               static_cast<long long>(s.spare_fds()),
               static_cast<unsigned long long>(s.connections),
               static_cast<unsigned long long>(s.round_trips),
               static_cast<unsigned long long>(s.errors), s.event.c_str());
}

std::string churn_summary(const Churn& churn, double seconds, size_t reloads) {
  const ChurnCounters& c = churn.counters();
  std::string out;
  char text[512];
  std::snprintf(text, sizeof text,
                "- churn: %llu connections in %llu sessions over %.0f s (%.0f per second), "
                "%llu round trips, %zu reloads; at most %zu sockets at once\n",
                static_cast<unsigned long long>(c.connections),
                static_cast<unsigned long long>(c.sessions_started), seconds,
                static_cast<double>(c.connections) / seconds,
                static_cast<unsigned long long>(c.round_trips), reloads, c.max_sockets);
  out += text;
  out += "- sessions:";
  for (size_t k = 0; k < 5; ++k) {
    out += std::string(k ? ", " : " ") + kind_name(static_cast<Churn::Kind>(k)) + " " +
           std::to_string(c.kinds[k]);
  }
  out += "\n- leaves:";
  for (size_t k = 0; k < 4; ++k) {
    out += std::string(k ? ", " : " ") + leave_name(static_cast<Churn::Leave>(k)) + " " +
           std::to_string(c.leaves[k]);
  }
  std::snprintf(text, sizeof text,
                " (the rest left when the run ended)\n- server reactions seen: %llu silent peers "
                "closed with 4002, %llu blocking members replaced (4004), %llu joiners told "
                "their member left, %llu members told a joiner left\n"
                "- slowest join (connect to isFirst) %.3f s, slowest round trip %.3f s\n",
                static_cast<unsigned long long>(c.heartbeat_closes),
                static_cast<unsigned long long>(c.replaced),
                static_cast<unsigned long long>(c.member_gone_notices),
                static_cast<unsigned long long>(c.joiner_gone_notices), c.max_join_seconds,
                c.max_reply_seconds);
  out += text;
  return out;
}

int run(const Args& args) {
  const auto master = static_cast<pid_t>(args.number("server-pid", 0));
  const std::string config = args.text("config");
  const std::vector<std::string> variants = split(args.text("hup-configs"));
  const std::string initial_config = read_file(config);
  const double seconds = args.seconds("seconds", 600);
  const double hup_every = args.seconds("hup-seconds", 60);
  const double sample_every = args.seconds("sample-seconds", 10);
  ChurnOptions options;
  options.port = static_cast<uint16_t>(args.number("port", 0));
  options.sessions = args.number("sessions", options.sessions);
  options.steady_pairs = args.number("steady-pairs", options.steady_pairs);
  options.start_rate = args.seconds("start-rate", options.start_rate);
  options.sources = static_cast<unsigned>(args.number("sources", options.sources));
  options.seed = args.number("seed", static_cast<uint64_t>(getpid()));
  options.tag = std::to_string(getpid());
  if (options.port == 0 || master <= 0 || config.empty() || seconds <= 0 || sample_every <= 0 ||
      hup_every <= 0) {
    std::fprintf(stderr, "sigver-soak: --port, --server-pid, --config are required\n");
    return 2;
  }
  const uint64_t fd_limit = bench::raise_open_file_limit();
  std::fprintf(stderr, "soak: %zu sessions + %zu steady pairs for %.0f s, open-file limit %llu\n",
               options.sessions, options.steady_pairs, seconds,
               static_cast<unsigned long long>(fd_limit));

  const bench::TreeCpu server_cpu0 = bench::tree_cpu(master);
  const double reaped_cpu0 = reaped_cpu_seconds(master);
  Sample before = take_sample(master);
  before.event = "before any peer";
  print_progress(before);
  Churn churn(options);
  std::vector<Sample> samples;
  std::string pending_event, problems;
  size_t reloads = 0;
  bool server_died = false;
  double next_sample = sample_every, next_hup = hup_every, next_alive_check = 1;
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };

  for (double t = 0; t < seconds && !server_died; t = elapsed()) {
    churn.tick(kTickMs);
    t = elapsed();
    if (t >= next_alive_check) {
      next_alive_check = t + 1;
      if (!bench::process_alive(master)) {
        problems += "- the master process died\n";
        server_died = true;
      }
    }
    // The sample due at the very end is the end-of-churn one, taken after the loop.
    if (t >= next_sample && next_sample < seconds - 0.5) {
      next_sample += sample_every;
      Sample s = take_sample(master);
      fill_totals(s, churn, t);
      s.event = pending_event;
      pending_event.clear();
      if (s.processes < 2) {
        problems += "- sample at " + std::to_string(static_cast<int>(t)) + " s: no worker\n";
      }
      print_progress(s);
      samples.push_back(s);
    }
    if (t >= next_hup && next_hup < seconds - 0.5 && !variants.empty()) {
      next_hup += hup_every;
      const std::string text = read_file(variants[reloads % variants.size()]);
      ++reloads;
      std::string why;
      if (!reload(master, config, text, why)) {
        problems += "- reload " + std::to_string(reloads) + ": " + why + "\n";
      }
      const std::string event = "HUP " + std::to_string(reloads) + ": heartbeat " +
                                setting(text, "heartbeat_interval") + " s, " +
                                setting(text, "worker_processes") + " workers";
      pending_event += (pending_event.empty() ? "" : "; ") + event;
      churn.note_event(event);
    }
  }
  const double churn_seconds = elapsed();
  const double server_cpu_s = (bench::tree_cpu(master).total_us() - server_cpu0.total_us()) / 1e6 +
                              reaped_cpu_seconds(master) - reaped_cpu0;
  const double own_cpu_s = own_cpu_seconds();
  Sample end = take_sample(master);
  fill_totals(end, churn, churn_seconds);
  end.event = pending_event.empty() ? "end of churn" : pending_event + "; end of churn";
  print_progress(end);
  samples.push_back(end);

  churn.begin_finish();
  const auto finish_start = Clock::now();
  while (!churn.finished() &&
         std::chrono::duration<double>(Clock::now() - finish_start).count() < kFinishBound) {
    churn.tick(kTickMs);
  }
  if (!churn.finished()) problems += "- peers still not gone 20 s after the end\n";
  // Back to the first configuration (and worker count), so the drained server can be
  // compared with the one before the load, descriptor for descriptor.
  bool restored = false;
  if (reloads > 0) {
    std::string why;
    restored = reload(master, config, initial_config, why);
    if (!restored) problems += "- restoring the first configuration: " + why + "\n";
  }
  const auto drain_start = Clock::now();
  while (std::chrono::duration<double>(Clock::now() - drain_start).count() < kDrainWait) {
    churn.tick(100);
  }
  Sample drained = take_sample(master);
  fill_totals(drained, churn, elapsed());
  drained.event = restored ? "every peer gone; HUP: first configuration again" : "every peer gone";
  print_progress(drained);
  if (drained.processes == 0) {
    problems += "- the server was gone at the end\n";
    server_died = true;
  }

  const size_t warmup = samples.size() / 3;
  const Judgement judgement = judge(samples, warmup, before, drained, Tolerance{});
  const ChurnCounters& c = churn.counters();
  const bool pass = !server_died && problems.empty() && c.errors == 0 && judgement.memory_ok &&
                    judgement.rss_ok && judgement.fds_ok && judgement.drained_ok;

  std::string report = churn_summary(churn, churn_seconds, reloads);
  char cpu[256];
  std::snprintf(cpu, sizeof cpu,
                "- CPU during the churn: server %.0f%% of one core (master and the workers alive "
                "at the end), load generator %.0f%%\n",
                100 * server_cpu_s / churn_seconds, 100 * own_cpu_s / churn_seconds);
  report += cpu;
  report += "\n" + sample_table(before, samples, drained) + "\n" + judgement.text;
  report += "- protocol: " + std::to_string(c.errors) + " errors";
  if (c.errors == 0) {
    report += " (every message arrived once, in order, intact; every close code as expected)\n";
  } else {
    report += ":";
    for (const auto& [kind, count] : churn.error_kinds()) {
      report += " " + kind + " x" + std::to_string(count) + ";";
    }
    report += "\n\n  First errors:\n";
    for (const std::string& line : churn.error_details()) report += "  - " + line + "\n";
  }
  report += problems;
  report += std::string("\nChecks of the load generator: ") + (pass ? "pass" : "**FAIL**") + "\n";

  const std::string report_path = args.text("report");
  if (!report_path.empty()) {
    std::ofstream out(report_path, std::ios::trunc);
    out << report;
  } else {
    std::fputs(report.c_str(), stdout);
  }
  std::printf(
      "soak.verdict=%s\nsoak.errors=%llu\nsoak.connections=%llu\nsoak.round_trips=%llu\n"
      "soak.reloads=%zu\n",
      pass ? "pass" : "fail", static_cast<unsigned long long>(c.errors),
      static_cast<unsigned long long>(c.connections),
      static_cast<unsigned long long>(c.round_trips), reloads + (restored ? 1 : 0));
  return pass ? 0 : 1;
}

// A TCP port free on 127.0.0.1 right now (the kernel's pick for port 0).
int print_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    std::perror("free-port");
    return 1;
  }
  std::printf("%u\n", ntohs(address.sin_port));
  ::close(fd);
  return 0;
}

}  // namespace
}  // namespace soak

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "free-port") return soak::print_free_port();
  soak::Args args;
  if (mode != "run" || !args.parse(argc, argv, 2)) {
    std::fprintf(stderr,
                 "usage: sigver-soak run --port P --server-pid PID --config FILE "
                 "--hup-configs A,B,... [--name value]...\n       sigver-soak free-port\n");
    return 2;
  }
  // A peer's socket can be reset by the server while we write to it: an error, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  return soak::run(args);
}
