#include "master/signals.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sigver {

sigset_t master_signal_set() {
  sigset_t set;
  sigemptyset(&set);
  for (int signo : {SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGCHLD})
    sigaddset(&set, signo);
  return set;
}

bool block_signals(const sigset_t& set, sigset_t& previous, std::string& error) {
  if (::sigprocmask(SIG_BLOCK, &set, &previous) != 0) {
    error = std::string("sigprocmask() failed: ") + std::strerror(errno);
    return false;
  }
  return true;
}

UniqueFd open_signalfd(const sigset_t& set, std::string& error) {
  UniqueFd fd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd) error = std::string("signalfd() failed: ") + std::strerror(errno);
  return fd;
}

int read_signal(int signal_fd) {
  signalfd_siginfo info;
  ssize_t n;
  do {
    n = ::read(signal_fd, &info, sizeof info);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof info)) return 0;
  return static_cast<int>(info.ssi_signo);
}

std::string signal_name(int signo) {
  const char* abbrev = ::sigabbrev_np(signo);
  if (abbrev == nullptr) return "signal " + std::to_string(signo);
  return std::string("SIG") + abbrev;
}

}  // namespace sigver
