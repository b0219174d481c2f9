#include "worker/protocol/gen1/router.h"

#include <algorithm>
#include <cstring>

namespace sigver::gen1 {
namespace {

bool has_tried(const Peer& peer, const Peer& member) { return peer.tried.contains(member.serial); }

template <typename T>
void erase_value(std::vector<T>& v, const T& value) {
  auto it = std::find(v.begin(), v.end(), value);
  if (it != v.end()) v.erase(it);
}

}  // namespace

Router::Router(PeerOutput& output, uint64_t seed) : out_(output), rng_(seed) {}

GenerationCounters Router::counters() const {
  GenerationCounters c = counters_;
  c.groups = groups_.size();
  return c;
}

const Group* Router::find_group(std::string_view key) const {
  auto it = groups_.find(key);
  return it == groups_.end() ? nullptr : it->second.get();
}

Peer* Router::find_by_id(uint32_t id) const {
  auto it = ids_.find(id);
  return it == ids_.end() ? nullptr : it->second;
}

Group& Router::group_for(std::string_view key) {
  auto it = groups_.find(key);
  if (it == groups_.end()) {
    auto group = std::make_unique<Group>();
    group->key = std::string(key);
    std::string_view stored = group->key;  // the map's key views the group's own copy
    it = groups_.emplace(stored, std::move(group)).first;
  }
  return *it->second;
}

void Router::open(Peer& peer, std::string_view key) {
  peer.generation = 1;
  if (key.empty() || key.size() > settings_.max_key_length) {
    out_.close(peer, close_code::kBadKey, key.empty() ? "key is empty" : "key is too long");
    return;
  }
  // Checked before the group is looked at further: joining scans its members, so the cap
  // also bounds the work one join costs.
  if (const Group* group = find_group(key);
      group && group->peers.size() >= settings_.max_peers_per_key) {
    out_.close(peer, close_code::kTryAgainLater, "too many peers on this key, try again later");
    return;
  }
  peer.group = &group_for(key);
  peer.group->peers.push_back(&peer);
  ++counters_.peers;
  peer.serial = next_serial_++;
  join(peer);
}

const char* Router::invalid(bool binary, const char* data, size_t size, DecodedMessage& decoded) {
  if (!binary) return "text messages are not supported";
  if (!decode_message(data, size, decoded)) return "not a valid protobuf Message";
  // Fields, but none known here: a newer client's message type, ignored as protobuf does.
  // Only a message with no field at all is an error.
  if (decoded.type == MessageType::kNone && size == 0) return "message has no type";
  if (decoded.type == MessageType::kIsFirst) return "isFirst is sent by the server only";
  return nullptr;
}

bool Router::rejects_first(bool binary, const char* data, size_t size) const {
  DecodedMessage decoded;
  return invalid(binary, data, size, decoded) != nullptr;
}

void Router::message(Peer& peer, bool binary, const char* data, size_t size) {
  if (const char* why = invalid(binary, data, size, decoded_)) {
    close(peer, close_code::kBadMessage, why);
    return;
  }
  if (!peer.group) return;
  switch (decoded_.type) {
    case MessageType::kHeartbeat:
      peer.missed_heartbeats = 0;
      break;
    case MessageType::kContent:
      relay(peer, decoded_);
      break;
    case MessageType::kStable:
      // Its relay stays open: netflux still exchanges ICE candidates and isEnd after stable.
      if (!peer.is_member) become_member(peer);
      break;
    case MessageType::kTryAnother:
      if (peer.member && peer.up_open) send_end_notice(*peer.member, peer.id);
      end_binding(peer);
      join(peer);
      break;
    default:
      break;
  }
}

void Router::tick(Peer& peer) {
  if (++peer.missed_heartbeats >= settings_.heartbeat_misses) {
    ++counters_.heartbeat_timeouts;
    close(peer, close_code::kHeartbeat, "no heartbeat");
    return;
  }
  send_flag(peer, field::kHeartbeat, true);
}

void Router::close(Peer& peer, uint16_t code, std::string_view reason) {
  leave(peer);
  out_.close(peer, code, reason);
}

void Router::join(Peer& peer) {
  Group& group = *peer.group;
  Peer* oldest_untried = nullptr;
  Peer* oldest = nullptr;
  size_t candidates = 0;
  for (Peer* m : group.members) {
    if (m == &peer) continue;
    ++candidates;
    if (!oldest) oldest = m;
    if (!oldest_untried && !has_tried(peer, *m)) oldest_untried = m;
  }
  // Rule 1: nobody to join through: this peer starts (or restarts) the group.
  if (candidates == 0) {
    if (!peer.is_member) become_member(peer);
    send_flag(peer, field::kIsFirst, true);
    return;
  }
  // Rule 2: the only member was already tried and failed this peer: it blocks the group.
  if (group.members.size() == 1 && !oldest_untried) {
    Peer& blocking = *group.members.front();
    close(blocking, close_code::kBlockingMember,
          "the last member of the group could not be joined through");
    if (!peer.is_member) become_member(peer);
    send_flag(peer, field::kIsFirst, true);
    return;
  }
  // Rule 3: the oldest member not tried yet; once all were tried, start over.
  if (!oldest_untried) {
    peer.tried.clear();
    oldest_untried = oldest;
  }
  bind(peer, *oldest_untried);
  send_flag(peer, field::kIsFirst, false);
}

void Router::become_member(Peer& peer) {
  peer.is_member = true;
  peer.group->members.push_back(&peer);
}

void Router::remove_member(Peer& peer) {
  erase_value(peer.group->members, &peer);
  peer.is_member = false;
}

void Router::bind(Peer& joiner, Peer& member) {
  joiner.member = &member;
  joiner.id = fresh_id();
  ids_.emplace(joiner.id, &joiner);
  joiner.up_open = joiner.down_open = true;
  joiner.tried.add(member.serial);
}

void Router::end_binding(Peer& joiner) {
  if (joiner.id) ids_.erase(joiner.id);
  joiner.id = 0;
  joiner.member = nullptr;
  joiner.up_open = joiner.down_open = false;
}

uint32_t Router::fresh_id() {
  for (;;) {
    auto id = static_cast<uint32_t>(rng_());
    if (id != 0 && !ids_.count(id)) return id;
  }
}

void Router::relay(Peer& from, const DecodedMessage& message) {
  const uint32_t id = message.content_id;
  if (id != 0) {
    auto it = ids_.find(id);
    if (it != ids_.end() && it->second->member == &from) {
      // Member -> one of its joiners: the joiner only accepts id 0.
      Peer& joiner = *it->second;
      if (joiner.down_open) {
        send_content(joiner, message.content, 0);
        if (message.content_ends) joiner.down_open = false;
      }
      return;
    }
  }
  // Joiner -> its member (whatever id the joiner put is replaced by its own).
  if (from.member && from.up_open) {
    send_content(*from.member, message.content, from.id);
    if (message.content_ends) from.up_open = false;
  }
}

void Router::leave(Peer& peer) {
  Group* group = peer.group;
  if (!group) return;
  if (peer.member) {
    if (peer.up_open) send_end_notice(*peer.member, peer.id);
    end_binding(peer);
  }
  for (Peer* joiner : group->peers) {
    if (joiner->member != &peer) continue;
    if (joiner->down_open) send_end_notice(*joiner, 0);
    end_binding(*joiner);
  }
  if (peer.is_member) remove_member(peer);
  erase_value(group->peers, &peer);
  --counters_.peers;
  peer.group = nullptr;
  peer.tried.clear();
  if (group->peers.empty()) groups_.erase(groups_.find(std::string_view(group->key)));
}

void Router::send_flag(Peer& to, uint32_t field_number, bool value) {
  char msg[8];
  size_t n = write_bool_message(msg, field_number, value);
  if (char* p = out_.begin_message(to, n)) {
    std::memcpy(p, msg, n);
    out_.end_message(to, n);
  }
}

void Router::send_end_notice(Peer& to, uint32_t id) {
  char msg[kMaxNoticeSize];
  size_t n = write_end_notice(msg, id);
  if (char* p = out_.begin_message(to, n)) {
    std::memcpy(p, msg, n);
    out_.end_message(to, n);
  }
}

void Router::send_content(Peer& to, std::string_view content, uint32_t id) {
  size_t n = content_message_size(content, id);
  if (char* p = out_.begin_message(to, n)) {
    write_content_message(p, content, id);
    out_.end_message(to, n);
    ++counters_.messages_relayed;
    counters_.bytes_relayed += n;
  }
}

}  // namespace sigver::gen1

