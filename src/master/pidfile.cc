#include "master/pidfile.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "core/unique_fd.h"

namespace sigver {

bool read_pid_file(const std::string& path, pid_t& pid, std::string& error) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    error = "cannot open pid file \"" + path + "\": " + std::strerror(errno);
    return false;
  }
  char text[32];
  ssize_t n = ::read(fd.get(), text, sizeof text - 1);
  if (n < 0) {
    error = "cannot read pid file \"" + path + "\": " + std::strerror(errno);
    return false;
  }
  long value = 0;
  ssize_t i = 0;
  for (; i < n && text[i] >= '0' && text[i] <= '9'; ++i) {
    value = value * 10 + (text[i] - '0');
    if (value > INT_MAX) break;
  }
  bool only_space_after = true;
  for (ssize_t j = i; j < n; ++j) {
    if (text[j] != '\n' && text[j] != ' ' && text[j] != '\r') only_space_after = false;
  }
  if (i == 0 || value <= 0 || value > INT_MAX || !only_space_after) {
    error = "invalid pid file \"" + path + "\": expected a process id";
    return false;
  }
  pid = static_cast<pid_t>(value);
  return true;
}

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

bool PidFile::check_not_running(const std::string& path, std::string& error) {
  pid_t pid = 0;
  std::string ignored;
  if (::access(path.c_str(), F_OK) != 0) return true;
  // An unreadable or garbled file is stale: there is no process to protect.
  if (!read_pid_file(path, pid, ignored)) return true;
  // Our own pid: a supervisor (start-stop-daemon --make-pidfile) wrote it for us.
  if (pid == ::getpid() || !process_exists(pid)) return true;
  error = "pid file \"" + path + "\" names a running process " + std::to_string(pid) +
          ": is sigverd already running?";
  return false;
}

bool PidFile::write(const std::string& path, std::string& error) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) {
    error = "cannot create pid file \"" + path + "\": " + std::strerror(errno);
    return false;
  }
  std::string text = std::to_string(::getpid()) + "\n";
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    error = "cannot write pid file \"" + path + "\": " + std::strerror(errno);
    ::unlink(path.c_str());
    return false;
  }
  path_ = path;
  owner_ = ::getpid();
  return true;
}

void PidFile::remove() {
  if (path_.empty() || owner_ != ::getpid()) return;
  // Only our own file: a successor may already have replaced it.
  pid_t pid = 0;
  std::string ignored;
  if (read_pid_file(path_, pid, ignored) && pid == owner_) ::unlink(path_.c_str());
  path_.clear();
}

}  // namespace sigver
