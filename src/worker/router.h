#pragma once
// Groups and relays: the rules of protocol.md "Joining" and "Relay", with no I/O. The worker
// owns the connections and gives the router a PeerOutput to write messages through, so the
// rules can be tested with a fake output.
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "worker/codec.h"
#include "worker/peer.h"

namespace sigver {

struct Group {
  std::string key;
  std::vector<Peer*> members;  // in the order they became members
  std::vector<Peer*> peers;    // every peer of the key (members and joiners)
};

class PeerOutput {
 public:
  virtual ~PeerOutput() = default;
  // Room for an encoded message of `size` bytes to `to`, or nullptr if `to` cannot take it
  // (closing, or its outbound queue is over the bound: then the output closes it later).
  virtual char* begin_message(Peer& to, size_t size) = 0;
  virtual void end_message(Peer& to, size_t size) = 0;
  // Closes `peer` with a WebSocket close code. The router has already removed it from its
  // group; the output must not call back into the router for it.
  virtual void close(Peer& peer, uint16_t code, std::string_view reason) = 0;
};

// A peer's routing state in a form that can travel to another process: references to other
// peers are indices into the same exported list.
struct ExportedPeer {
  Peer* peer = nullptr;
  int member_position = -1;  // index in the group's member order, -1 = not a member
  int bound_to = -1;         // index of the member its binding goes to, -1 = none
  uint32_t id = 0;
  bool up_open = false;
  bool down_open = false;
  std::vector<uint32_t> tried;  // indices of members it was bound to
};

class Router {
 public:
  explicit Router(PeerOutput& output, uint64_t seed);

  // A peer finished its upgrade on `key` (already validated): join its group. Returns false
  // when the key already holds max_peers_per_key peers: the peer is then closed with 1013
  // (Try Again Later) and joins nothing.
  bool on_open(Peer& peer, std::string_view key);
  void set_max_peers_per_key(size_t n) { max_peers_per_key_ = n; }
  // A decoded message of type content, stable or tryAnother (others are the worker's).
  void on_message(Peer& peer, const DecodedMessage& message);
  // The peer leaves (closed, or being closed): notify its bindings, leave its group.
  // Idempotent.
  void on_leave(Peer& peer);

  // Moving groups between workers (on a change of the worker count). export_group removes
  // the group without telling anyone and returns its peers' state; import_group installs
  // peers that arrived, merging with a group the key may already have here (its existing
  // members come after the imported ones, which are older).
  std::vector<ExportedPeer> export_group(std::string_view key);
  void import_group(std::string_view key, std::vector<ExportedPeer>& peers);
  std::vector<std::string> keys() const;

  size_t group_count() const { return groups_.size(); }
  size_t peer_count() const { return peers_; }  // peers in a group
  // Contents relayed from one peer to another, and their encoded bytes.
  uint64_t messages_relayed() const { return messages_relayed_; }
  uint64_t bytes_relayed() const { return bytes_relayed_; }
  const Group* find_group(std::string_view key) const;
  Peer* find_by_id(uint32_t id) const;
  // Live routing ids; tests compare it with the bindings their peers hold.
  size_t binding_count() const { return ids_.size(); }

 private:
  Group& group_for(std::string_view key);  // finds or creates
  void join(Peer& peer);
  void become_member(Peer& peer);
  void bind(Peer& joiner, Peer& member);
  void end_binding(Peer& joiner);  // forget joiner's binding (id and member)
  void relay(Peer& from, const DecodedMessage& message);
  void send_flag(Peer& to, uint32_t field_number, bool value);
  void send_end_notice(Peer& to, uint32_t id);
  void send_content(Peer& to, std::string_view content, uint32_t id);
  void remove_member(Peer& peer);
  uint32_t fresh_id();

  PeerOutput& out_;
  size_t max_peers_per_key_ = SIZE_MAX;
  std::mt19937_64 rng_;
  uint64_t next_serial_ = 1;
  size_t peers_ = 0;
  uint64_t messages_relayed_ = 0;
  uint64_t bytes_relayed_ = 0;
  std::unordered_map<std::string_view, std::unique_ptr<Group>>
      groups_;                               // key views into Group::key
  std::unordered_map<uint32_t, Peer*> ids_;  // live routing ids -> joining peer
};

}  // namespace sigver
