#pragma once
// Command lines of the two binaries:
//  sigverd [-c FILE] [--host IP] [-p|--port N] [-t] [-s reload|quit|stop|reopen] [-V] [--help]
//  sigver  [-h|--host IP] [-p|--port N] [-k|--key FILE] [-c|--cert FILE] [-a|--ca FILE]
//          [-V|--version] [--help]            (the seed's CLI, defaults 0.0.0.0:8000)
// Command-line options override the config file.
#include <string>

#include "core/config.h"

namespace sigver {

struct CliResult {
  enum class Action { kRun, kTestConfig, kSignal, kVersion, kHelp, kError };
  Action action = Action::kRun;
  Config config;        // with kRun/kTestConfig/kSignal: file loaded, overrides applied
  std::string signal;   // with kSignal: reload | quit | stop | reopen
  std::string message;  // with kHelp/kVersion: text for stdout; with kError: for stderr
};

CliResult parse_sigverd_args(int argc, char** argv);
CliResult parse_sigver_args(int argc, char** argv);

}  // namespace sigver
