#pragma once
// The master process, nginx-style: binds the listen addresses (one SO_REUSEPORT socket per
// worker), forks and supervises the workers, and turns signals into actions. It never
// touches client bytes.
#include <string>
#include <vector>

#include "core/config.h"
#include "core/worker_setup.h"

namespace sigver {

struct MasterOptions {
  Config config;            // the configuration in force at start
  std::string config_name;  // for log lines ("" = built-in defaults)
  // Loads the configuration again exactly as at start-up (file + command-line overrides),
  // for HUP. Also handed to the workers.
  std::function<bool(Config&, std::string&)> reload_config;
  WorkerMain worker_main = nullptr;  // what a forked worker runs
  // How this binary was started, for a binary upgrade (SIGUSR2): the executable's path (a
  // new version renamed over it is what starts) and the arguments after the program name.
  std::string binary;
  std::vector<std::string> args;
  bool has_config_test = false;  // `binary ARGS -t` tests the configuration (sigverd)
};

// Runs until QUIT/TERM/INT. Returns the process exit code.
int run_master(MasterOptions& options);

// `sigverd -s reload|quit|stop|reopen|upgrade`: signals the master whose pid is in config.pid.
// Returns the exit code and prints errors to stderr.
int signal_running_master(const Config& config, const std::string& signal);

}  // namespace sigver
