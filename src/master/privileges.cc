#include "master/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sigver {
namespace {

std::string lookup_error(const char* what, const std::string& name, int rc) {
  std::string text = std::string(what) + " \"" + name + "\" ";
  if (rc == 0) return text + "not found";
  return text + "lookup failed: " + std::strerror(rc);
}

}  // namespace

bool resolve_credentials(const Config& config, Credentials& out, std::string& warning,
                         std::string& error) {
  out = Credentials{};
  if (config.user.empty() && config.group.empty()) return true;
  if (::geteuid() != 0) {
    warning = "the \"user\" and \"group\" settings are ignored: not running as root";
    return true;
  }
  std::vector<char> buffer(16384);
  if (!config.user.empty()) {
    passwd pw;
    passwd* found = nullptr;
    int rc = ::getpwnam_r(config.user.c_str(), &pw, buffer.data(), buffer.size(), &found);
    if (found == nullptr) {
      error = lookup_error("user", config.user, rc);
      return false;
    }
    out.change_user = true;
    out.change_group = true;
    out.user = config.user;
    out.uid = pw.pw_uid;
    out.gid = pw.pw_gid;
  }
  if (!config.group.empty()) {
    group gr;
    group* found = nullptr;
    int rc = ::getgrnam_r(config.group.c_str(), &gr, buffer.data(), buffer.size(), &found);
    if (found == nullptr) {
      error = lookup_error("group", config.group, rc);
      return false;
    }
    out.change_group = true;
    out.gid = gr.gr_gid;
  }
  return true;
}

bool drop_privileges(const Credentials& credentials, std::string& error) {
  if (credentials.change_user) {
    if (::initgroups(credentials.user.c_str(), credentials.gid) != 0) {
      error = "initgroups(" + credentials.user + ") failed: " + std::strerror(errno);
      return false;
    }
  } else if (credentials.change_group) {
    if (::setgroups(1, &credentials.gid) != 0) {
      error = std::string("setgroups() failed: ") + std::strerror(errno);
      return false;
    }
  }
  if (credentials.change_group && ::setgid(credentials.gid) != 0) {
    error = "setgid(" + std::to_string(credentials.gid) + ") failed: " + std::strerror(errno);
    return false;
  }
  if (credentials.change_user && ::setuid(credentials.uid) != 0) {
    error = "setuid(" + std::to_string(credentials.uid) + ") failed: " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace sigver
