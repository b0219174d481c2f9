#include "core/config.h"

#include <arpa/inet.h>
#include <ini.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>
#include <utility>

#include "core/log.h"

namespace sigver {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = kKiB * 1024;
constexpr uint64_t kGiB = kMiB * 1024;
// Timeouts are turned into integer milliseconds by the timers; a day is far beyond any
// sensible value and keeps that conversion safe.
constexpr double kMaxTimeoutSeconds = 86400;
// protocol-v2.md: the wait for a silent client "must stay well under 3 s".
constexpr double kMaxDetectSeconds = 3;

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_ignore_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool parse_uint(std::string_view s, uint64_t& out) {
  if (!all_digits(s)) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

bool parse_port(std::string_view s, uint16_t& out) {
  uint64_t n = 0;
  if (!parse_uint(s, n) || n < 1 || n > 65535) return false;
  out = static_cast<uint16_t>(n);
  return true;
}

// A host name as in RFC 1123: letters, digits, '-' and '.', labels not starting with '-'.
bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  char previous = '.';
  for (char c : s) {
    bool alnum = (c >= '0' && c <= '9') || (lower(c) >= 'a' && lower(c) <= 'z');
    if (!alnum && c != '-' && c != '.') return false;
    if (previous == '.' && (c == '.' || c == '-')) return false;
    previous = c;
  }
  return true;
}

bool is_ipv6(const std::string& s) {
  in6_addr address;
  return inet_pton(AF_INET6, s.c_str(), &address) == 1;
}

// Digits and dots only must be a real dotted quad, not a name such as "999.1.1.1".
bool is_host(const std::string& s) {
  if (s.find_first_not_of("0123456789.") != std::string::npos) return is_host_name(s);
  in_addr address;
  return inet_pton(AF_INET, s.c_str(), &address) == 1;
}

// An origin pattern: [scheme "://"] host [":" port], where the host may start with "*.",
// and a scheme is required unless the host is a wildcard. No path, no trailing slash.
bool is_origin_pattern(std::string_view s) {
  size_t sep = s.find("://");
  std::string_view host = s;
  if (sep != std::string_view::npos) {
    std::string_view scheme = s.substr(0, sep);
    if (scheme.empty() || !std::all_of(scheme.begin(), scheme.end(), [](char c) {
          return (lower(c) >= 'a' && lower(c) <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                 c == '-' || c == '.';
        })) {
      return false;
    }
    host = s.substr(sep + 3);
  }
  const bool wildcard = host.starts_with("*.");
  if (sep == std::string_view::npos && !wildcard) return false;
  if (wildcard) host.remove_prefix(2);
  uint16_t port = 0;
  if (host.starts_with("[")) {  // an IPv6 literal, never a wildcard
    size_t close = host.find(']');
    if (wildcard || close == std::string_view::npos) return false;
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && (rest[0] != ':' || !parse_port(rest.substr(1), port))) return false;
    return is_ipv6(std::string(host.substr(1, close - 1)));
  }
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) {
    if (!parse_port(host.substr(colon + 1), port)) return false;
    host = host.substr(0, colon);
  }
  return is_host_name(host);
}

// "1k" for 1024, "3m" for 3 MiB, plain bytes otherwise: sizes in messages read like the file.
std::string format_size(uint64_t bytes) {
  if (bytes != 0 && bytes % kGiB == 0) return std::to_string(bytes / kGiB) + "g";
  if (bytes != 0 && bytes % kMiB == 0) return std::to_string(bytes / kMiB) + "m";
  if (bytes != 0 && bytes % kKiB == 0) return std::to_string(bytes / kKiB) + "k";
  return std::to_string(bytes);
}

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// ---- typed setters used by the settings table; each explains a rejection in `why` ----

bool set_seconds(const std::string& value, double max, double& out, std::string& why) {
  double seconds = 0;
  if (!parse_seconds(value, seconds)) {
    why = "expected seconds (e.g. 5 or 0.5)";
    return false;
  }
  if (seconds <= 0 || seconds > max) {
    why = "expected more than 0 and at most " + format_number(max) + " seconds";
    return false;
  }
  out = seconds;
  return true;
}

