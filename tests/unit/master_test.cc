// The master as a process: run_master is forked with a test WorkerMain that reports what it
// sees (start, signals, connections, handoff messages) as lines in an events file.
#include "master/master.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "master/pidfile.h"

namespace sigver {
namespace {

using namespace std::chrono_literals;

// What the test worker reads: set before forking the master, inherited by every process.
struct WorkerScript {
  std::string events_path;
  int fatal_index = -1;  // this worker returns the fatal code at once (-2: all of them)
};
WorkerScript g_script;

void append_line(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  std::string text = line + "\n";
  ssize_t n = ::write(fd, text.data(), text.size());  // one write: lines never interleave
  (void)n;
  ::close(fd);
}

void event(const WorkerSetup& setup, const std::string& what) {
  append_line(g_script.events_path, what + " " + std::to_string(setup.index));
}

bool handled_signals_blocked() {
  sigset_t mask;
  ::sigprocmask(SIG_BLOCK, nullptr, &mask);
  for (int signo : {SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1}) {
    if (!sigismember(&mask, signo)) return false;
  }
  return true;
}

int test_worker_main(WorkerSetup& setup) {
  std::ostringstream start;
  start << "start " << setup.index << " pid=" << ::getpid() << " count=" << setup.count
        << " listeners=" << setup.listeners.size() << " outboxes=" << setup.outboxes.size()
        << " inbox=" << (setup.inbox >= 0 ? "yes" : "no") << " uid=" << ::getuid()
        << " blocked=" << (handled_signals_blocked() ? "yes" : "no");
  append_line(g_script.events_path, start.str());
  if (g_script.fatal_index == -2 || g_script.fatal_index == setup.index) return 2;

  // The worker's own signalfd, built from the mask it inherited.
  sigset_t mask;
  ::sigprocmask(SIG_BLOCK, nullptr, &mask);
  int signal_fd = ::signalfd(-1, &mask, SFD_CLOEXEC);
  for (int i = 0; i < setup.count; ++i) {
    if (i == setup.index) continue;
    std::string hello = "hello-from-" + std::to_string(setup.index);
    ::send(setup.outboxes[static_cast<size_t>(i)], hello.data(), hello.size(), MSG_NOSIGNAL);
  }
  pollfd fds[3] = {
      {signal_fd, POLLIN, 0}, {setup.listeners[0], POLLIN, 0}, {setup.inbox, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 3, -1) < 0) continue;
    if (fds[1].revents & POLLIN) {
      int client = ::accept4(setup.listeners[0], nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) {
        std::string greeting = "worker " + std::to_string(setup.index) + "\n";
        ssize_t n = ::send(client, greeting.data(), greeting.size(), MSG_NOSIGNAL);
        (void)n;
        ::close(client);
        event(setup, "accept");
      }
    }
    if (fds[2].revents & POLLIN) {
      char message[64];
      ssize_t n = ::recv(setup.inbox, message, sizeof message, 0);
      if (n > 0) event(setup, "inbox " + std::string(message, static_cast<size_t>(n)));
    }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      if (::read(signal_fd, &info, sizeof info) != sizeof info) continue;
      switch (info.ssi_signo) {
        case SIGHUP: {
          Config fresh;
          std::string error;
          bool ok = setup.reload_config && setup.reload_config(fresh, error);
          event(setup, ok ? "hup-ok" : "hup-failed");
          break;
        }
        case SIGUSR1:
          event(setup, "usr1");
          break;
        case SIGQUIT:
          event(setup, "quit");
          return 0;
        case SIGTERM:
        case SIGINT:
          event(setup, "term");
          return 0;
        default:
          break;
      }
    }
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines_starting(const std::string& path, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return condition();
}

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Connects to 127.0.0.1:port and returns what the worker said ("worker N").
std::string greeting_from(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string text;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    char buffer[64];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) text.assign(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

std::string field(const std::string& line, const std::string& name) {
  size_t at = line.find(" " + name + "=");
  if (at == std::string::npos) return "";
  size_t begin = at + name.size() + 2;
  return line.substr(begin, line.find(' ', begin) - begin);
}

class MasterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("sigver_master_test_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    events = (dir / "events").string();
    log_path = (dir / "error.log").string();
    conf_path = (dir / "sigver.conf").string();
    g_script = WorkerScript{events, -1};
    port = free_port();
    config.listen.host = "127.0.0.1";
    config.listen.port = port;
    config.worker_processes = 2;
    config.error_log = log_path;
    write_config(2);
  }

  void TearDown() override {
    if (master > 0) {
      ::kill(master, SIGTERM);  // lets the workers finish writing before the files go
      if (wait_master_exit(5s) == -1 && master > 0) {
        ::kill(master, SIGKILL);
        ::waitpid(master, nullptr, 0);
      }
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  void write_config(int workers, const std::string& extra = "") {
    std::ofstream out(conf_path, std::ios::trunc);
    out << "[server]\nlisten = 127.0.0.1:" << port << "\nworker_processes = " << workers << "\n"
        << extra << "[log]\nerror_log = " << log_path << "\n";
  }

  void start_master() {
    std::string conf = conf_path;
    master = ::fork();
    ASSERT_GE(master, 0);
    if (master == 0) {
      MasterOptions options;
      options.config = config;
      options.config_name = conf;
      options.reload_config = [conf](Config& out, std::string& error) {
        return load_config_file(conf, out, error);
      };
      options.worker_main = test_worker_main;
      ::_exit(run_master(options));
    }
  }

  std::vector<std::string> starts() { return lines_starting(events, "start "); }
  std::vector<std::string> starts_of(int index) {
    return lines_starting(events, "start " + std::to_string(index) + " ");
  }
  bool wait_for_starts(size_t count) {
    return wait_until([&] { return starts().size() >= count; });
  }
  bool log_contains(const std::string& text) {
    return read_file(log_path).find(text) != std::string::npos;
  }
  bool wait_for_log(const std::string& text) {
    return wait_until([&] { return log_contains(text); });
  }
  bool wait_for_events(const std::string& prefix, size_t count) {
    return wait_until([&] { return lines_starting(events, prefix).size() >= count; });
  }

  // Waits for the master to exit; returns its exit code, or -1 (killed, or still running
  // after the limit: then it is killed).
  int wait_master_exit(std::chrono::milliseconds limit = 15s) {
    int status = 0;
    bool exited = wait_until([&] { return ::waitpid(master, &status, WNOHANG) == master; }, limit);
    if (!exited) return -1;
    master = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::vector<pid_t> worker_pids() {
    std::vector<pid_t> pids;
    for (const std::string& line : starts()) pids.push_back(std::stoi(field(line, "pid")));
    return pids;
  }
  bool none_alive(const std::vector<pid_t>& pids) {
    for (pid_t pid : pids) {
      if (process_exists(pid)) return false;
    }
    return true;
  }

  std::filesystem::path dir;
  std::string events, log_path, conf_path;
  uint16_t port = 0;
  Config config;
  pid_t master = 0;
};

TEST_F(MasterTest, StartsWorkersThatAcceptAndShareHandoffQueues) {
  config.worker_processes = 3;
  start_master();
  ASSERT_TRUE(wait_for_starts(3));
  std::set<std::string> indexes;
  for (const std::string& line : starts()) {
    indexes.insert(line.substr(6, 1));
    EXPECT_EQ(field(line, "count"), "3") << line;
    EXPECT_EQ(field(line, "listeners"), "1") << line;
    EXPECT_EQ(field(line, "outboxes"), "3") << line;
    EXPECT_EQ(field(line, "inbox"), "yes") << line;
    EXPECT_EQ(field(line, "blocked"), "yes") << line;
  }
  EXPECT_EQ(indexes, (std::set<std::string>{"0", "1", "2"}));
  EXPECT_TRUE(
      wait_for_log("master started, 3 workers, listening on 127.0.0.1:" + std::to_string(port)));
  // Every worker heard from the two others through its own inbox.
  ASSERT_TRUE(wait_for_events("inbox ", 6));
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      if (i == j) continue;
      std::string line = "inbox hello-from-" + std::to_string(j) + " " + std::to_string(i);
      EXPECT_EQ(lines_starting(events, line).size(), 1u) << line;
    }
  }
  for (int i = 0; i < 6; ++i) EXPECT_EQ(greeting_from(port).rfind("worker ", 0), 0u);
  EXPECT_TRUE(wait_for_events("accept ", 6));
}

TEST_F(MasterTest, QuitStopsWorkersGracefullyAndLeavesNoProcess) {
  start_master();
  ASSERT_TRUE(wait_for_starts(2));
  std::vector<pid_t> pids = worker_pids();
  ::kill(master, SIGQUIT);
  EXPECT_EQ(wait_master_exit(), 0);
  EXPECT_EQ(lines_starting(events, "quit ").size(), 2u);
  EXPECT_TRUE(none_alive(pids));
  EXPECT_EQ(starts().size(), 2u);  // nothing was respawned during the stop
}

TEST_F(MasterTest, TermStopsWorkersFast) {
  start_master();
  ASSERT_TRUE(wait_for_starts(2));
  std::vector<pid_t> pids = worker_pids();
  ::kill(master, SIGTERM);
  EXPECT_EQ(wait_master_exit(), 0);
  EXPECT_EQ(lines_starting(events, "term ").size(), 2u);
  EXPECT_TRUE(none_alive(pids));
}

TEST_F(MasterTest, KilledWorkerIsRespawnedAndOthersAreUntouched) {
  start_master();
  ASSERT_TRUE(wait_for_starts(2));
  pid_t victim = std::stoi(field(starts_of(0)[0], "pid"));
  pid_t survivor = std::stoi(field(starts_of(1)[0], "pid"));
  ::kill(victim, SIGKILL);
  ASSERT_TRUE(wait_until([&] { return starts_of(0).size() == 2; }));
  pid_t replacement = std::stoi(field(starts_of(0)[1], "pid"));
  EXPECT_NE(replacement, victim);
  EXPECT_TRUE(process_exists(survivor));
  EXPECT_EQ(starts_of(1).size(), 1u);
  EXPECT_TRUE(wait_for_log("worker 0 (pid " + std::to_string(victim) +
                           ") was killed by SIGKILL unexpectedly"));
  // The replacement works: it gets its own queue and still listens.
  EXPECT_TRUE(
      wait_until([&] { return lines_starting(events, "inbox hello-from-0 1").size() == 2; }));
  ::kill(master, SIGQUIT);
  EXPECT_EQ(wait_master_exit(), 0);
}

TEST_F(MasterTest, ReloadWithBrokenConfigKeepsEverythingRunning) {
  start_master();
  ASSERT_TRUE(wait_for_starts(2));
  std::vector<pid_t> pids = worker_pids();
  {
    std::ofstream out(conf_path, std::ios::trunc);
    out << "[server]\nworker_processes = many\n";
  }
  ::kill(master, SIGHUP);
  ASSERT_TRUE(wait_for_log("reload failed: "));
  EXPECT_TRUE(log_contains("keeping the old configuration"));
  EXPECT_TRUE(log_contains("[error]"));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(::waitpid(master, nullptr, WNOHANG), 0);  // still running
  EXPECT_TRUE(lines_starting(events, "hup").empty());
  for (pid_t pid : pids) EXPECT_TRUE(process_exists(pid));
  EXPECT_EQ(greeting_from(port).rfind("worker ", 0), 0u);

  // A good file afterwards reloads normally: every worker gets SIGHUP and reloads it too.
  write_config(2);
  ::kill(master, SIGHUP);
  ASSERT_TRUE(wait_for_events("hup-ok ", 2));
  EXPECT_TRUE(log_contains("configuration reloaded"));
  EXPECT_EQ(worker_pids(), pids);
}

TEST_F(MasterTest, ReloadWithMoreWorkersStartsThemWithoutRestartingTheOthers) {
  start_master();
  ASSERT_TRUE(wait_for_starts(2));
  std::vector<pid_t> before = worker_pids();
  write_config(4);
  ::kill(master, SIGHUP);
  ASSERT_TRUE(wait_for_starts(4));
  EXPECT_TRUE(wait_for_log("worker count 2 -> 4"));
  for (pid_t pid : before) EXPECT_TRUE(process_exists(pid));
}

TEST_F(MasterTest, Usr1ReopensTheLogAndTellsWorkers) {
  start_master();
  ASSERT_TRUE(wait_for_starts(2));
  ASSERT_TRUE(wait_for_log("master started"));
  std::filesystem::rename(log_path, log_path + ".1");
  ::kill(master, SIGUSR1);
  ASSERT_TRUE(wait_for_events("usr1 ", 2));
  EXPECT_TRUE(wait_for_log("log reopened"));
}

TEST_F(MasterTest, PidFileIsWrittenUsedBySignalCommandAndRemoved) {
  config.pid = (dir / "sigverd.pid").string();
  start_master();
  ASSERT_TRUE(wait_for_starts(2));
  pid_t written = 0;
  std::string error;
  ASSERT_TRUE(read_pid_file(config.pid, written, error)) << error;
  EXPECT_EQ(written, master);
  EXPECT_EQ(signal_running_master(config, "reload"), 0);
  EXPECT_TRUE(wait_for_events("hup-ok ", 2));
  EXPECT_EQ(signal_running_master(config, "reopen"), 0);
  EXPECT_TRUE(wait_for_events("usr1 ", 2));
  EXPECT_EQ(signal_running_master(config, "quit"), 0);
  EXPECT_EQ(wait_master_exit(), 0);
  EXPECT_EQ(lines_starting(events, "quit ").size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(config.pid));
}

TEST_F(MasterTest, StopCommandSendsTerm) {
  config.pid = (dir / "sigverd.pid").string();
  start_master();
  ASSERT_TRUE(wait_for_starts(2));
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(config.pid); }));
  EXPECT_EQ(signal_running_master(config, "stop"), 0);
  EXPECT_EQ(wait_master_exit(), 0);
  EXPECT_EQ(lines_starting(events, "term ").size(), 2u);
}