namespace sigver::gen1 {

std::vector<std::string> Router::keys() const {
  std::vector<std::string> out;
  out.reserve(groups_.size());
  for (const auto& [key, group] : groups_) out.emplace_back(key);
  return out;
}

void Router::export_group(std::string_view key, std::vector<ExportedPeer>& out) {
  auto it = groups_.find(key);
  if (it == groups_.end()) return;
  Group& group = *it->second;
  const size_t base = out.size();
  auto index_of = [&group, base](const Peer* p) {
    auto pos = std::find(group.peers.begin(), group.peers.end(), p);
    return pos == group.peers.end() ? -1 : static_cast<int>(base + (pos - group.peers.begin()));
  };
  out.resize(base + group.peers.size());
  for (size_t i = 0; i < group.peers.size(); ++i) {
    Peer& p = *group.peers[i];
    ExportedPeer& e = out[base + i];
    e.peer = &p;
    e.generation = 1;
    e.missed_heartbeats = p.missed_heartbeats;
    auto m = std::find(group.members.begin(), group.members.end(), &p);
    e.member_position = m == group.members.end() ? -1 : static_cast<int>(m - group.members.begin());
    e.bound_to = p.member ? index_of(p.member) : -1;
    e.id = p.id;
    e.up_open = p.up_open;
    e.down_open = p.down_open;
    p.tried.for_each([&](uint64_t serial) {
      for (size_t k = 0; k < group.peers.size(); ++k) {
        if (group.peers[k]->serial == serial) e.tried.push_back(static_cast<uint32_t>(base + k));
      }
    });
  }
  for (Peer* p : group.peers) {
    if (p->id) ids_.erase(p->id);
    p->group = nullptr;
    p->member = nullptr;
    p->id = 0;
    p->up_open = p->down_open = p->is_member = false;
    p->tried.clear();
  }
  counters_.peers -= group.peers.size();
  groups_.erase(it);
}

void Router::import_group(std::string_view key, std::vector<ExportedPeer>& peers) {
  auto ours = [&peers](int64_t index) -> ExportedPeer* {
    if (index < 0 || static_cast<size_t>(index) >= peers.size()) return nullptr;
    ExportedPeer& e = peers[static_cast<size_t>(index)];
    return e.generation == 1 ? &e : nullptr;
  };
  Group* group = nullptr;
  for (ExportedPeer& e : peers) {
    if (e.generation != 1) continue;
    if (!group) group = &group_for(key);
    e.peer->group = group;
    e.peer->generation = 1;
    e.peer->serial = next_serial_++;
    group->peers.push_back(e.peer);
    ++counters_.peers;
  }
  if (!group) return;
  // Imported members first, in their old order.
  std::vector<Peer*> members;
  std::vector<std::pair<int, Peer*>> ordered;
  for (ExportedPeer& e : peers) {
    if (e.generation == 1 && e.member_position >= 0)
      ordered.emplace_back(e.member_position, e.peer);
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [pos, p] : ordered) {
    p->is_member = true;
    members.push_back(p);
  }
  members.insert(members.end(), group->members.begin(), group->members.end());
  group->members = std::move(members);
  for (ExportedPeer& e : peers) {
    if (e.generation != 1) continue;
    Peer& p = *e.peer;
    const ExportedPeer* target = ours(e.bound_to);
    // The joining rules bind a peer only to another peer that is a member; a binding the
    // sender made up (a buggy or hostile worker) is dropped rather than relayed along.
    if (target && e.id != 0 && target->member_position >= 0 && target->peer != &p) {
      p.member = target->peer;
      // Ids are random 32-bit values, so a clash with one of this worker's is rare; the
      // member knows the binding by its id, so a clash can only end the binding.
      if (ids_.emplace(e.id, &p).second) {
        p.id = e.id;
        p.up_open = e.up_open;
        p.down_open = e.down_open;
      } else {
        p.member = nullptr;
      }
    }
    p.missed_heartbeats = e.missed_heartbeats;
    for (uint32_t k : e.tried) {
      if (const ExportedPeer* tried = ours(k)) p.tried.add(tried->peer->serial);
    }
  }
}

}  // namespace sigver::gen1
