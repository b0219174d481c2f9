#pragma once
// The worker's one entry into the Sigver protocol: it decides each connection's generation
// (protocol-v2.md, "One port, two generations") and hands the connection to that
// generation from then on. The worker gives it connections as Peers and WebSocket data
// messages as bytes; it never sees a Sigver message type.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "worker/protocol/generation.h"
#include "worker/protocol/group_table.h"

namespace sigver {

struct MuxSettings {
  bool generation1 = true;
  bool generation2 = true;
  uint64_t heartbeat_interval_ms = 5000;
  // How long a silent client may take before it counts as generation 1: a few round trips
  // (kRoundTrips), within [detect_min_ms, detect_max_ms].
  uint64_t detect_min_ms = 100;
  uint64_t detect_max_ms = 1000;
  ProtocolSettings protocol;
};

class ProtocolMux final : private PeerOutput {
 public:
  static constexpr uint64_t kRoundTrips = 4;

  // `out` is the worker's; the generations write through the mux, which notes what they
  // send and whom they close.
  ProtocolMux(PeerOutput& out, uint64_t seed);
  ~ProtocolMux() override;
  void configure(const MuxSettings& settings);

  // A peer finished its upgrade on `key` (raw) with this query string. Returns the delay in
  // ms until its first tick().
  uint64_t open(Peer& peer, std::string_view key, std::string_view query);
  // One complete data message from an open peer (binary or text, defragmented).
  void message(Peer& peer, bool binary, const char* data, size_t size);
  // The peer leaves (closed, or being closed). Idempotent.
  void leave(Peer& peer);
  // The peer's timer fired: ends detection or runs its generation's heartbeat. Returns the
  // delay in ms until the next tick (meaningless when the peer was closed).
  uint64_t tick(Peer& peer);

  // Moving every peer of a key, of every generation and those undecided (see Generation).
  std::vector<std::string> keys() const;
  std::vector<Peer*> peers_of(std::string_view key) const;
  std::vector<ExportedPeer> export_key(std::string_view key);
  // Installs what arrived; then next_tick_ms() says when each peer's timer fires.
  void import_key(std::string_view key, std::vector<ExportedPeer>& peers);
  uint64_t next_tick_ms(Peer& peer);
  // Whether the peer's next tick is a heartbeat: those all come one heartbeat interval
  // apart (the worker keeps them in a queue in arrival order); the others are detection
  // waits of their own length.
  bool ticks_periodically(const Peer& peer) const { return !peer.detecting; }
  // Bytes of routing state a move of this peer carries besides its fixed header (its tried
  // list, each entry as an index and as a value): for the worker's size check.
  size_t moved_state_bytes(const Peer& peer) const { return peer.tried.size() * 8; }

  GenerationCounters counters() const;  // summed over the generations
  size_t undecided() const { return lobby_.peer_count(); }
  Generation& generation(int number) const { return number == 2 ? *gen2_ : *gen1_; }

 private:
  // PeerOutput, for the generations.
  char* begin_message(Peer& to, size_t size) override { return out_.begin_message(to, size); }
  void end_message(Peer& to, size_t size) override;
  void close(Peer& peer, uint16_t code, std::string_view reason) override;
  uint32_t round_trip_us(Peer& peer) override { return out_.round_trip_us(peer); }

  uint64_t detect_ms(Peer& peer);
  bool detecting() const { return settings_.generation1 && settings_.generation2; }
  // The generation a first data message makes a new peer (1 or 2), among those enabled.
  int choose(bool binary, const char* data, size_t size) const;
  // Moves an undecided peer out of the lobby into generation `number`, which opens it on
  // its key. False when the generation closed it.
  bool decide(Peer& peer, int number);
  void enter_lobby(Peer& peer, std::string_view key);
  void leave_lobby(Peer& peer);
  // A generation-1 peer whose first data message is generation 2's and that was sent
  // nothing but isFirst ("Late generation 2").
  bool switches_late(const Peer& peer, bool binary, const char* data, size_t size) const;

  PeerOutput& out_;
  MuxSettings settings_;
  std::unique_ptr<Generation> gen1_;
  std::unique_ptr<Generation> gen2_;
  // Undecided peers by key (generation 0): they move with their key like any group.
  GroupTable lobby_;
};

}  // namespace sigver
