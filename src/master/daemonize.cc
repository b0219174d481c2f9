#include "master/daemonize.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sigver {
namespace {

void redirect_to_dev_null(int target) {
  int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  ::dup2(fd, target);  // dup2 clears CLOEXEC on the target
  ::close(fd);
}

}  // namespace

Daemonizer::Role Daemonizer::start(int& exit_code, std::string& error) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    error = std::string("pipe2() failed: ") + std::strerror(errno);
    return Role::kError;
  }
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  pid_t first = ::fork();
  if (first < 0) {
    error = std::string("fork() failed: ") + std::strerror(errno);
    return Role::kError;
  }
  if (first > 0) {
    write_end.reset();
    int status = 0;
    while (::waitpid(first, &status, 0) < 0 && errno == EINTR) {
    }
    char report = 0;
    ssize_t n;
    do {
      n = ::read(read_end.get(), &report, 1);
    } while (n < 0 && errno == EINTR);
    // No byte means the daemon died before reporting: that is a failed start.
    exit_code = (n == 1 && report == 'R') ? 0 : 1;
    return Role::kOriginal;
  }
  // First child: a new session without a controlling terminal, then fork again so the
  // daemon is not a session leader and can never acquire a terminal.
  read_end.reset();
  if (::setsid() < 0) ::_exit(1);
  pid_t second = ::fork();
  if (second < 0) ::_exit(1);
  if (second > 0) ::_exit(0);
  ::umask(022);
  // No chdir("/"): relative paths (config file for reload, logs, pid file) must keep
  // meaning what they meant at start.
  redirect_to_dev_null(STDIN_FILENO);
  redirect_to_dev_null(STDOUT_FILENO);
  report_ = std::move(write_end);
  return Role::kDaemon;
}

void Daemonizer::report(char status) {
  if (!report_) return;
  ssize_t n;
  do {
    n = ::write(report_.get(), &status, 1);
  } while (n < 0 && errno == EINTR);
  report_.reset();
}

void Daemonizer::report_ready() {
  if (!report_) return;
  report('R');
  redirect_to_dev_null(STDERR_FILENO);
}

void Daemonizer::report_failure() { report('F'); }

}  // namespace sigver
