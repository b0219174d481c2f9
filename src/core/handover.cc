#include "core/handover.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>

namespace sigver {
namespace {

void append_fds(std::string& out, const char* name, const std::vector<int>& fds) {
  out += ';';
  out += name;
  out += '=';
  for (size_t i = 0; i < fds.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(fds[i]);
  }
}

bool parse_int(std::string_view text, int& out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size() && out >= -1;
}

bool parse_fds(std::string_view text, std::vector<int>& out) {
  out.clear();
  while (!text.empty()) {
    const size_t comma = text.find(',');
    int fd = 0;
    if (!parse_int(text.substr(0, comma), fd) || fd < 0) return false;
    out.push_back(fd);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    if (text.empty()) return false;  // a trailing comma
  }
  return true;
}

void put_u32(std::string& out, uint32_t value) {
  char bytes[sizeof value];
  std::memcpy(bytes, &value, sizeof value);
  out.append(bytes, sizeof value);
}

uint32_t get_u32(std::string_view in, size_t at) {
  uint32_t value = 0;
  std::memcpy(&value, in.data() + at, sizeof value);
  return value;
}

}  // namespace

std::string encode_handover_env(const HandoverEnv& env) {
  // "VERSION;control=FD;..." (addresses hold ':' and '[' but never ';').
  std::string out = std::to_string(env.version) + ";control=" + std::to_string(env.control);
  append_fds(out, "plain", env.listeners);
  append_fds(out, "tls", env.tls_listeners);
  out += ";status=" + std::to_string(env.status);
  append_fds(out, "queues", env.old_queues);
  out += ";count=" + std::to_string(env.old_count);
  out += ";listen=" + env.listen;
  out += ";listen_tls=" + env.listen_tls;
  out += ";status_listen=" + env.status_listen;
  return out;
}

std::optional<HandoverEnv> decode_handover_env(std::string_view text) {
  HandoverEnv env;
  size_t end = text.find(';');
  int version = 0;
  if (!parse_int(text.substr(0, end), version) || version < 0) return std::nullopt;
  env.version = static_cast<uint32_t>(version);
  // The fields every version sends, then the ones only ours does.
  enum Field {
    kControl,
    kPlain,
    kTls,
    kStatus,
    kListen,
    kListenTls,
    kStatusListen,
    kQueues,
    kCount
  };
  static constexpr std::string_view kNames[] = {"control",       "plain",  "tls",
                                                "status",        "listen", "listen_tls",
                                                "status_listen", "queues", "count"};
  constexpr unsigned kEveryVersion = (1u << kQueues) - 1;
  constexpr unsigned kOurs = (1u << std::size(kNames)) - 1;
  unsigned seen = 0;
  while (end != std::string_view::npos) {
    text.remove_prefix(end + 1);
    end = text.find(';');
    const std::string_view item = text.substr(0, end);
    const size_t equals = item.find('=');
    if (equals == std::string_view::npos) return std::nullopt;
    const std::string_view value = item.substr(equals + 1);
    const auto* known = std::find(std::begin(kNames), std::end(kNames), item.substr(0, equals));
    if (known == std::end(kNames)) continue;  // a newer version's: not ours to read
    const auto field = static_cast<Field>(known - std::begin(kNames));
    if (seen & (1u << field)) return std::nullopt;
    seen |= 1u << field;
    bool ok = true;
    switch (field) {
      case kControl:
        ok = parse_int(value, env.control) && env.control >= 0;
        break;
      case kPlain:
        ok = parse_fds(value, env.listeners);
        break;
      case kTls:
        ok = parse_fds(value, env.tls_listeners);
        break;
      case kStatus:
        ok = parse_int(value, env.status);
        break;
      case kListen:
        env.listen = std::string(value);
        break;
      case kListenTls:
        env.listen_tls = std::string(value);
        break;
      case kStatusListen:
        env.status_listen = std::string(value);
        break;
      case kQueues:
        ok = parse_fds(value, env.old_queues);
        if (!ok && !env.same_version()) {  // another version's form: left alone
          env.old_queues.clear();
          ok = true;
        }
        break;
      case kCount:
        if (env.same_version()) ok = parse_int(value, env.old_count);
        break;
    }
    if (!ok) return std::nullopt;
  }
  if ((seen & kEveryVersion) != kEveryVersion) return std::nullopt;
  if (!env.same_version()) return env;
  if ((seen & kOurs) != kOurs || env.old_count < 1 ||
      static_cast<size_t>(env.old_count) > env.old_queues.size()) {
    return std::nullopt;
  }
  return env;
}

std::string encode_hello(const HandoverHello& hello) {
  std::string out;
  put_u32(out, kHandoverMagic);
  put_u32(out, hello.version);
  put_u32(out, hello.workers);
  return out;
}

std::optional<HandoverHello> decode_hello(std::string_view payload) {
  if (payload.size() < 8 || get_u32(payload, 0) != kHandoverMagic) return std::nullopt;
  HandoverHello hello;
  hello.version = get_u32(payload, 4);
  if (hello.version != kHandoverVersion) return hello;
  if (payload.size() != 12) return std::nullopt;
  hello.workers = get_u32(payload, 8);
  if (hello.workers == 0) return std::nullopt;
  return hello;
}

std::string encode_upgrade(uint32_t new_count) {
  std::string out;
  put_u32(out, kHandoverVersion);
  put_u32(out, new_count);
  return out;
}

std::optional<uint32_t> decode_upgrade(std::string_view payload) {
  if (payload.size() != 8 || get_u32(payload, 0) != kHandoverVersion) return std::nullopt;
  const uint32_t count = get_u32(payload, 4);
  if (count == 0) return std::nullopt;
  return count;
}

}  // namespace sigver
