#include "core/handover.h"

#include <charconv>
#include <cstring>

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
  const size_t first = text.find(';');
  int version = 0;
  if (!parse_int(text.substr(0, first), version) || version < 0) return std::nullopt;
  env.version = static_cast<uint32_t>(version);
  if (env.version != kHandoverVersion) return env;  // the caller refuses it
  if (first == std::string_view::npos) return std::nullopt;
  text.remove_prefix(first + 1);
  // Every field exactly once, in this order.
  const char* names[] = {"control", "plain",  "tls",        "status",       "queues",
                         "count",   "listen", "listen_tls", "status_listen"};
  for (const char* name : names) {
    const size_t len = std::strlen(name);
    if (text.size() < len + 1 || text.substr(0, len) != name || text[len] != '=')
      return std::nullopt;
    text.remove_prefix(len + 1);
    const size_t end = text.find(';');
    const std::string_view value = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    const std::string_view field(name);
    bool ok = true;
    if (field == "control") {
      ok = parse_int(value, env.control) && env.control >= 0;
    } else if (field == "plain") {
      ok = parse_fds(value, env.listeners);
    } else if (field == "tls") {
      ok = parse_fds(value, env.tls_listeners);
    } else if (field == "status") {
      ok = parse_int(value, env.status);
    } else if (field == "queues") {
      ok = parse_fds(value, env.old_queues);
    } else if (field == "count") {
      ok = parse_int(value, env.old_count) && env.old_count >= 1 &&
           static_cast<size_t>(env.old_count) <= env.old_queues.size();
    } else if (field == "listen") {
      env.listen = std::string(value);
    } else if (field == "listen_tls") {
      env.listen_tls = std::string(value);
    } else {
      env.status_listen = std::string(value);
      ok = end == std::string_view::npos;  // the last field
    }
    if (!ok) return std::nullopt;
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