TEST_F(MasterTest, RefusesToStartWhenPidFileNamesALiveProcess) {
  config.pid = (dir / "sigverd.pid").string();
  append_line(config.pid, std::to_string(::getpid()));  // this test process is alive
  start_master();
  EXPECT_EQ(wait_master_exit(), 1);
  EXPECT_TRUE(log_contains("already running"));
  EXPECT_TRUE(starts().empty());
  pid_t kept = 0;
  std::string error;
  ASSERT_TRUE(read_pid_file(config.pid, kept, error));
  EXPECT_EQ(kept, ::getpid());
}

TEST_F(MasterTest, StalePidFileIsReplaced) {
  config.pid = (dir / "sigverd.pid").string();
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  append_line(config.pid, std::to_string(dead));
  start_master();
  ASSERT_TRUE(wait_for_starts(2));
  pid_t written = 0;
  std::string error;
  ASSERT_TRUE(
      wait_until([&] { return read_pid_file(config.pid, written, error) && written == master; }));
  ::kill(master, SIGQUIT);
  EXPECT_EQ(wait_master_exit(), 0);
}

TEST_F(MasterTest, BindFailureIsFatalAndNamesTheAddress) {
  // A socket without SO_REUSEPORT keeps everyone else off the port.
  int blocker = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(blocker, 1), 0);
  start_master();
  EXPECT_EQ(wait_master_exit(), 1);
  ::close(blocker);
  EXPECT_TRUE(log_contains("bind() for 127.0.0.1:" + std::to_string(port) +
                           " failed: Address already in use"));
  EXPECT_TRUE(starts().empty());
}

