#pragma once
// Bookkeeping every generation needs the same way: its groups by key, its live binding ids,
// and writing a small ready-made message to a peer. The rules that use them stay in each
// generation.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "worker/protocol/generation.h"
#include "worker/protocol/peer.h"
#include "worker/protocol/peer_output.h"

namespace sigver {

// Removes the first `p` from `list`, if there is one.
void erase_peer(std::vector<Peer*>& list, const Peer* p);
// Index of `p` in `list`, or -1.
int position_of(const std::vector<Peer*>& list, const Peer* p);

// The groups of one generation, by key.
class GroupTable {
 public:
  Group* find(std::string_view key) const;
  Group& find_or_create(std::string_view key);
  void erase(const Group& group);  // destroys it
  std::vector<std::string> keys() const;
  size_t size() const { return groups_.size(); }
  size_t peer_count() const;  // in every group

 private:
  std::unordered_map<std::string_view, std::unique_ptr<Group>> groups_;  // keys view Group::key
};

// The live binding ids of one generation, each naming its joining peer: random, non-zero,
// at most `max_id`, unique among the live ones. A fresh id is rng() % max_id + 1 (generation
// 2: sigver's 1 .. 2^31), or with max_id 0 the low 32 bits of rng(), 0 drawn again
// (generation 1: any uint32 but 0).
class BindingIds {
 public:
  BindingIds(uint64_t seed, uint32_t max_id) : rng_(seed), max_id_(max_id) {}
  uint32_t add(Peer& joiner);                  // draws a fresh id
  bool claim(uint32_t id, Peer& joiner);       // an id that arrived with its group
  void erase(uint32_t id) { ids_.erase(id); }  // 0 or unknown: nothing
  // Inline: every relayed content of a member looks its recipient up here.
  Peer* find(uint32_t id) const {
    auto it = ids_.find(id);
    return it == ids_.end() ? nullptr : it->second;
  }
  size_t size() const { return ids_.size(); }

 private:
  std::mt19937_64 rng_;
  uint32_t max_id_;
  std::unordered_map<uint32_t, Peer*> ids_;
};

// Puts `peer` among the peers of its key's group, or closes it: with `bad_key_code` for an
// empty key or one longer than max_key_length, with 1013 (Try Again Later) when the key
// already holds max_peers_per_key peers. Returns false when it closed the peer.
bool admit(Peer& peer, std::string_view key, const ProtocolSettings& settings, GroupTable& groups,
           PeerOutput& out, uint16_t bad_key_code);

// Moving a group (Generation::export_group and import_group): what every generation does
// alike. export_routing appends one entry per peer of `group` with the state the joining
// rules keep (generation, member position, binding, its directions, missed heartbeats);
// forget_routing then drops that state from the peers, and their ids from `ids`.
void export_routing(const Group& group, uint8_t generation, std::vector<ExportedPeer>& out);
void forget_routing(const Group& group, BindingIds& ids);
// Installs the entries of `generation` into `group`: imported members first, in their old
// order, then the ones it had here; the bindings the joining rules could have made (to
// another imported member, with an id no live binding here has) are restored, any other is
// dropped. Returns how many peers it installed.
size_t import_routing(Group& group, uint8_t generation, std::vector<ExportedPeer>& peers,
                      BindingIds& ids);

// Writes a message already encoded in `data` to `to`, unless `to` cannot take it.
inline void send_bytes(PeerOutput& out, Peer& to, const char* data, size_t size) {
  if (char* p = out.begin_message(to, size)) {
    std::copy(data, data + size, p);
    out.end_message(to, size);
  }
}

}  // namespace sigver
