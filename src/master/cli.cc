#include "master/cli.h"

#include <openssl/opensslv.h>

#include <optional>
#include <string_view>
#include <vector>

namespace sigver {
namespace {

#ifdef SIGVER_VERSION
constexpr const char* kVersion = SIGVER_VERSION;
#else
constexpr const char* kVersion = "0.1.0";  // this file is built into a library without the macro
#endif

constexpr const char* kSigverdUsage =
    "Usage: sigverd [options]\n"
    "\n"
    "Signaling server for WebRTC (Sigver protocol, used by Netflux), with a master process\n"
    "supervising worker processes.\n"
    "\n"
    "Options:\n"
    "\n"
    "  -c, --conf <file>     Load settings from this file (default: built-in defaults)\n"
    "      --host <ip>       Address to listen on, overrides the file (default: 0.0.0.0)\n"
    "  -p, --port <number>   Port to listen on, overrides the file (default: 8000)\n"
    "  -t                    Test the configuration and exit\n"
    "  -s <signal>           Send a signal to the running master: reload, quit, stop, reopen,\n"
    "                        upgrade (start the binary again, moving every peer to it)\n"
    "  -V, --version         Print the version and exit\n"
    "      --help            Print this help and exit";

// The seed's usage text, kept word for word for users of the original server.
constexpr const char* kSigverUsage =
    "Usage: server [options]\n"
    "\n"
    "Signaling server for WebRTC. Used by Netflux API "
    "(https://coast-team.github.io/netflux/)\n"
    "\n"
    "\n"
    "Options:\n"
    "\n"
    "  -V, --version           output the version number\n"
    "  -h, --host <ip>         Select host address to bind to. (default: 0.0.0.0)\n"
    "  -p, --port <number>     Select port to use. (default: 8000)\n"
    "  -k, --key <file path>   Private key for the certificate\n"
    "  -c, --cert <file path>  The server certificate\n"
    "  -a, --ca <file path>    The additional intermediate certificate or certificates that "
    "web browsers will need in order to validate the server certificate.\n"
    "  -h, --help              output usage information\n"
    "\n"
    "Examples:\n"
    "\n"
    "   $ sigver                       # Server is listening on ws://0.0.0.0:8000\n"
    "   $ sigver -h 192.168.0.1 -p 80  # Server is listening on ws://192.168.0.1:80\n"
    "   $ sigver --key ./private.key --cert ./primary.crt --ca ./intermediate.crt --port 443  "
    "# Server is listening on wss://0.0.0.0:443";

struct OptionSpec {
  char short_name;             // '\0' = long form only
  std::string_view long_name;  // "" = short form only
  bool has_value;
};

struct ParsedOption {
  const OptionSpec* spec;
  std::string value;
};

const OptionSpec* find_short(const std::vector<OptionSpec>& specs, char name) {
  for (const OptionSpec& s : specs) {
    if (s.short_name != '\0' && s.short_name == name) return &s;
  }
  return nullptr;
}

const OptionSpec* find_long(const std::vector<OptionSpec>& specs, std::string_view name) {
  for (const OptionSpec& s : specs) {
    if (!s.long_name.empty() && s.long_name == name) return &s;
  }
  return nullptr;
}

// Splits argv into options, accepting "-p 80", "-p80", "--port 80" and "--port=80".
// Returns false with `error` (without the program name) on anything else.
bool split_options(int argc, char** argv, const std::vector<OptionSpec>& specs,
                   std::vector<ParsedOption>& out, std::string& error) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    const OptionSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    if (arg.size() > 2 && arg.substr(0, 2) == "--") {
      std::string_view name = arg.substr(2);
      size_t equals = name.find('=');
      if (equals != std::string_view::npos) {
        inline_value = std::string(name.substr(equals + 1));
        name = name.substr(0, equals);
      }
      spec = find_long(specs, name);
    } else if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
      spec = find_short(specs, arg[1]);
      if (spec != nullptr && arg.size() > 2) {
        // "-p80" carries a value; "-tx" is refused rather than read as grouped flags.
        if (spec->has_value) {
          inline_value = std::string(arg.substr(2));
        } else {
          spec = nullptr;
        }
      }
    } else {
      error = "unexpected argument \"" + std::string(arg) + "\"";
      return false;
    }
    if (spec == nullptr) {
      error = "unknown option \"" + std::string(arg) + "\"";
      return false;
    }
    ParsedOption option{spec, ""};
    if (spec->has_value) {
      if (inline_value) {
        option.value = *inline_value;
      } else if (i + 1 < argc) {
        option.value = argv[++i];
      } else {
        error = "option \"" + std::string(arg) + "\" needs a value";
        return false;
      }
    } else if (inline_value) {
      error = "option \"" + std::string(arg.substr(0, arg.find('='))) + "\" takes no value";
      return false;
    }
    out.push_back(std::move(option));
  }
  return true;
}

bool is(const ParsedOption& option, std::string_view long_name, char short_name = '\0') {
  return (!long_name.empty() && option.spec->long_name == long_name) ||
         (short_name != '\0' && option.spec->short_name == short_name);
}

// Checks a host given alone by reusing the listen parser (with a dummy port).
bool parse_host(const std::string& value, std::string& host) {
  bool bracketed = value.size() >= 2 && value.front() == '[' && value.back() == ']';
  bool needs_brackets = !bracketed && value.find(':') != std::string::npos;
  ListenAddress address;
  if (!parse_listen((needs_brackets ? "[" + value + "]" : value) + ":1", address)) return false;
  host = address.host;
  return true;
}

