// `sigverd -s NAME`: the command-line side of the signals the master understands.
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "master/master.h"
#include "master/pidfile.h"
#include "master/signals.h"

namespace sigver {
namespace {

int signal_for_command(const std::string& name) {
  if (name == "reload") return SIGHUP;
  if (name == "quit") return SIGQUIT;
  if (name == "stop") return SIGTERM;
  if (name == "reopen") return SIGUSR1;
  if (name == "upgrade") return SIGUSR2;
  return 0;
}

}  // namespace

int signal_running_master(const Config& config, const std::string& signal) {
  int signo = signal_for_command(signal);
  if (signo == 0) {
    std::fprintf(
        stderr, "sigverd: unknown signal \"%s\" (expected reload, quit, stop, reopen or upgrade)\n",
        signal.c_str());
    return 1;
  }
  if (config.pid.empty()) {
    std::fprintf(stderr, "sigverd: no pid file configured (set \"pid\" in [server])\n");
    return 1;
  }
  pid_t pid = 0;
  std::string error;
  if (!read_pid_file(config.pid, pid, error)) {
    std::fprintf(stderr, "sigverd: %s\n", error.c_str());
    return 1;
  }
  if (::kill(pid, signo) != 0) {
    std::fprintf(stderr, "sigverd: kill(%d, %s) failed: %s\n", static_cast<int>(pid),
                 signal_name(signo).c_str(), std::strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace sigver
