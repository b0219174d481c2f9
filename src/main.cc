// Entry point of both binaries: `sigverd` (nginx-like: -c FILE, -t, -s SIGNAL) and `sigver`
// (the seed's command line), chosen at compile time by SIGVER_SEED_CLI. The only file that
// sees both the master and the worker.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/log.h"
#include "core/tls_context.h"
#include "master/cli.h"
#include "master/master.h"
#include "worker/worker.h"

namespace {

#ifdef SIGVER_SEED_CLI
constexpr const char* kProgram = "sigver";
sigver::CliResult parse_args(int argc, char** argv) {
  return sigver::parse_sigver_args(argc, argv);
}
#else
constexpr const char* kProgram = "sigverd";
sigver::CliResult parse_args(int argc, char** argv) {
  return sigver::parse_sigverd_args(argc, argv);
}
#endif

// `-t` also loads the certificate and key, as the master would at start-up.
bool check_tls(const sigver::Config& config, std::string& error) {
  sigver::TlsMaterial material;
  return !sigver::tls_enabled(config) || sigver::check_tls_files(config, material, error);
}

bool setup_logging(const sigver::Config& config, std::string& error) {
  sigver::log::Level level;
  if (!sigver::log::parse_level(config.log_level, level)) {
    error = "invalid log_level \"" + config.log_level + "\"";
    return false;
  }
  sigver::log::set_level(level);
  return sigver::log::open(config.error_log, error);
}

}  // namespace

int main(int argc, char** argv) {
  using Action = sigver::CliResult::Action;
  sigver::CliResult cli = parse_args(argc, argv);
  std::string error;
  switch (cli.action) {
    case Action::kHelp:
    case Action::kVersion:
      std::fputs(cli.message.c_str(), stdout);
      if (!cli.message.empty() && cli.message.back() != '\n') std::fputc('\n', stdout);
      return 0;
    case Action::kError:
      std::fprintf(stderr, "%s\n", cli.message.c_str());
      return 1;
    case Action::kSignal:
      return sigver::signal_running_master(cli.config, cli.signal);
    case Action::kTestConfig: {
      const std::string name =
          cli.config.source.empty() ? "(built-in defaults)" : cli.config.source;
      if (!check_tls(cli.config, error)) {
        std::fprintf(stderr, "%s: %s\n%s: configuration file %s test failed\n", kProgram,
                     error.c_str(), kProgram, name.c_str());
        return 1;
      }
      std::printf(
          "%s: the configuration file %s syntax is ok\n"
          "%s: configuration file %s test is successful\n",
          kProgram, name.c_str(), kProgram, name.c_str());
      return 0;
    }
    case Action::kRun:
      break;
  }
  if (!setup_logging(cli.config, error)) {
    std::fprintf(stderr, "%s: %s\n", kProgram, error.c_str());
    return 1;
  }
  sigver::MasterOptions options;
  options.config = cli.config;
  options.config_name = cli.config.source;
  // Reload = parse the same command line again: the file is re-read, overrides re-applied.
  options.reload_config = [argc, argv](sigver::Config& config, std::string& err) {
    sigver::CliResult again = parse_args(argc, argv);
    if (again.action == Action::kError) {
      err = again.message;
      return false;
    }
    config = again.config;
    return true;
  };
  options.worker_main = sigver::run_worker;
  // Resolved now: a new version installed later is renamed over this path.
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) options.binary.assign(self, static_cast<size_t>(n));
  for (int i = 1; i < argc; ++i) options.args.emplace_back(argv[i]);
#ifndef SIGVER_SEED_CLI
  options.has_config_test = true;
#endif
  return sigver::run_master(options);
}
