#pragma once
// The load generator's scenarios. Each prints its results as `name=value` lines on stdout
// (the driver script parses them), progress and problems on stderr, and returns the exit
// code: 0 when it ran to the end (whatever the figures), 1 when it could not run.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tls_client.h"

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

// Where the server is, shared by every scenario. Options read here, by every scenario:
//   --server-pid PID[,PID...]  roots of the process trees measured together (e.g. a TLS
//                              proxy and the server behind it); the first one is "the server"
//   --tls 1             wss:// instead of ws://: a full TLS handshake per connection ...
//   --tls-resume 1      ... unless this: each connection offers the last session received
//   --tls-ca FILE       verify the server's certificate against FILE (default: no check)
struct Target {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  pid_t server_pid = 0;            // root of the server's process tree, for /proc figures
  std::vector<pid_t> server_pids;  // server_pid first, then any other tree measured with it
  unsigned sources = 1;            // connections spread over 127.0.0.1 .. 127.0.0.<sources>
  std::shared_ptr<TlsClient> tls;  // null for ws://
  std::string source(size_t i) const;
};
// Exits with status 1 (after a `tls.error=` line) when the TLS options cannot be used.
Target target_from(const Args& args);
// `NAME.tls=...` and `NAME.tls_resumed=N` lines, when the target is wss://.
void print_tls(const char* name, const Target& target);

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
