#include "master/reload.h"

#include "core/log.h"
#include "master/listeners.h"

namespace sigver {
namespace {

bool same_address(const ListenAddress& a, const ListenAddress& b) {
  return a.host == b.host && a.port == b.port;
}

std::string describe(const std::optional<ListenAddress>& address) {
  return address ? format_listen_address(*address) : "(none)";
}

std::string changed(const char* name, const std::string& running, const std::string& fresh) {
  return std::string("\"") + name + "\" changed from " + running + " to " + fresh +
         ": it takes effect after a restart, keeping " + running;
}

}  // namespace

std::vector<std::string> keep_restart_only_settings(const Config& running, Config& fresh) {
  std::vector<std::string> warnings;
  bool tls_same = running.listen_tls.has_value() == fresh.listen_tls.has_value() &&
                  (!running.listen_tls || same_address(*running.listen_tls, *fresh.listen_tls));
  if (!tls_same) {
    warnings.push_back(
        changed("listen_tls", describe(running.listen_tls), describe(fresh.listen_tls)));
    fresh.listen_tls = running.listen_tls;
  }
  auto keep_text = [&](const char* name, const std::string& was, std::string& now) {
    if (was == now) return;
    warnings.push_back(changed(name, "\"" + was + "\"", "\"" + now + "\""));
    now = was;
  };
  keep_text("pid", running.pid, fresh.pid);
  keep_text("user", running.user, fresh.user);
  keep_text("group", running.group, fresh.group);
  if (running.daemon != fresh.daemon) {
    warnings.push_back(
        changed("daemon", running.daemon ? "on" : "off", fresh.daemon ? "on" : "off"));
    fresh.daemon = running.daemon;
  }
  return warnings;
}

bool apply_log_settings(const Config& config, const std::string& current_path, std::string& error) {
  log::Level level;
  if (!log::parse_level(config.log_level, level)) {
    error = "invalid log_level \"" + config.log_level + "\"";
    return false;
  }
  auto normalized = [](const std::string& path) {
    return path.empty() ? std::string("stderr") : path;
  };
  if (normalized(config.error_log) != normalized(current_path) &&
      !log::open(config.error_log, error)) {
    return false;
  }
  log::set_level(level);
  return true;
}

}  // namespace sigver
