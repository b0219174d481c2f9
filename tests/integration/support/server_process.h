#pragma once
// Runs the real sigverd binary for one test: writes a temporary INI config that listens on a
// free 127.0.0.1 port, spawns the binary, waits until it accepts TCP connections, and on
// destruction stops it (SIGTERM, then SIGKILL after 5 s) and removes the temporary files.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/unique_fd.h"

namespace sigver::itest {

struct ServerConfig {
  // Extra "key = value" lines for each section. `listen`, `log_level` and `error_log` are
  // always written by ServerProcess and must not be repeated here.
  std::vector<std::string> server{};
  std::vector<std::string> protocol{};
  // [limits]. Unless a line here sets them, max_connections_per_ip and
  // max_messages_per_second are written as 0 (off): most tests open hundreds of
  // connections from 127.0.0.1 and send as fast as they can.
  std::vector<std::string> limits{};
  // More [log] lines (access_log, ...).
  std::vector<std::string> log{};
  // When non-empty, the binary is run with these arguments instead of `-c CONFIG`; the
  // literal "{port}" in an argument is replaced by the chosen port (for the seed's CLI).
  std::vector<std::string> args{};
  // The address of `listen` (the port is always chosen by ServerProcess). 0.0.0.0 only in a
  // network namespace the test made, where other addresses than loopback can reach it.
  std::string listen_address = "127.0.0.1";
  // When > 0, the server runs with this open-file limit (RLIMIT_NOFILE, soft and hard), set
  // in the child before exec, so the master and its workers inherit it.
  int open_files = 0;
  // Where the error log goes; empty = error.log in the temporary directory. log_text()
  // reads it wherever it is.
  std::string error_log{};
};

class ServerProcess {
 public:
  ServerProcess(std::string binary, ServerConfig config);
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // True once the server accepted a TCP connection on port(); false if it exited or did not
  // accept within the start-up bound. diagnostics() explains why.
  bool ready() const { return ready_; }
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string config_text() const { return config_text_; }
  // The INI file the server reads (also on SIGHUP): tests may rewrite it before a reload.
  const std::string& config_path() const { return config_path_; }
  std::string log_text() const;     // content of the error log
  std::string output_text() const;  // what the process wrote to stdout/stderr
  std::string diagnostics() const;  // why it is not ready, plus config, log and output

  // True while the child has not exited (reaps it if it has).
  bool running();
  // Sends `signal` to the child (not its workers); false if it is not running.
  bool send_signal(int signal);
  // Waits up to `bound` for the child to exit; returns its wait status, -1 if still running.
  int wait_exit(std::chrono::milliseconds bound);
  // Sends SIGTERM and waits up to `grace` for the exit; SIGKILLs the child's process group
  // after that. Returns the wait status (-1 if nothing to stop). Idempotent.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  bool start_once(const std::string& binary, const ServerConfig& config);
  bool wait_until_accepting(std::chrono::milliseconds bound);

  std::string dir_;  // temporary directory holding config, log and output
  std::string config_path_;
  std::string log_path_;
  std::string output_path_;
  std::string config_text_;
  std::string failure_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  int exit_status_ = -1;
  bool ready_ = false;
};

// Finds a port that is free right now on 127.0.0.1 by binding port 0.
uint16_t find_free_port();
// A blocking TCP connection to 127.0.0.1:port, or an invalid fd if it was refused.
UniqueFd connect_loopback(uint16_t port);

// Reads a whole file ("" if it cannot be read).
std::string read_file_text(const std::string& path);

}  // namespace sigver::itest
