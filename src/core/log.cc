#include "core/log.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace sigver::log {
namespace {

struct State {
  int fd = STDERR_FILENO;
  std::string path;  // "" = stderr
  Level level = Level::kInfo;
  int tag = -1;
};
State& state() {
  static State s;
  return s;
}

constexpr const char* kNames[] = {"debug", "info", "notice", "warn", "error", "crit"};

int open_append(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

}  // namespace

bool parse_level(const std::string& name, Level& out) {
  for (int i = 0; i < 6; ++i) {
    if (name == kNames[i]) {
      out = static_cast<Level>(i);
      return true;
    }
  }
  if (name == "warning") {
    out = Level::kWarn;
    return true;
  }
  return false;
}

const char* level_name(Level level) { return kNames[static_cast<int>(level)]; }

bool open(const std::string& path, std::string& error) {
  State& s = state();
  if (path.empty() || path == "stderr") {
    if (s.fd != STDERR_FILENO) ::close(s.fd);
    s.fd = STDERR_FILENO;
    s.path.clear();
    return true;
  }
  int fd = open_append(path);
  if (fd < 0) {
    error = "cannot open log file \"" + path + "\": " + std::strerror(errno);
    return false;
  }
  if (s.fd != STDERR_FILENO) ::close(s.fd);
  s.fd = fd;
  s.path = path;
  return true;
}

bool reopen(std::string& error) {
  State& s = state();
  if (s.path.empty()) return true;
  int fd = open_append(s.path);
  if (fd < 0) {
    error = "cannot reopen log file \"" + s.path + "\": " + std::strerror(errno);
    return false;
  }
  ::dup2(fd, s.fd);  // keep the descriptor number stable for forked children
  ::close(fd);
  return true;
}

void set_level(Level level) { state().level = level; }
Level level() { return state().level; }
void set_process_tag(int tag) { state().tag = tag; }

void vwrite(Level lvl, const char* fmt, va_list args) {
  State& s = state();
  char line[2048];
  time_t now = ::time(nullptr);
  struct tm tm;
  ::localtime_r(&now, &tm);
  int n = static_cast<int>(::strftime(line, sizeof line, "%Y/%m/%d %H:%M:%S", &tm));
  if (s.tag < 0) {
    n += std::snprintf(line + n, sizeof line - static_cast<size_t>(n),
                       " [%s] %d#master: ", level_name(lvl), static_cast<int>(::getpid()));
  } else {
    n += std::snprintf(line + n, sizeof line - static_cast<size_t>(n),
                       " [%s] %d#%d: ", level_name(lvl), static_cast<int>(::getpid()), s.tag);
  }
  int m = std::vsnprintf(line + n, sizeof line - static_cast<size_t>(n) - 1, fmt, args);
  if (m < 0) m = 0;
  size_t len = std::min(sizeof line - 2, static_cast<size_t>(n) + static_cast<size_t>(m));
  line[len++] = '\n';
  // One write() per line so lines of several processes sharing the file do not interleave.
  ssize_t rc = ::write(s.fd, line, len);
  (void)rc;
}

void write(Level lvl, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vwrite(lvl, fmt, args);
  va_end(args);
}

}  // namespace sigver::log
