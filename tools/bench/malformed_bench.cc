// Malformed-input scenario: one connection joins, sends one bad frame, and we watch what the
// server does with it and whether all of its processes live through it.
//   --case unmasked       a client frame without the mask bit (RFC 6455 5.1: close 1002)
//   --case bad-opcode     reserved opcode 0x3
//   --case huge-length    64-bit payload length with its most significant bit set
//   --case bad-protobuf   a binary message that is no valid Message (truncated content)
//   --wait S              how long to wait for the server's reaction (default 3)
// Survival means: the root process is alive, no process of its tree disappeared (a master
// respawning a crashed worker does not count as surviving), and a fresh peer still joins.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "client_loop.h"
#include "proc_tree.h"
#include "scenarios.h"
#include "wire.h"

namespace bench {
namespace {

class JoinWatcher : public ClientHandler {
 public:
  void on_message(ClientLoop&, Conn& conn, std::string_view payload) override {
    if (decode_sigver(payload).type == SigverMessage::Type::kIsFirst) conn.tag = 1;
  }
};

// The bytes of each case; empty for an unknown name.
std::string malformed_bytes(const std::string& name) {
  const std::string heartbeat = encode_heartbeat();
  std::string out;
  if (name == "unmasked") {
    out = std::string("\x82\x02", 2) + heartbeat;
  } else if (name == "bad-opcode") {
    append_client_frame(out, 0x3, heartbeat);
  } else if (name == "huge-length") {
    // FIN+binary, mask bit + 127, length 0x8000000000000002, zero mask, 2 payload bytes.
    out = std::string("\x82\xFF\x80\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00", 14) + heartbeat;
  } else if (name == "bad-protobuf") {
    append_client_frame(out, kOpBinary, std::string("\x0A\x10\x01", 3));
  }
  return out;
}

std::string describe_close(const Conn& conn) {
  if (conn.state != ConnState::kClosed) return "no reaction";
  switch (conn.close_code) {
    case kClosedByEof:
      return "TCP closed without close frame";
    case kClosedByError:
      return "connection reset";
    case kClosedBadFrame:
      return "server sent an invalid frame";
    default:
      return "close " + std::to_string(conn.close_code);
  }
}

template <typename Done>
void run_until(ClientLoop& loop, double bound, Done done) {
  const auto start = Clock::now();
  while (!done() && seconds_since(start) < bound) loop.run_once(20);
}

}  // namespace

int run_malformed(const Args& args) {
  const Target target = target_from(args);
  const std::string name = args.text("case", "");
  const std::string bytes = malformed_bytes(name);
  const double wait = args.seconds("wait", 3);
  const std::string tag = args.text("tag", std::to_string(getpid()));
  if (bytes.empty()) {
    std::fprintf(stderr, "malformed: unknown --case '%s'\n", name.c_str());
    return 2;
  }
  const std::vector<pid_t> tree_before = process_tree(target.server_pid);

  JoinWatcher watcher;
  ClientLoop loop(target.host, target.port, watcher);
  Conn& victim = loop.conn(loop.connect(target.source(0), "bench-malformed-" + tag + "-" + name));
  run_until(loop, 5, [&] { return victim.tag == 1 || victim.state == ConnState::kClosed; });
  const bool joined = victim.tag == 1;
  loop.send_raw(victim, bytes);
  run_until(loop, wait, [&] { return victim.state == ConnState::kClosed; });
  const std::string reaction = describe_close(victim);
  run_until(loop, 0.5, [] { return false; });  // time for a crash to show, or a respawn

  Conn& probe =
      loop.conn(loop.connect(target.source(1), "bench-malformed-probe-" + tag + "-" + name));
  run_until(loop, 5, [&] { return probe.tag == 1 || probe.state == ConnState::kClosed; });
  const bool probe_joined = probe.tag == 1;

  const std::vector<pid_t> tree_after = process_tree(target.server_pid);
  size_t lost = 0;
  for (pid_t pid : tree_before) {
    if (std::find(tree_after.begin(), tree_after.end(), pid) == tree_after.end()) ++lost;
  }
  std::string verdict = "survived";
  if (!process_alive(target.server_pid)) {
    verdict = "CRASHED (server exited)";
  } else if (lost != 0) {
    verdict = "CRASHED (" + std::to_string(lost) + " process(es) died" +
              (tree_after.size() >= tree_before.size() ? ", respawned)" : ")");
  } else if (!probe_joined) {
    verdict = "alive but a new peer cannot join";
  }
  std::printf("malformed.case=%s\n", name.c_str());
  std::printf("malformed.joined_before=%s\n", joined ? "yes" : "no");
  std::printf("malformed.reaction=%s\n", reaction.c_str());
  std::printf("malformed.verdict=%s\n", verdict.c_str());
  std::printf("malformed.survived=%s\n", verdict == "survived" ? "yes" : "no");
  return 0;
}

}  // namespace bench
