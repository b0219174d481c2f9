#pragma once
// The byte forms of the worker-queue messages that carry more than raw bytes: a peer of a
// group that moves to another worker (kMigrate) and a new worker count (kResize). Pure
// functions, so that what a buggy or hostile worker could send is fuzzed without sockets
// (tests/fuzz/fuzz_queue.cc); worker_migrate.cc does the I/O.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "worker/protocol/generation.h"

namespace sigver {

// 2: generations (the peer's generation, generation 2's id and favored flag, tried values).
inline constexpr uint32_t kMigrationVersion = 2;
// A receiver refuses a group move announcing more peers than this.
inline constexpr uint32_t kMaxMigrationGroup = 1u << 20;

// Fixed part of a kMigrate message, followed by: tried indices, tried values (uint32 each),
// the key, the message being assembled, unread input, unsent output. Host byte order: both
// ends are the same binary on the same machine.
struct MigrationHeader {
  uint32_t version;
  int32_t source;
  uint64_t token;       // one group move from `source`
  uint32_t group_size;  // peers moving with this group
  uint32_t index;       // this peer's index among them
  int32_t member_position;
  int32_t bound_to;
  uint32_t id;
  uint32_t netflux_id;
  uint8_t up_open, down_open, missed_heartbeats, assembling, opcode, generation, favored, pad;
  uint32_t tried_count, tried_values_count, key_size, assembled_size, in_size, out_size;
};

// One kMigrate message. The views point into the decoded payload (or, for encoding, into
// whatever the sender holds).
struct MigratedPeer {
  MigrationHeader header{};
  std::vector<uint32_t> tried;         // indices of the members it was bound to
  std::vector<uint32_t> tried_values;  // or the generation's values for them
  std::string_view key;
  std::string_view assembled;  // the fragmented message being assembled
  std::string_view in;         // unread input (a partial frame)
  std::string_view out;        // unsent output
};

// The payload of a kMigrate message; the header's sizes are set from the parts.
std::string encode_migrated_peer(const MigratedPeer& peer);
// Parses a kMigrate payload. Fails (nullopt) when it is shorter than the header, has another
// version, sizes that do not add up to the payload exactly, or an index outside its group.
std::optional<MigratedPeer> decode_migrated_peer(std::string_view payload);

// The routing state `m` carries, for `peer` (the connection made for it on arrival).
ExportedPeer routing_state(const MigratedPeer& m, Peer& peer);

// The routing state of a move whose peers arrived where `arrived[i]` is true, in index order:
// `bound_to` and `tried` are renumbered to positions in the result, and references to peers
// that never arrived (or outside the group) are dropped.
std::vector<ExportedPeer> renumber_arrived(std::vector<ExportedPeer> state,
                                           const std::vector<bool>& arrived);

// The new worker count of a kResize payload (the master writes it as a host-order uint32).
// Fails when the payload is not exactly one count.
std::optional<uint32_t> decode_resize(std::string_view payload);

// A kHandoff payload: the client's address ticket as the sender counted it (so that the
// owner counts it without asking the kernel again), then every byte read from the socket.
struct Handoff {
  uint32_t client = 0;  // a ClientCounts::Ticket
  std::string_view bytes;
};
// The fixed part to send before the bytes.
std::string_view encode_handoff_head(uint32_t client, char (&out)[sizeof(uint32_t)]);
// Fails when the payload is shorter than its fixed part or the ticket is not one that
// ClientCounts makes.
std::optional<Handoff> decode_handoff(std::string_view payload);

}  // namespace sigver
