#pragma once
// Leveled logging to stderr or a file, in nginx's format:
//   2026/11/26 09:00:00 [warn] 1234#0: message
// The file can be reopened (USR1) for log rotation. Not thread-safe: one per process.
// A write that fails (disk full, I/O error, file-size limit) never blocks, retries in a loop
// or stops the process: the line is counted as lost, and the first line that can be written
// again is preceded by one line saying how many were lost and why:
//   ... [warn] 1234#0: error log: 12 lines lost while writing failed: No space left on device
#include <cstdarg>
#include <string>

namespace sigver::log {

enum class Level { kDebug = 0, kInfo, kNotice, kWarn, kError, kCrit };

bool parse_level(const std::string& name, Level& out);
const char* level_name(Level level);

// Opens `path` for appending ("stderr" or "" = standard error). Returns false with `error`.
bool open(const std::string& path, std::string& error);
// Reopens the current file (after rotation). Keeps the old descriptor on failure.
bool reopen(std::string& error);
void set_level(Level level);
Level level();
// The number after '#' in each line (the worker index; -1 = master, shown as "master").
void set_process_tag(int tag);

void write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void vwrite(Level level, const char* fmt, va_list args);

}  // namespace sigver::log

#define SIGVER_LOG(lvl, ...)                                        \
  do {                                                              \
    if (::sigver::log::Level::lvl >= ::sigver::log::level())        \
      ::sigver::log::write(::sigver::log::Level::lvl, __VA_ARGS__); \
  } while (0)
#define LOG_DEBUG(...) SIGVER_LOG(kDebug, __VA_ARGS__)
#define LOG_INFO(...) SIGVER_LOG(kInfo, __VA_ARGS__)
#define LOG_NOTICE(...) SIGVER_LOG(kNotice, __VA_ARGS__)
#define LOG_WARN(...) SIGVER_LOG(kWarn, __VA_ARGS__)
#define LOG_ERROR(...) SIGVER_LOG(kError, __VA_ARGS__)
#define LOG_CRIT(...) SIGVER_LOG(kCrit, __VA_ARGS__)
