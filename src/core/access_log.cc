#include "core/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace sigver {

bool AccessLog::open(const std::string& path, std::string& error) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) {
    error = "cannot open access_log " + path + ": " + std::strerror(errno);
    return false;
  }
  path_ = path;
  fd_ = std::move(fd);
  return true;
}

bool AccessLog::reopen(std::string& error) {
  if (path_.empty()) return true;
  return open(path_, error);
}

void AccessLog::write(std::string_view line) {
  if (!fd_) return;
  const ssize_t n = ::write(fd_.get(), line.data(), line.size());
  if (n == static_cast<ssize_t>(line.size())) {
    if (lost_ != 0) {
      LOG_WARN("access log: %llu lines could not be written before this one",
               static_cast<unsigned long long>(lost_));
      lost_ = 0;
    }
    return;
  }
  if (lost_++ == 0)
    LOG_ERROR("access log %s: write failed: %s", path_.c_str(), std::strerror(errno));
}

}  // namespace sigver