// "1 2", "2 1", "1" or "2": each generation at most once, at least one.
bool set_generations(const std::string& value, Config& c, std::string& why) {
  std::istringstream words(value);
  std::string word;
  bool one = false, two = false;
  while (words >> word) {
    bool& flag = word == "1" ? one : two;
    if ((word != "1" && word != "2") || flag) {
      why = "expected 1, 2 or both (e.g. \"1 2\")";
      return false;
    }
    flag = true;
  }
  if (!one && !two) {
    why = "expected 1, 2 or both (e.g. \"1 2\")";
    return false;
  }
  c.generation1 = one;
  c.generation2 = two;
  return true;
}

template <typename T>
bool set_integer(const std::string& value, uint64_t min, uint64_t max, T& out, std::string& why) {
  uint64_t n = 0;
  if (!parse_uint(value, n) || n < min || n > max) {
    why = "expected a number from " + std::to_string(min) + " to " + std::to_string(max);
    return false;
  }
  out = static_cast<T>(n);
  return true;
}

template <typename T>
bool set_size(const std::string& value, uint64_t min, uint64_t max, T& out, std::string& why) {
  uint64_t bytes = 0;
  if (!parse_size(value, bytes)) {
    why = "expected a size in bytes with an optional k, m or g suffix (e.g. 4096, 64k, 1m)";
    return false;
  }
  if (bytes < min || bytes > max) {
    why = max == UINT64_MAX
              ? "expected a size of at least " + format_size(min)
              : "expected a size from " + format_size(min) + " to " + format_size(max);
    return false;
  }
  out = static_cast<T>(bytes);
  return true;
}

bool set_string(const std::string& value, std::string& out, std::string&) {
  out = value;
  return true;
}

bool set_path(const std::string& value, std::string& out, std::string& why) {
  if (value.empty()) {
    why = "expected a file path";
    return false;
  }
  out = value;
  return true;
}

bool set_nonempty(const std::string& value, const char* what, std::string& out, std::string& why) {
  if (value.empty()) {
    why = std::string("expected ") + what;
    return false;
  }
  out = value;
  return true;
}

bool set_listen(const std::string& value, ListenAddress& out, std::string& why) {
  if (!parse_listen(value, out)) {
    why = "expected host:port with a port from 1 to 65535 (e.g. 0.0.0.0:8000 or [::]:8000)";
    return false;
  }
  return true;
}

// An optional address: empty = none.
bool set_optional_listen(const std::string& value, std::optional<ListenAddress>& out,
                         std::string& why) {
  if (value.empty()) {
    out.reset();
    return true;
  }
  ListenAddress address;
  if (!set_listen(value, address, why)) return false;
  out = address;
  return true;
}

bool set_worker_processes(const std::string& value, Config& config, std::string& why) {
  if (value == "auto") {
    unsigned cpus = std::thread::hardware_concurrency();  // 0 when unknown
    config.worker_processes = static_cast<int>(std::clamp(cpus, 1u, 64u));
    return true;
  }
  if (!set_integer(value, 1, 64, config.worker_processes, why)) {
    why += ", or auto";
    return false;
  }
  return true;
}

bool set_log_level(const std::string& value, Config& config, std::string& why) {
  log::Level level;
  if (!log::parse_level(value, level)) {
    why = "expected debug, info, notice, warn or error";
    return false;
  }
  config.log_level = value;
  return true;
}

// Space- or comma-separated origins: "scheme://host[:port]" exactly, or a wildcard whose host
// starts with "*." ("*.example.org" for any scheme, "https://*.example.org" for one).
bool set_origins(const std::string& value, std::vector<std::string>& out, std::string& why) {
  std::vector<std::string> origins;
  std::string item;
  std::istringstream words(value);
  while (std::getline(words, item, ',')) {
    std::istringstream parts(item);
    std::string origin;
    while (parts >> origin) {
      if (!is_origin_pattern(origin)) {
        why = "\"" + origin +
              "\" is not an origin: expected scheme://host[:port] (e.g. https://example.org) or "
              "a wildcard such as *.example.org or https://*.example.org";
        return false;
      }
      std::transform(origin.begin(), origin.end(), origin.begin(), lower);
      origins.push_back(origin);
    }
  }
  out = std::move(origins);
  return true;
}

