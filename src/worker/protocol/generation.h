#pragma once
// The interface every Sigver protocol generation implements and the worker drives through
// ProtocolMux (mux.h): a generation owns its codec, its joining and relay rules and its close
// codes; the worker owns connections, WebSocket framing, handoffs and limits, and knows no
// Sigver message. Generation 1 is protocol.md (gen1/), generation 2 protocol-v2.md (gen2/).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "worker/protocol/peer.h"
#include "worker/protocol/peer_output.h"

namespace sigver {

// Settings a generation reads, from [protocol] and [limits]; applied again on HUP.
struct ProtocolSettings {
  int heartbeat_misses = 3;             // ticks without a heartbeat before the close
  uint32_t max_key_length = 512;        // longer keys are closed with the bad-key code
  size_t max_peers_per_key = SIZE_MAX;  // per group; the next peer is closed with 1013
};

// A peer's routing state in a form that can travel to another process (moving groups on a
// change of the worker count). One list carries every peer of a key, of every generation;
// references to other peers (bound_to, generation 1's tried) are indices into that whole
// list, and each generation reads only the entries of its own generation.
struct ExportedPeer {
  Peer* peer = nullptr;
  uint8_t generation = 0;    // 0: undecided (the lobby)
  int member_position = -1;  // index in the group's member order, -1 = not a member
  int bound_to = -1;         // index of the member its binding goes to, -1 = none
  uint32_t id = 0;           // routing id of that binding
  uint32_t netflux_id = 0;   // generation 2
  bool up_open = false;
  bool down_open = false;
  bool favored = false;  // generation 2
  uint8_t missed_heartbeats = 0;
  // Members it was bound to, as the generation chooses to remember them: `tried` holds
  // indices into the list (renumbered when peers go missing in transit), `tried_values`
  // opaque values carried as they are (e.g. generation 2's member ids).
  std::vector<uint32_t> tried;
  std::vector<uint32_t> tried_values;
};

struct GenerationCounters {
  size_t groups = 0;
  size_t peers = 0;                 // peers in a group
  uint64_t messages_relayed = 0;    // contents relayed from one peer to another
  uint64_t bytes_relayed = 0;       // their encoded bytes
  uint64_t heartbeat_timeouts = 0;  // peers closed for missing heartbeats
};

class Generation {
 public:
  virtual ~Generation() = default;
  virtual void configure(const ProtocolSettings& settings) = 0;
  // The request's query string (after '?'), when the peer finished its upgrade, before its
  // generation is known: a generation keeps what it needs of it in the Peer.
  virtual void read_query(Peer& /*peer*/, std::string_view /*query*/) const {}
  // A peer finished its upgrade on `key` (raw, not validated: an invalid key is closed with
  // this generation's code) and speaks this generation: it joins as this generation's rules
  // say (generation 1: at once; generation 2: it waits for its connect).
  virtual void open(Peer& peer, std::string_view key) = 0;
  // Whether a first data message starting this way is this generation's (detection, in
  // protocol-v2.md's "One port, two generations"). Same arguments as message().
  virtual bool claims_first(bool binary, const char* data, size_t size) const = 0;
  // Whether this generation closes a peer whose first data message is this one (detection:
  // such a peer is closed without joining). Same arguments as message().
  virtual bool rejects_first(bool binary, const char* data, size_t size) const = 0;
  // One complete data message from an open peer (binary or text, defragmented). The
  // generation may close the peer (through PeerOutput::close) before it returns.
  virtual void message(Peer& peer, bool binary, const char* data, size_t size) = 0;
  // The peer leaves (closed, or being closed): notify its bindings, leave its group.
  // Idempotent; a peer that never joined is a no-op.
  virtual void leave(Peer& peer) = 0;
  // A heartbeat interval passed for an open peer: counts a missed heartbeat, closes the peer
  // when too many were missed, else sends the server's heartbeat.
  virtual void tick(Peer& peer) = 0;

  // Moving groups between workers. export_group removes the key's group without telling
  // anyone and appends its peers' state to `out` (indices relative to the whole of `out`);
  // import_group installs the entries of `peers` of this generation (indices relative to the
  // whole of `peers`), merging with a group the key may already have here (its existing
  // members come after the imported ones, which are older).
  virtual std::vector<std::string> keys() const = 0;
  virtual void export_group(std::string_view key, std::vector<ExportedPeer>& out) = 0;
  virtual void import_group(std::string_view key, std::vector<ExportedPeer>& peers) = 0;
  virtual const Group* find_group(std::string_view key) const = 0;

  virtual GenerationCounters counters() const = 0;
};

}  // namespace sigver
