#pragma once
// Generation 2 (protocol-v2.md, netflux 4.1.3 .. 4.3.1): groups, joining on every connect,
// relay by senderId/recipientId, heartbeats and close codes, with no I/O. Every rule of
// protocol-v2.md lives here and in codec.*; the worker drives it through the Generation
// interface.
//
// A peer of this generation belongs to its key's Group from open() on, as one of the
// group's `peers` but neither a member nor bound: that is how it moves with its key between
// workers before its first connect, and no rule sees it until then (joining looks at members
// only, relays at bindings only), so it is sent nothing but heartbeats. The group's members
// are what protocol-v2.md calls the group: "no group for KEY" is a group with no member.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "worker/protocol/gen2/codec.h"
#include "worker/protocol/generation.h"
#include "worker/protocol/group_table.h"

namespace sigver::gen2 {

// protocol-v2.md's close codes.
namespace close_code {
inline constexpr uint16_t kBadKey = 4741;
inline constexpr uint16_t kHeartbeat = 4742;
inline constexpr uint16_t kBadMessage = 4743;
inline constexpr uint16_t kBlockingMember = 4744;
inline constexpr uint16_t kTryAgainLater = 1013;  // RFC 6455 7.4.1 (IANA registry)
}  // namespace close_code

class Router final : public Generation {
 public:
  Router(PeerOutput& output, uint64_t seed);

  // Generation
  void configure(const ProtocolSettings& settings) override { settings_ = settings; }
  // Sets peer.favored when the query has a parameter named `favored` (`favored`,
  // `favored=x`, `a=1&favored`; not `unfavored` nor `favoredx`), clears it otherwise.
  void read_query(Peer& peer, std::string_view query) const override;
  // The peer enters its key's list of peers and waits for its connect. An invalid key
  // closes it with 4741; a key already holding max_peers_per_key peers (those waiting for
  // their first connect included) closes it with 1013 (Try Again Later). Either way it
  // joins nothing.
  void open(Peer& peer, std::string_view key) override;
  // A binary message starting with 08 (heartbeat), 12 (content) or 1a (connect).
  bool claims_first(bool binary, const char* data, size_t size) const override;
  bool rejects_first(bool binary, const char* data, size_t size) const override;
  void message(Peer& peer, bool binary, const char* data, size_t size) override;
  void leave(Peer& peer) override;
  void tick(Peer& peer) override;
  std::vector<std::string> keys() const override;
  void export_group(std::string_view key, std::vector<ExportedPeer>& out) override;
  void import_group(std::string_view key, std::vector<ExportedPeer>& peers) override;
  const Group* find_group(std::string_view key) const override;
  GenerationCounters counters() const override;

  // The peer whose binding has this id (tests and the fuzz target's invariants).
  Peer* find_by_id(uint32_t id) const { return ids_.find(id); }
  size_t binding_count() const { return ids_.size(); }

 private:
  // Why a message closes its sender (4743), or nullptr if it does not.
  static const char* invalid(bool binary, const char* data, size_t size, DecodedMessage& decoded);
  void join(Peer& peer, const DecodedMessage& connect);
  bool overlaps(const Peer& peer, std::string_view connect);
  void become_member(Peer& peer);
  void stop_being_member(Peer& peer);
  void bind_to_next_member(Peer& peer);
  void bind(Peer& joiner, Peer& member);
  void end_binding(Peer& joiner);  // silently: forgets its id and member
  void end_joiners_of(Peer& member);
  void relay(Peer& from, const DecodedMessage& content);
  void send_connected(Peer& to, bool value);
  void send_heartbeat(Peer& to);
  void send_end_notice(Peer& to, uint32_t sender_id, uint32_t recipient_id);
  void send_content(Peer& to, uint32_t sender_id, uint32_t recipient_id, std::string_view data);
  void close(Peer& peer, uint16_t code, std::string_view reason);  // leaves, then closes

  PeerOutput& out_;
  ProtocolSettings settings_;
  uint64_t next_serial_ = 1;
  GenerationCounters counters_;
  std::vector<uint32_t> member_ids_;  // overlaps()' sorted ids, reused: keeps its capacity
  GroupTable groups_;
  BindingIds ids_;  // live binding ids (sigver's range: 1 .. 2^31) -> joining peer
};

}  // namespace sigver::gen2