struct Setting {
  std::string_view section;
  std::string_view name;
  // Applies `value` to `config`, or explains in `why` what was expected.
  bool (*apply)(const std::string& value, Config& config, std::string& why);
};

// Names are part of the operator interface: keep them stable.
const Setting kSettings[] = {
    {"server", "listen",
     [](const std::string& v, Config& c, std::string& why) {
       return set_listen(v, c.listen, why);
     }},
    {"server", "listen_tls",
     [](const std::string& v, Config& c, std::string& why) {
       return set_optional_listen(v, c.listen_tls, why);
     }},
    {"server", "status_listen",
     [](const std::string& v, Config& c, std::string& why) {
       return set_optional_listen(v, c.status_listen, why);
     }},
    {"server", "worker_processes", set_worker_processes},
    {"server", "pid",
     [](const std::string& v, Config& c, std::string& why) { return set_string(v, c.pid, why); }},
    {"server", "user",
     [](const std::string& v, Config& c, std::string& why) { return set_string(v, c.user, why); }},
    {"server", "group",
     [](const std::string& v, Config& c, std::string& why) { return set_string(v, c.group, why); }},
    {"server", "daemon",
     [](const std::string& v, Config& c, std::string& why) {
       if (parse_bool(v, c.daemon)) return true;
       why = "expected on or off";
       return false;
     }},
    {"server", "allowed_origins",
     [](const std::string& v, Config& c, std::string& why) {
       return set_origins(v, c.allowed_origins, why);
     }},
    {"protocol", "heartbeat_interval",
     [](const std::string& v, Config& c, std::string& why) {
       return set_seconds(v, 3600, c.heartbeat_interval, why);
     }},
    {"protocol", "heartbeat_misses",
     [](const std::string& v, Config& c, std::string& why) {
       return set_integer(v, 1, 100, c.heartbeat_misses, why);
     }},
    {"protocol", "max_key_length",
     [](const std::string& v, Config& c, std::string& why) {
       return set_integer(v, 1, 65536, c.max_key_length, why);
     }},
    {"protocol", "max_message_size",
     [](const std::string& v, Config& c, std::string& why) {
       return set_size(v, 1, kGiB, c.max_message_size, why);
     }},
    {"protocol", "handshake_timeout",
     [](const std::string& v, Config& c, std::string& why) {
       return set_seconds(v, kMaxTimeoutSeconds, c.handshake_timeout, why);
     }},
    {"protocol", "max_outbound",
     [](const std::string& v, Config& c, std::string& why) {
       return set_size(v, kKiB, kGiB, c.max_outbound, why);
     }},
    {"protocol", "max_header_size",
     [](const std::string& v, Config& c, std::string& why) {
       return set_size(v, kKiB, 64 * kKiB, c.max_header_size, why);
     }},
    {"protocol", "close_timeout",
     [](const std::string& v, Config& c, std::string& why) {
       return set_seconds(v, kMaxTimeoutSeconds, c.close_timeout, why);
     }},
    {"protocol", "generations",
     [](const std::string& v, Config& c, std::string& why) { return set_generations(v, c, why); }},
    {"protocol", "detect_timeout_min",
     [](const std::string& v, Config& c, std::string& why) {
       return set_seconds(v, kMaxDetectSeconds, c.detect_timeout_min, why);
     }},
    {"protocol", "detect_timeout_max",
     [](const std::string& v, Config& c, std::string& why) {
       return set_seconds(v, kMaxDetectSeconds, c.detect_timeout_max, why);
     }},
    {"limits", "max_outbound_total",
     [](const std::string& v, Config& c, std::string& why) {
       return set_size(v, kMiB, 64 * kGiB, c.max_outbound_total, why);
     }},
    {"limits", "max_inbound_total",
     [](const std::string& v, Config& c, std::string& why) {
       return set_size(v, kMiB, 64 * kGiB, c.max_inbound_total, why);
     }},
    {"limits", "max_connections",
     [](const std::string& v, Config& c, std::string& why) {
       if (v == "auto") {
         c.max_connections = 0;
         return true;
       }
       if (set_integer(v, 1, 10'000'000, c.max_connections, why)) return true;
       why += ", or auto";
       return false;
     }},
    {"limits", "max_connections_per_ip",
     [](const std::string& v, Config& c, std::string& why) {
       return set_integer(v, 0, 10'000'000, c.max_connections_per_ip, why);
     }},
    {"limits", "max_pending_handshakes",
     [](const std::string& v, Config& c, std::string& why) {
       return set_integer(v, 1, 10'000'000, c.max_pending_handshakes, why);
     }},
    {"limits", "max_peers_per_key",
     [](const std::string& v, Config& c, std::string& why) {
       return set_integer(v, 1, 10'000'000, c.max_peers_per_key, why);
     }},
    {"limits", "max_messages_per_second",
     [](const std::string& v, Config& c, std::string& why) {
       double rate = 0;
       if (!parse_seconds(v, rate) || rate > 1e6) {
         why = "expected a number of messages from 0 (off) to 1000000 (decimals allowed)";
         return false;
       }
       c.max_messages_per_second = rate;
       return true;
     }},
    {"limits", "messages_burst",
     [](const std::string& v, Config& c, std::string& why) {
       return set_integer(v, 1, 10'000'000, c.messages_burst, why);
     }},
    {"tls", "certificate",
     [](const std::string& v, Config& c, std::string& why) {
       return set_string(v, c.tls_certificate, why);
     }},
    {"tls", "certificate_key",
     [](const std::string& v, Config& c, std::string& why) {
       return set_string(v, c.tls_certificate_key, why);
     }},
    {"tls", "ca",
     [](const std::string& v, Config& c, std::string& why) {
       return set_string(v, c.tls_ca, why);
     }},
    {"tls", "protocols",
     [](const std::string& v, Config& c, std::string& why) {
       TlsProtocols protocols;
       if (!parse_tls_protocols(v, protocols)) {
         why = "expected TLSv1.2, TLSv1.3 or both, separated by spaces";
         return false;
       }
       c.tls_protocols = v;
       return true;
     }},
    // Cipher lists are checked by OpenSSL when the certificate is loaded (start, -t, HUP).
    {"tls", "ciphers",
     [](const std::string& v, Config& c, std::string& why) {
       return set_nonempty(v, "an OpenSSL cipher list", c.tls_ciphers, why);
     }},
    {"tls", "ciphersuites",
     [](const std::string& v, Config& c, std::string& why) {
       return set_nonempty(v, "an OpenSSL TLS 1.3 ciphersuite list", c.tls_ciphersuites, why);
     }},
    {"tls", "session_tickets",
     [](const std::string& v, Config& c, std::string& why) {
       if (parse_bool(v, c.tls_session_tickets)) return true;
       why = "expected on or off";
       return false;
     }},
    {"tls", "session_ticket_lifetime",
     [](const std::string& v, Config& c, std::string& why) {
       return set_integer(v, 1, 86400, c.tls_session_ticket_lifetime, why);
     }},
    {"log", "error_log",
     [](const std::string& v, Config& c, std::string& why) {
       if (set_path(v, c.error_log, why)) return true;
       why = "expected a file path or stderr";
       return false;
     }},
    {"log", "log_level", set_log_level},
    {"log", "access_log",
     [](const std::string& v, Config& c, std::string& why) {
       return set_string(v, c.access_log, why);
     }},
    {"log", "access_log_keys",
     [](const std::string& v, Config& c, std::string& why) {
       if (v != "hash" && v != "full" && v != "off") {
         why = "expected hash, full or off";
         return false;
       }
       c.access_log_keys = v;
       return true;
     }},
};