TEST_F(MasterTest, ListensOnIpv6Literal) {
  int probe = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  bool have_v6 = ::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(probe);
  if (!have_v6) GTEST_SKIP() << "no IPv6 loopback";
  config.listen.host = "::1";
  start_master();
  ASSERT_TRUE(wait_for_starts(2));
  EXPECT_TRUE(wait_for_log("listening on [::1]:" + std::to_string(port)));
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr.sin6_port = htons(port);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  char buffer[16];
  EXPECT_GT(::recv(fd, buffer, sizeof buffer, 0), 0);
  ::close(fd);
}

TEST_F(MasterTest, MissingUserIsAStartUpError) {
  if (::geteuid() != 0) GTEST_SKIP() << "user is only used when running as root";
  config.user = "no-such-user-sigver";
  start_master();
  EXPECT_EQ(wait_master_exit(), 1);
  EXPECT_TRUE(log_contains("user \"no-such-user-sigver\" not found"));
  EXPECT_TRUE(starts().empty());
}

TEST_F(MasterTest, WorkersDropPrivilegesToTheConfiguredUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  config.user = "nobody";
  // The workers, no longer root, must still be able to append to the events file.
  append_line(events, "created");
  std::filesystem::permissions(dir, std::filesystem::perms::all);
  std::filesystem::permissions(events, std::filesystem::perms::all);
  start_master();
  ASSERT_TRUE(wait_for_starts(2));
  for (const std::string& line : starts()) EXPECT_EQ(field(line, "uid"), "65534") << line;
  // A credential change clears the parent-death signal; it must still be set afterwards.
  std::vector<pid_t> pids = worker_pids();
  ::kill(master, SIGKILL);
  ::waitpid(master, nullptr, 0);
  master = 0;
  EXPECT_TRUE(wait_until([&] { return none_alive(pids); }));
}

