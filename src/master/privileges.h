#pragma once
// Dropping a worker's privileges to config.user / config.group. The names are resolved in
// the master at start-up, so a missing user is a start-up error and not a worker crash loop.
#include <sys/types.h>

#include <string>

#include "core/config.h"

namespace sigver {

struct Credentials {
  bool change_user = false;   // setuid to uid (with the user's supplementary groups)
  bool change_group = false;  // setgid to gid
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Empty credentials when not root or nothing is configured; `warning` explains an ignored
// setting (user given but not running as root).
bool resolve_credentials(const Config& config, Credentials& out, std::string& warning,
                         std::string& error);

// In the worker, after fork: groups first, then gid, then uid (afterwards we no longer may).
bool drop_privileges(const Credentials& credentials, std::string& error);

}  // namespace sigver