bool is_known_section(std::string_view section) {
  return std::any_of(std::begin(kSettings), std::end(kSettings),
                     [&](const Setting& s) { return s.section == section; });
}

const Setting* find_setting(std::string_view section, std::string_view name) {
  for (const Setting& s : kSettings) {
    if (s.section == section && s.name == name) return &s;
  }
  return nullptr;
}

// State of one parse. inih (Debian's build) gives the handler no line number, so lines are
// fed to inih through our own reader, which counts them; a handler call always belongs to
// the line the reader returned last.
struct Parse {
  std::string_view text;
  size_t offset = 0;
  int line = 0;
  Config* config = nullptr;
  int error_line = 0;  // first error found by the reader or the handler (0 = none)
  std::string error;
  std::set<std::pair<std::string, std::string>> seen;  // (section, name) already set

  void fail(std::string message) {
    if (error_line != 0) return;
    error_line = line;
    error = std::move(message);
  }
};

// Checks a "[section]" header line; inih does not call the handler for empty sections.
void check_section_header(Parse& p, std::string_view line) {
  size_t close = line.find(']');
  if (line.empty() || line[0] != '[' || close == std::string_view::npos) return;  // inih reports
  std::string_view name = line.substr(1, close - 1);
  if (!is_known_section(name)) p.fail("unknown section [" + std::string(name) + "]");
}