TEST_F(MasterTest, FatalExitCodeIsNotRespawned) {
  g_script.fatal_index = 1;
  start_master();
  ASSERT_TRUE(wait_for_log("(fatal), not restarting it"));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(starts_of(1).size(), 1u);
  EXPECT_EQ(starts_of(0).size(), 1u);
  EXPECT_EQ(::waitpid(master, nullptr, WNOHANG), 0);  // still serving with worker 0
  ::kill(master, SIGQUIT);
  EXPECT_EQ(wait_master_exit(), 0);
}

TEST_F(MasterTest, MasterExitsWhenEveryWorkerIsFatal) {
  g_script.fatal_index = -2;
  start_master();
  EXPECT_EQ(wait_master_exit(), 1);
  EXPECT_EQ(starts().size(), 2u);
}

TEST_F(MasterTest, WorkersDieWithAKilledMaster) {
  start_master();
  ASSERT_TRUE(wait_for_starts(2));
  std::vector<pid_t> pids = worker_pids();
  ::kill(master, SIGKILL);
  ::waitpid(master, nullptr, 0);
  master = 0;
  // PR_SET_PDEATHSIG turns the master's death into SIGTERM for each worker.
  EXPECT_TRUE(wait_for_events("term ", 2));
  EXPECT_TRUE(wait_until([&] { return none_alive(pids); }));
}

