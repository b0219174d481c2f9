#pragma once
// The pid file: written by the running master, read by `sigverd -s` and init scripts.
#include <sys/types.h>

#include <string>

namespace sigver {

// Reads a pid file holding one positive decimal number. Returns false with an error that
// names the file.
bool read_pid_file(const std::string& path, pid_t& pid, std::string& error);

// True when `pid` names a process that exists (even one we may not signal).
bool process_exists(pid_t pid);

// Owns the pid file of this process: removes it on destruction, but only in the process that
// wrote it (forked children inherit the object and must leave the file alone).
class PidFile {
 public:
  PidFile() = default;
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  ~PidFile() { remove(); }

  // Refuses (false + error) when the file names another live process; a stale file is
  // replaced.
  static bool check_not_running(const std::string& path, std::string& error);
  // Writes getpid() to `path`.
  bool write(const std::string& path, std::string& error);
  void remove();

 private:
  std::string path_;
  pid_t owner_ = 0;
};

}  // namespace sigver
