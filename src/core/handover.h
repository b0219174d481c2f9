#pragma once
// Handing a running server over to a new binary (`sigverd -s upgrade`, SIGUSR2): what the
// old master tells the new one it starts. Two parts are fixed for every version, so that
// any two versions can at least tell each other apart: the environment variable begins with
// the sender's handover version and the control socket's descriptor, and the new master's
// first control message (kHello) begins with a magic number and its version. Everything
// else (the rest of the variable, the other messages, the group moves) may change with the
// version; a master that meets another version does not move groups, it drains (like
// nginx's old workers: they stop accepting and serve their peers until they leave).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sigver {

// The handover format this binary speaks (handover_version.cc, so that a test build can
// link another value).
extern const uint32_t kHandoverVersion;

inline constexpr const char* kHandoverEnvVar = "SIGVERD_UPGRADE";

// What the new master inherits. Descriptors are numbers valid in the new master (inherited
// through exec).
struct HandoverEnv {
  uint32_t version = 0;
  int control = -1;                // SOCK_SEQPACKET to the old master
  std::vector<int> listeners;      // `listen` (one per old worker, one SO_REUSEPORT group)
  std::vector<int> tls_listeners;  // `listen_tls`
  int status = -1;                 // status_listen, -1 = none
  std::vector<int> old_queues;     // send ends of the old workers' queues (for a rollback)
  int old_count = 0;               // the old workers' hash ring size
  std::string listen;              // the address `listeners` are bound to ("" = none)
  std::string listen_tls;          // ... `tls_listeners`
  std::string status_listen;       // ... `status`
};

std::string encode_handover_env(const HandoverEnv& env);
// Fails (nullopt) on anything but what encode_handover_env makes for the same version.
// Only the version is read when it differs from ours (`env.version` then tells it).
std::optional<HandoverEnv> decode_handover_env(std::string_view text);

// The new master's first control message: who it is and how many workers it started; its
// workers' queue send ends travel with it.
struct HandoverHello {
  uint32_t version = 0;
  uint32_t workers = 0;
};
inline constexpr uint32_t kHandoverMagic = 0x53475655;  // "SGVU"
std::string encode_hello(const HandoverHello& hello);
// Reads the magic and the version of any version's hello; the worker count only of ours.
std::optional<HandoverHello> decode_hello(std::string_view payload);

// kUpgrade, master -> old worker: move every group to the new workers, whose queue send
// ends travel with it; the ring size is their count.
std::string encode_upgrade(uint32_t new_count);
std::optional<uint32_t> decode_upgrade(std::string_view payload);

}  // namespace sigver
