#pragma once
// Handing a running server over to a new binary (`sigverd -s upgrade`, SIGUSR2): what the
// old master tells the new one it starts. What any two versions must understand of each
// other is fixed here for good, so that an upgrade to a binary that speaks another handover
// version still goes through, as a drain (like nginx: the old workers stop accepting and
// serve their peers until they leave):
// - the environment variable: "VERSION;name=value;..." with at least the fields control,
//   plain, tls, status, listen, listen_tls and status_listen (fields a version does not
//   know are ignored);
// - the new master's first control message, kHello: a magic number, then its version;
// - the commit: kCommit from the old master, answered with kCommit by the new master once
//   it is the one serving (the old master commits its own workers only then, so a new
//   master that dies at the switch is rolled back, not committed to).
// The rest (the fields queues and count, the hello's worker count and queues, kUpgrade and
// the group moves) exists only between masters of the same version.
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

  // Groups can move only between masters of one version.
  bool same_version() const { return version == kHandoverVersion; }
};

std::string encode_handover_env(const HandoverEnv& env);
// Fails (nullopt) when a field every version sends is missing or malformed, a field comes
// twice, or (from our own version) queues or count is missing or malformed. From another
// version, queues is read when it parses (its descriptors are then closed unused) and
// count is not.
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
