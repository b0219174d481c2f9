#include "support/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/unique_fd.h"

namespace sigver::itest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kStartBound = std::chrono::seconds(10);
constexpr int kStartAttempts = 3;  // another process may grab the port between probe and bind

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

std::string describe_status(int status) {
  if (status < 0) return "not exited";
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

UniqueFd connect_loopback(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fd.reset();
  return fd;
}

uint16_t find_free_port() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 0;
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

std::string read_file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

ServerProcess::ServerProcess(std::string binary, ServerConfig config) {
  char pattern[] = "/tmp/sigver-itest-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) {
    failure_ = std::string("mkdtemp: ") + std::strerror(errno);
    return;
  }
  dir_ = pattern;
  config_path_ = dir_ + "/sigverd.conf";
  log_path_ = dir_ + "/error.log";
  output_path_ = dir_ + "/output.txt";
  for (int attempt = 0; attempt < kStartAttempts && !ready_; ++attempt) {
    if (attempt > 0) stop();
    ready_ = start_once(binary, config);
  }
}

ServerProcess::~ServerProcess() {
  stop();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

bool ServerProcess::start_once(const std::string& binary, const ServerConfig& config) {
  port_ = find_free_port();
  if (port_ == 0) {
    failure_ = "could not find a free port";
    return false;
  }
  const std::string port_text = std::to_string(port_);
  std::ostringstream ini;
  if (!config.error_log.empty()) log_path_ = config.error_log;
  ini << "[server]\nlisten = " << config.listen_address << ":" << port_text << "\n";
  for (const auto& line : config.server) ini << line << "\n";
  ini << "\n[protocol]\n";
  for (const auto& line : config.protocol) ini << line << "\n";
  ini << "\n[limits]\n";
  for (const char* off : {"max_connections_per_ip", "max_messages_per_second"}) {
    const bool set = std::any_of(config.limits.begin(), config.limits.end(),
                                 [&](const std::string& line) { return line.starts_with(off); });
    if (!set) ini << off << " = 0\n";
  }
  for (const auto& line : config.limits) ini << line << "\n";
  ini << "\n[log]\nlog_level = debug\nerror_log = " << log_path_ << "\n";
  for (const auto& line : config.log) ini << line << "\n";
  config_text_ = ini.str();
  if (!write_file(config_path_, config_text_)) {
    failure_ = "cannot write " + config_path_;
    return false;
  }

  std::vector<std::string> args{binary};
  if (config.args.empty()) {
    args.insert(args.end(), {"-c", config_path_});
  } else {
    for (const auto& arg : config.args) args.push_back(replace_all(arg, "{port}", port_text));
  }
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  if (::access(binary.c_str(), X_OK) != 0) {
    failure_ = "cannot execute " + binary + ": " + std::strerror(errno);
    return false;
  }
  // Prepared before fork: between fork and exec only async-signal-safe calls are allowed.
  const int output_fd =
      ::open(output_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (output_fd < 0 || null_fd < 0) {
    failure_ = "cannot open " + output_path_ + " or /dev/null";
    if (output_fd >= 0) ::close(output_fd);
    if (null_fd >= 0) ::close(null_fd);
    return false;
  }
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child == 0) {
    // If the test process dies without running destructors (crash, gdb), the server must
    // not outlive it.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);
    // Its own process group, so a server that ignores SIGTERM can be killed together with
    // the workers it forked, without touching anything else.
    ::setpgid(0, 0);
    sigset_t empty_mask;
    sigemptyset(&empty_mask);
    ::sigprocmask(SIG_SETMASK, &empty_mask, nullptr);
    if (config.open_files > 0) {
      const rlimit files{static_cast<rlim_t>(config.open_files),
                         static_cast<rlim_t>(config.open_files)};
      if (::setrlimit(RLIMIT_NOFILE, &files) != 0) ::_exit(126);
    }
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(output_fd, STDOUT_FILENO);
    ::dup2(output_fd, STDERR_FILENO);
    ::execv(binary.c_str(), argv.data());
    const char message[] = "exec of the server binary failed\n";
    [[maybe_unused]] const ssize_t ignored = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
  }
  ::close(output_fd);
  ::close(null_fd);
  if (child < 0) {
    failure_ = std::string("fork: ") + std::strerror(errno);
    return false;
  }
  pid_ = child;
  exit_status_ = -1;
  return wait_until_accepting(kStartBound);
}

bool ServerProcess::wait_until_accepting(std::chrono::milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  while (Clock::now() < deadline) {
    if (!running()) {
      failure_ = "server " + describe_status(exit_status_) + " before accepting connections";
      return false;
    }
    if (connect_loopback(port_)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  failure_ = "server did not accept a connection on port " + std::to_string(port_) + " within " +
             std::to_string(bound.count()) + " ms";
  return false;
}

bool ServerProcess::running() {
  if (pid_ < 0) return false;
  int status = 0;
  const pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == pid_) {
    exit_status_ = status;
    pid_ = -1;
    return false;
  }
  return done == 0;
}

bool ServerProcess::send_signal(int signal) { return running() && ::kill(pid_, signal) == 0; }

int ServerProcess::wait_exit(std::chrono::milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  while (running()) {
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_status_;
}

int ServerProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ < 0) return exit_status_;
  const pid_t child = pid_;
  send_signal(SIGTERM);
  if (wait_exit(grace) != -1 || pid_ < 0) return exit_status_;
  ::kill(-child, SIGKILL);  // the child's own process group: it and the workers it forked
  int status = 0;
  if (::waitpid(child, &status, 0) == child) exit_status_ = status;
  pid_ = -1;
  return exit_status_;
}

std::string ServerProcess::log_text() const { return read_file_text(log_path_); }

std::string ServerProcess::output_text() const { return read_file_text(output_path_); }

std::string ServerProcess::diagnostics() const {
  std::string text;
  if (!failure_.empty()) text += failure_ + "\n";
  text += "--- config ---\n" + config_text_;
  // The tail is usually what explains a failure; SIGVER_ITEST_LOG_BYTES asks for more.
  size_t limit = 4000;
  if (const char* wanted = std::getenv("SIGVER_ITEST_LOG_BYTES"))
    limit = std::strtoul(wanted, nullptr, 10);
  const std::string log = log_text();
  text += "--- error log (last " + std::to_string(limit) + " bytes) ---\n";
  text += log.size() > limit ? log.substr(log.size() - limit) : log;
  text += "--- stdout/stderr ---\n" + output_text();
  return text;
}

}  // namespace sigver::itest
