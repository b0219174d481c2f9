#include "core/log.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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
  // Lines that could not be written since the first failure, and why the first one failed.
  // Counted per process: `lost_pid` tells a child that the count it inherited is its
  // parent's, which the parent reports itself.
  unsigned long long lost = 0;
  int lost_errno = 0;
  pid_t lost_pid = 0;
  bool torn = false;  // a failed write of ours left part of a line (no newline) in the file
};
State& state() {
  static State s;
  return s;
}

constexpr const char* kNames[] = {"debug", "info", "notice", "warn", "error", "crit"};
// A failed write is retried this often at most (EINTR, the rest of a short write): logging
// must never spin on a disk that stays full.
constexpr int kWriteAttempts = 4;

int open_append(const std::string& path) {
  // Readable too when allowed, so that ends_mid_line() can look at the last byte.
  const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0 || errno != EACCES) return fd;
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

// True when the file does not end with a newline: a write that failed half-way, in this
// process or in another one sharing the file, left part of a line. `torn` (this process
// tore a line) answers when the file cannot be read (stderr, a pipe).
bool ends_mid_line(int fd, bool torn) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return torn;
  if (st.st_size == 0) return false;
  char last = 0;
  if (::pread(fd, &last, 1, st.st_size - 1) != 1) return torn;
  return last != '\n';
}

// "2026/11/26 09:00:00 [warn] 1234#0: " into `out`; returns its length.
size_t format_prefix(char* out, size_t size, Level lvl, const State& s) {
  time_t now = ::time(nullptr);
  struct tm tm;
  ::localtime_r(&now, &tm);
  int n = static_cast<int>(::strftime(out, size, "%Y/%m/%d %H:%M:%S", &tm));
  if (s.tag < 0) {
    n += std::snprintf(out + n, size - static_cast<size_t>(n), " [%s] %d#master: ", level_name(lvl),
                       static_cast<int>(::getpid()));
  } else {
    n += std::snprintf(out + n, size - static_cast<size_t>(n), " [%s] %d#%d: ", level_name(lvl),
                       static_cast<int>(::getpid()), s.tag);
  }
  return std::min(static_cast<size_t>(n), size - 1);
}

// Writes the whole line or reports the errno that stopped it (a short write is finished
// with a second write, which on a full disk fails and tells why). Sets `torn` when part
// of the line is in the file without its newline.
int write_line(int fd, const char* line, size_t len, bool& torn) {
  size_t done = 0;
  int error = EIO;
  for (int attempt = 0; attempt < kWriteAttempts && done < len; ++attempt) {
    const ssize_t n = ::write(fd, line + done, len - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    error = n < 0 ? errno : EIO;
    break;
  }
  if (done == len) return 0;
  if (done > 0) torn = true;
  return error;
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
  // A log file past the file-size limit must lose lines (counted below), not kill the
  // process: SIGXFSZ would otherwise end it on the write that crosses the limit.
  ::signal(SIGXFSZ, SIG_IGN);
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
  size_t n = format_prefix(line, sizeof line, lvl, s);
  int m = std::vsnprintf(line + n, sizeof line - n - 1, fmt, args);
  if (m < 0) m = 0;
  size_t len = std::min(sizeof line - 2, n + static_cast<size_t>(m));
  line[len++] = '\n';

  const pid_t pid = ::getpid();
  if (s.lost > 0 && s.lost_pid != pid) {
    s.lost = 0;  // inherited across fork: the parent reports its own losses
    s.torn = false;
  }
  if (s.lost > 0) {
    // Before anything else, say once how many lines are missing from the file and why, on
    // a line of its own even if a failed write left half a line behind. If the file still
    // takes nothing, this line is lost too and the count goes on.
    char note[512];
    size_t k = 0;
    if (ends_mid_line(s.fd, s.torn)) note[k++] = '\n';
    k += format_prefix(note + k, sizeof note - k, Level::kWarn, s);
    const int w = std::snprintf(note + k, sizeof note - k - 1,
                                "error log: %llu lines lost while writing failed: %s", s.lost,
                                std::strerror(s.lost_errno));
    k = std::min(sizeof note - 2, k + static_cast<size_t>(w < 0 ? 0 : w));
    note[k++] = '\n';
    bool torn = false;
    if (write_line(s.fd, note, k, torn) != 0) {
      ++s.lost;
      s.torn = s.torn || torn;
      return;
    }
    s.lost = 0;
    s.torn = false;
  }
  // One write() per line so lines of several processes sharing the file do not interleave.
  bool torn = false;
  if (const int error = write_line(s.fd, line, len, torn); error != 0) {
    if (s.lost++ == 0) {
      s.lost_errno = error;
      s.lost_pid = pid;
    }
    s.torn = s.torn || torn;
  }
}

void write(Level lvl, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  vwrite(lvl, fmt, args);
  va_end(args);
}

}  // namespace sigver::log