// fgets-like: copies the next line into `out` (at most size-1 bytes, with its '\n').
char* read_line(char* out, int size, void* stream) {
  Parse& p = *static_cast<Parse*>(stream);
  if (p.error_line != 0 || p.offset >= p.text.size()) return nullptr;
  size_t end = p.text.find('\n', p.offset);
  end = (end == std::string_view::npos) ? p.text.size() : end + 1;
  std::string_view line = p.text.substr(p.offset, end - p.offset);
  p.offset = end;
  ++p.line;
  // Leading blanks are dropped so that an indented line is never taken by inih as the
  // continuation of the previous value (its multi-line mode).
  line.remove_prefix(std::min(line.find_first_not_of(" \t"), line.size()));
  if (line.size() + 1 > static_cast<size_t>(size)) {
    p.fail("line too long (at most " + std::to_string(size - 3) + " characters)");
    return nullptr;
  }
  check_section_header(p, line);
  std::memcpy(out, line.data(), line.size());
  out[line.size()] = '\0';
  return out;
}

int on_setting(void* user, const char* section, const char* name, const char* value) {
  Parse& p = *static_cast<Parse*>(user);
  if (p.error_line != 0) return 1;  // only the first error is reported
  std::string where = std::string("\"") + name + "\" in [" + section + "]";
  if (*section == '\0') {
    p.fail("setting \"" + std::string(name) + "\" outside of any section");
    return 0;
  }
  const Setting* setting = find_setting(section, name);
  if (setting == nullptr) {
    p.fail("unknown setting " + where);
    return 0;
  }
  if (!p.seen.emplace(section, name).second) {
    p.fail("duplicate setting " + where);
    return 0;
  }
  std::string why;
  if (!setting->apply(value, *p.config, why)) {
    p.fail("invalid value \"" + std::string(value) + "\" for " + where + ": " + why);
    return 0;
  }
  return 1;
}

}  // namespace

bool load_config_string(const std::string& text, const std::string& name, Config& config,
                        std::string& error) {
  // Parse into a copy so that a bad file leaves `config` untouched (reload keeps the old one).
  Config loaded = config;
  Parse p;
  p.text = text;
  p.config = &loaded;
  int result = ini_parse_stream(read_line, &p, on_setting, &p);
  if (result < 0) {
    error = name + ": out of memory while parsing";
    return false;
  }
  if (result > 0 && (p.error_line == 0 || result < p.error_line)) {
    p.error_line = result;
    p.error = "syntax error: expected \"name = value\", \"[section]\" or a comment";
  }
  if (p.error_line != 0) {
    error = name + ":" + std::to_string(p.error_line) + ": " + p.error;
    return false;
  }
  loaded.source = name;
  config = std::move(loaded);
  return true;
}

bool load_config_file(const std::string& path, Config& config, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    error = path + ": cannot read: " + std::strerror(errno);
    return false;
  }
  return load_config_string(text, path, config, error);
}

bool parse_listen(const std::string& value, ListenAddress& out) {
  size_t colon = value.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = value.substr(0, colon);
  uint16_t port = 0;
  if (!parse_port(std::string_view(value).substr(colon + 1), port)) return false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (!is_ipv6(host)) return false;
  } else if (host == "*") {
    host = "0.0.0.0";
  } else if (!is_host(host)) {  // a bare IPv6 literal is ambiguous and rejected
    return false;
  }
  out.host = host;
  out.port = port;
  return true;
}