bool parse_port_option(const std::string& value, uint16_t& port) {
  ListenAddress address;
  if (!parse_listen("0.0.0.0:" + value, address)) return false;
  port = address.port;
  return true;
}

CliResult error_result(std::string_view program, const std::string& message) {
  CliResult result;
  result.action = CliResult::Action::kError;
  result.message = std::string(program) + ": " + message;
  return result;
}

CliResult text_result(CliResult::Action action, std::string text) {
  CliResult result;
  result.action = action;
  result.message = std::move(text);
  return result;
}

// Applies --host / --port over whatever the file said; false with an error message.
bool apply_listen_overrides(const std::optional<std::string>& host,
                            const std::optional<std::string>& port, Config& config,
                            std::string& error) {
  if (host && !parse_host(*host, config.listen.host)) {
    error = "invalid host \"" + *host + "\" (expected an IP address or host name)";
    return false;
  }
  if (port && !parse_port_option(*port, config.listen.port)) {
    error = "invalid port \"" + *port + "\" (expected 1..65535)";
    return false;
  }
  return true;
}

}  // namespace

CliResult parse_sigverd_args(int argc, char** argv) {
  constexpr std::string_view kProgram = "sigverd";
  const std::vector<OptionSpec> specs = {
      {'c', "conf", true}, {'\0', "host", true},    {'p', "port", true},   {'t', "", false},
      {'s', "", true},     {'V', "version", false}, {'\0', "help", false},
  };
  std::vector<ParsedOption> options;
  std::string error;
  if (!split_options(argc, argv, specs, options, error)) return error_result(kProgram, error);

  std::optional<std::string> conf, host, port, signal;
  bool test = false;
  for (const ParsedOption& o : options) {
    if (is(o, "help")) return text_result(CliResult::Action::kHelp, kSigverdUsage);
    if (is(o, "version")) {
      // The libraries' versions as built in: what an operator needs for a bug report.
      return text_result(CliResult::Action::kVersion,
                         std::string("sigverd version ") + kVersion + "\nbuilt with " +
                             OPENSSL_VERSION_TEXT + ", protobuf " + SIGVER_PROTOBUF_VERSION +
                             " (schema and tests), llhttp " + SIGVER_LLHTTP_VERSION);
    }
    if (is(o, "conf")) conf = o.value;
    if (is(o, "host")) host = o.value;
    if (is(o, "port")) port = o.value;
    if (is(o, "", 't')) test = true;
    if (is(o, "", 's')) signal = o.value;
  }
  if (signal && *signal != "reload" && *signal != "quit" && *signal != "stop" &&
      *signal != "reopen" && *signal != "upgrade") {
    return error_result(kProgram, "invalid signal \"" + *signal +
                                      "\" (expected reload, quit, stop, reopen or upgrade)");
  }
  if (signal && test) return error_result(kProgram, "-t and -s cannot be used together");

  CliResult result;
  if (conf && !load_config_file(*conf, result.config, error)) {
    return error_result(kProgram, error);
  }
  if (!apply_listen_overrides(host, port, result.config, error) ||
      !validate_config(result.config, error)) {
    return error_result(kProgram, error);
  }
  if (test) result.action = CliResult::Action::kTestConfig;
  if (signal) {
    result.action = CliResult::Action::kSignal;
    result.signal = *signal;
  }
  return result;
}

CliResult parse_sigver_args(int argc, char** argv) {
  constexpr std::string_view kProgram = "sigver";
  const std::vector<OptionSpec> specs = {
      {'h', "host", true}, {'p', "port", true},     {'k', "key", true},    {'c', "cert", true},
      {'a', "ca", true},   {'V', "version", false}, {'\0', "help", false},
  };
  std::vector<ParsedOption> options;
  std::string error;
  if (!split_options(argc, argv, specs, options, error)) return error_result(kProgram, error);

  CliResult result;
  std::optional<std::string> host, port;
  for (const ParsedOption& o : options) {
    if (is(o, "help")) return text_result(CliResult::Action::kHelp, kSigverUsage);
    if (is(o, "version")) return text_result(CliResult::Action::kVersion, kVersion);
    if (is(o, "host")) host = o.value;
    if (is(o, "port")) port = o.value;
    if (is(o, "key")) result.config.tls_certificate_key = o.value;
    if (is(o, "cert")) result.config.tls_certificate = o.value;
    if (is(o, "ca")) result.config.tls_ca = o.value;
  }
  if (!apply_listen_overrides(host, port, result.config, error)) {
    return error_result(kProgram, error);
  }
  if (result.config.tls_certificate.empty() != result.config.tls_certificate_key.empty()) {
    return error_result(kProgram, "--key and --cert must be given together");
  }
  if (!result.config.tls_ca.empty() && result.config.tls_certificate.empty()) {
    return error_result(kProgram, "--ca needs --key and --cert");
  }
  // As in the seed: with a certificate, the one listener speaks wss:// instead of ws://.
  result.config.listen_speaks_tls = !result.config.tls_certificate.empty();
  if (!validate_config(result.config, error)) return error_result(kProgram, error);
  return result;
}

}  // namespace sigver
