#include "worker/protocol/group_table.h"

namespace sigver {
namespace {

constexpr uint16_t kTryAgainLater = 1013;  // RFC 6455 7.4.1 (IANA registry)

}  // namespace

void erase_peer(std::vector<Peer*>& list, const Peer* p) {
  auto at = std::find(list.begin(), list.end(), p);
  if (at != list.end()) list.erase(at);
}

int position_of(const std::vector<Peer*>& list, const Peer* p) {
  auto at = std::find(list.begin(), list.end(), p);
  return at == list.end() ? -1 : static_cast<int>(at - list.begin());
}

Group* GroupTable::find(std::string_view key) const {
  auto it = groups_.find(key);
  return it == groups_.end() ? nullptr : it->second.get();
}

Group& GroupTable::find_or_create(std::string_view key) {
  auto it = groups_.find(key);
  if (it == groups_.end()) {
    auto group = std::make_unique<Group>();
    group->key = std::string(key);
    std::string_view stored = group->key;  // the map's key views the group's own copy
    it = groups_.emplace(stored, std::move(group)).first;
  }
  return *it->second;
}

void GroupTable::erase(const Group& group) { groups_.erase(std::string_view(group.key)); }

size_t GroupTable::peer_count() const {
  size_t n = 0;
  for (const auto& [key, group] : groups_) n += group->peers.size();
  return n;
}

std::vector<std::string> GroupTable::keys() const {
  std::vector<std::string> out;
  out.reserve(groups_.size());
  for (const auto& [key, group] : groups_) out.emplace_back(key);
  return out;
}

uint32_t BindingIds::add(Peer& joiner) {
  for (;;) {
    const uint64_t r = rng_();
    const auto id = static_cast<uint32_t>(max_id_ != 0 ? r % max_id_ + 1 : r);
    if (id != 0 && ids_.emplace(id, &joiner).second) return id;
  }
}

bool BindingIds::claim(uint32_t id, Peer& joiner) {
  return id != 0 && ids_.emplace(id, &joiner).second;
}

bool admit(Peer& peer, std::string_view key, const ProtocolSettings& settings, GroupTable& groups,
           PeerOutput& out, uint16_t bad_key_code) {
  if (key.empty() || key.size() > settings.max_key_length) {
    out.close(peer, bad_key_code, key.empty() ? "key is empty" : "key is too long");
    return false;
  }
  if (const Group* group = groups.find(key);
      group && group->peers.size() >= settings.max_peers_per_key) {
    out.close(peer, kTryAgainLater, "too many peers on this key, try again later");
    return false;
  }
  peer.group = &groups.find_or_create(key);
  peer.group->peers.push_back(&peer);
  return true;
}

void export_routing(const Group& group, uint8_t generation, std::vector<ExportedPeer>& out) {
  const size_t base = out.size();
  for (Peer* p : group.peers) {
    ExportedPeer& e = out.emplace_back();
    e.peer = p;
    e.generation = generation;
    e.member_position = p->is_member ? position_of(group.members, p) : -1;
    const int bound_to = p->member ? position_of(group.peers, p->member) : -1;
    e.bound_to = bound_to < 0 ? -1 : static_cast<int>(base) + bound_to;
    e.id = p->id;
    e.up_open = p->up_open;
    e.down_open = p->down_open;
    e.missed_heartbeats = p->missed_heartbeats;
  }
}

void forget_routing(const Group& group, BindingIds& ids) {
  for (Peer* p : group.peers) {
    ids.erase(p->id);
    p->group = nullptr;
    p->member = nullptr;
    p->id = 0;
    p->up_open = p->down_open = p->is_member = false;
    p->tried.clear();
  }
}

size_t import_routing(Group& group, uint8_t generation, std::vector<ExportedPeer>& peers,
                      BindingIds& ids) {
  auto entry = [&peers, generation](int index) -> const ExportedPeer* {
    if (index < 0 || static_cast<size_t>(index) >= peers.size()) return nullptr;
    const ExportedPeer& e = peers[static_cast<size_t>(index)];
    return e.generation == generation ? &e : nullptr;
  };
  size_t installed = 0;
  std::vector<std::pair<int, Peer*>> ordered;  // imported members by their old position
  for (ExportedPeer& e : peers) {
    if (e.generation != generation) continue;
    Peer& p = *e.peer;
    p.group = &group;
    p.generation = generation;
    p.member = nullptr;
    p.id = 0;
    p.up_open = p.down_open = false;
    p.is_member = e.member_position >= 0;
    p.missed_heartbeats = e.missed_heartbeats;
    p.tried.clear();
    group.peers.push_back(&p);
    ++installed;
    if (p.is_member) ordered.emplace_back(e.member_position, &p);
  }
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Peer*> members;
  members.reserve(ordered.size() + group.members.size());
  for (const auto& [position, p] : ordered) members.push_back(p);
  members.insert(members.end(), group.members.begin(), group.members.end());
  group.members = std::move(members);
  for (ExportedPeer& e : peers) {
    if (e.generation != generation) continue;
    Peer& p = *e.peer;
    const ExportedPeer* target = entry(e.bound_to);
    // A binding the sender made up (a buggy or hostile worker) is dropped rather than
    // relayed along. Ids are random, so a clash with a local one is rare; the member knows
    // the binding by its id only, so a clash can only end it.
    if (target && target->member_position >= 0 && target->peer != &p && ids.claim(e.id, p)) {
      p.member = target->peer;
      p.id = e.id;
      p.up_open = e.up_open;
      p.down_open = e.down_open;
    }
  }
  return installed;
}

}  // namespace sigver