bool parse_size(const std::string& value, uint64_t& out) {
  std::string_view digits = value;
  uint64_t unit = 1;
  if (!digits.empty()) {
    switch (lower(digits.back())) {
      case 'k':
        unit = kKiB;
        break;
      case 'm':
        unit = kMiB;
        break;
      case 'g':
        unit = kGiB;
        break;
      default:
        break;
    }
    if (unit != 1) digits.remove_suffix(1);
  }
  uint64_t n = 0;
  if (!parse_uint(digits, n) || n > UINT64_MAX / unit) return false;
  out = n * unit;
  return true;
}

bool parse_seconds(const std::string& value, double& out) {
  // Only plain decimals: no sign, exponent, hex, "inf" or "nan".
  size_t dot = value.find('.');
  std::string_view whole = std::string_view(value).substr(0, dot);
  std::string_view fraction =
      dot == std::string::npos ? std::string_view() : std::string_view(value).substr(dot + 1);
  bool whole_ok = whole.empty() || all_digits(whole);
  bool fraction_ok = fraction.empty() || all_digits(fraction);
  if (!whole_ok || !fraction_ok || (whole.empty() && fraction.empty())) return false;
  double seconds = 0;
  auto [end, ec] =
      std::from_chars(value.data(), value.data() + value.size(), seconds, std::chars_format::fixed);
  if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(seconds)) {
    return false;
  }
  out = seconds;
  return true;
}

bool parse_bool(const std::string& value, bool& out) {
  for (const char* yes : {"on", "true", "yes", "1"}) {
    if (equals_ignore_case(value, yes)) {
      out = true;
      return true;
    }
  }
  for (const char* no : {"off", "false", "no", "0"}) {
    if (equals_ignore_case(value, no)) {
      out = false;
      return true;
    }
  }
  return false;
}

bool parse_tls_protocols(const std::string& value, TlsProtocols& out) {
  TlsProtocols found;
  std::istringstream words(value);
  std::string word;
  while (words >> word) {
    bool& flag = word == "TLSv1.2" ? found.tls1_2 : found.tls1_3;
    if ((word != "TLSv1.2" && word != "TLSv1.3") || flag) return false;
    flag = true;
  }
  if (!found.tls1_2 && !found.tls1_3) return false;
  out = found;
  return true;
}

bool validate_config(const Config& config, std::string& error) {
  std::string where = config.source.empty() ? "" : config.source + ": ";
  bool has_cert = !config.tls_certificate.empty();
  bool has_key = !config.tls_certificate_key.empty();
  if (has_cert && !has_key) {
    error = where + "[tls] certificate is set but certificate_key is not";
    return false;
  }
  if (has_key && !has_cert) {
    error = where + "[tls] certificate_key is set but certificate is not";
    return false;
  }
  if (!config.tls_ca.empty() && !has_cert) {
    error = where + "[tls] ca is set but certificate is not";
    return false;
  }
  if (config.listen_speaks_tls && !has_cert) {
    error = where + "TLS on the listen address needs a certificate and its key";
    return false;
  }
  if (config.listen_tls) {
    if (!has_cert) {
      error = where + "[server] listen_tls needs [tls] certificate and certificate_key";
      return false;
    }
    if (config.listen_tls->host == config.listen.host &&
        config.listen_tls->port == config.listen.port) {
      error = where + "[server] listen_tls must differ from listen";
      return false;
    }
  }
  if (config.generation1 && config.generation2) {
    if (config.detect_timeout_min > config.detect_timeout_max) {
      error = where + "[protocol] detect_timeout_min must not exceed detect_timeout_max";
      return false;
    }
  }
  if (config.status_listen) {
    const ListenAddress& status = *config.status_listen;
    if (status.port == config.listen.port ||
        (config.listen_tls && status.port == config.listen_tls->port)) {
      error = where + "[server] status_listen must not share a port with listen or listen_tls";
      return false;
    }
  }
  return true;
}

std::vector<std::pair<std::string, std::string>> setting_names() {
  std::vector<std::pair<std::string, std::string>> names;
  for (const Setting& s : kSettings) names.emplace_back(s.section, s.name);
  return names;
}

}  // namespace sigver
