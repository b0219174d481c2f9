#pragma once
// The load generator's scenarios. Each prints its results as `name=value` lines on stdout
// (the driver script parses them), progress and problems on stderr, and returns the exit
// code: 0 when it ran to the end (whatever the figures), 1 when it could not run.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace bench {

class Args {
 public:
  // Parses `--name value` pairs; false (with `error` set) on anything else.
  bool parse(int argc, char** argv, int first, std::string& error);
  std::string text(const std::string& name, const std::string& fallback) const;
  uint64_t number(const std::string& name, uint64_t fallback) const;
  double seconds(const std::string& name, double fallback) const;

 private:
  std::map<std::string, std::string> values_;
};

// Where the server is, shared by every scenario.
struct Target {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  pid_t server_pid = 0;  // root of the server's process tree, for /proc figures
  unsigned sources = 1;  // connections spread over 127.0.0.1 .. 127.0.0.<sources>
  std::string source(size_t i) const;
};
Target target_from(const Args& args);

// Relay: P member/joiner pairs bounce ICE-candidate-sized contents, one in flight per pair.
int run_relay(const Args& args);
// Idle: N peers on N/k keys join and stay, answering heartbeats; memory per peer.
int run_idle(const Args& args);
// Handshake: peers that connect, join a key of their own and leave; server CPU per peer.
int run_handshake(const Args& args);
// Malformed: one bad frame on a fresh connection; did the server (all its processes) live?
int run_malformed(const Args& args);

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start);

}  // namespace bench
