// libFuzzer target: load_config_string on any text (a hand-edited /etc/sigver.conf). A
// refused text must leave the running configuration exactly as it was (HUP keeps the old one)
// and name a line of the text; an accepted one must hold only values within the documented
// ranges the rest of the server relies on, and loading it again over its own result (a HUP
// with an unchanged file) must succeed and change nothing.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/config.h"
#include "core/log.h"
#include "fuzz_check.h"

namespace {

using sigver::Config;
using sigver::fuzz::require;

constexpr const char* kName = "fuzz.conf";

// "fuzz.conf:LINE: ..." with LINE a line of `text`.
void check_error(const std::string& text, const std::string& error) {
  const std::string prefix = std::string(kName) + ":";
  require(error.starts_with(prefix), "an error that does not name the file");
  const char* begin = error.data() + prefix.size();
  const char* end = error.data() + error.size();
  int line = 0;
  auto [after, ec] = std::from_chars(begin, end, line);
  require(ec == std::errc() && std::string_view(after, end - after).starts_with(": "),
          "an error without a line number");
  const auto newlines = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  const int lines = newlines + (text.empty() || text.back() == '\n' ? 0 : 1);
  require(line >= 1 && line <= std::max(lines, 1), "an error naming a line the text does not have");
}

bool in(double v, double lo, double hi) { return std::isfinite(v) && v > lo && v <= hi; }

void check_ranges(const Config& c) {
  constexpr uint64_t kKiB = 1024, kGiB = kKiB * kKiB * kKiB;
  require(c.worker_processes >= 1 && c.worker_processes <= 64, "worker_processes out of range");
  require(in(c.heartbeat_interval, 0, 3600), "heartbeat_interval out of range");
  require(c.heartbeat_misses >= 1 && c.heartbeat_misses <= 100, "heartbeat_misses out of range");
  require(c.max_key_length >= 1 && c.max_key_length <= 65536, "max_key_length out of range");
  require(c.max_message_size >= 1 && c.max_message_size <= kGiB, "max_message_size out of range");
  require(c.max_outbound >= kKiB && c.max_outbound <= kGiB, "max_outbound out of range");
  require(c.max_header_size >= kKiB && c.max_header_size <= 64 * kKiB,
          "max_header_size out of range");
  require(in(c.handshake_timeout, 0, 86400) && in(c.close_timeout, 0, 86400),
          "a timeout out of range");
  require(std::isfinite(c.max_messages_per_second) && c.max_messages_per_second >= 0 &&
              c.max_messages_per_second <= 1e6,
          "max_messages_per_second out of range");
  require(c.listen.port != 0 && (!c.listen_tls || c.listen_tls->port != 0), "port 0");
  sigver::log::Level level;
  require(sigver::log::parse_level(c.log_level, level), "an unknown log level");
  sigver::TlsProtocols protocols;
  require(sigver::parse_tls_protocols(c.tls_protocols, protocols), "bad TLS protocols");
  require(!c.error_log.empty() && !c.tls_ciphers.empty() && !c.tls_ciphersuites.empty(),
          "an empty required setting");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const Config defaults;
  Config config;
  std::string error;
  if (!sigver::load_config_string(text, kName, config, error)) {
    require(config == defaults, "a refused text changed the configuration");
    check_error(text, error);
    return 0;
  }
  require(config.source == kName, "the configuration does not name its file");
  check_ranges(config);
  std::string ignored;
  sigver::validate_config(config, ignored);

  Config again = config;
  require(sigver::load_config_string(text, kName, again, error),
          "an accepted text is refused later");
  require(again == config, "loading the same text twice gives another configuration");
  return 0;
}