TEST_F(MasterTest, DaemonReportsReadyThenRunsInTheBackground) {
  // Become the reaper of the orphaned daemon so we can wait for it like a child.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  config.daemon = true;
  config.pid = (dir / "sigverd.pid").string();
  start_master();
  // The started process returns once the daemon has written its pid file.
  EXPECT_EQ(wait_master_exit(), 0);
  pid_t daemon = 0;
  std::string error;
  ASSERT_TRUE(read_pid_file(config.pid, daemon, error)) << error;
  EXPECT_TRUE(process_exists(daemon));
  ASSERT_TRUE(wait_for_starts(2));
  EXPECT_EQ(greeting_from(port).rfind("worker ", 0), 0u);
  EXPECT_EQ(::getsid(daemon) == ::getsid(0), false);  // its own session
  ::kill(daemon, SIGQUIT);
  int status = 0;
  ASSERT_TRUE(wait_until([&] { return ::waitpid(daemon, &status, WNOHANG) == daemon; }, 15s));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(std::filesystem::exists(config.pid));
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_F(MasterTest, DaemonStartFailureIsReportedToTheStartingProcess) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  config.daemon = true;
  config.pid = (dir / "no-such-dir" / "sigverd.pid").string();
  start_master();
  EXPECT_EQ(wait_master_exit(), 1);
  EXPECT_TRUE(wait_for_log("cannot create pid file"));
  // Reap the daemon that gave up.
  wait_until([&] { return ::waitpid(-1, nullptr, WNOHANG) < 0; }, 2s);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  EXPECT_TRUE(starts().empty());
}

TEST(SignalCommandTest, ReportsMissingPidSettingFileAndBadContent) {
  Config config;
  EXPECT_EQ(signal_running_master(config, "reload"), 1);  // no pid configured
  std::string dir =
      std::filesystem::temp_directory_path() / ("sigver_signal_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  config.pid = dir + "/missing.pid";
  EXPECT_EQ(signal_running_master(config, "reload"), 1);
  config.pid = dir + "/bad.pid";
  append_line(config.pid, "not-a-pid");
  EXPECT_EQ(signal_running_master(config, "reload"), 1);
  EXPECT_EQ(signal_running_master(config, "explode"), 1);
  std::filesystem::remove_all(dir);
}

TEST(SignalCommandTest, SendsTheMappedSignal) {
  pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  std::string path = std::filesystem::temp_directory_path() /
                     ("sigver_signal_cmd_" + std::to_string(::getpid()) + ".pid");
  std::filesystem::remove(path);
  append_line(path, std::to_string(child));
  Config config;
  config.pid = path;
  EXPECT_EQ(signal_running_master(config, "stop"), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace sigver
