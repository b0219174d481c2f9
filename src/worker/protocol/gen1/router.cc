#include "worker/protocol/gen1/router.h"

#include <algorithm>

namespace sigver::gen1 {
namespace {

bool has_tried(const Peer& peer, const Peer& member) { return peer.tried.contains(member.serial); }

}  // namespace

Router::Router(PeerOutput& output, uint64_t seed) : out_(output), ids_(seed, 0) {}

GenerationCounters Router::counters() const {
  GenerationCounters c = counters_;
  c.groups = groups_.size();
  return c;
}

const Group* Router::find_group(std::string_view key) const { return groups_.find(key); }

void Router::open(Peer& peer, std::string_view key) {
  peer.generation = 1;
  // The cap on the key's peers is checked before the group is looked at further: joining
  // scans its members, so the cap also bounds the work one join costs.
  if (!admit(peer, key, settings_, groups_, out_, close_code::kBadKey)) return;
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
  erase_peer(peer.group->members, &peer);
  peer.is_member = false;
}

void Router::bind(Peer& joiner, Peer& member) {
  joiner.member = &member;
  joiner.id = ids_.add(joiner);
  joiner.up_open = joiner.down_open = true;
  joiner.tried.add(member.serial);
}

void Router::end_binding(Peer& joiner) {
  ids_.erase(joiner.id);
  joiner.id = 0;
  joiner.member = nullptr;
  joiner.up_open = joiner.down_open = false;
}

void Router::relay(Peer& from, const DecodedMessage& message) {
  const uint32_t id = message.content_id;
  if (id != 0) {
    Peer* joiner = ids_.find(id);
    if (joiner && joiner->member == &from) {
      // Member -> one of its joiners: the joiner only accepts id 0.
      if (joiner->down_open) {
        send_content(*joiner, message.content, 0);
        if (message.content_ends) joiner->down_open = false;
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
  erase_peer(group->peers, &peer);
  --counters_.peers;
  peer.group = nullptr;
  peer.tried.clear();
  if (group->peers.empty()) groups_.erase(*group);
}

void Router::send_flag(Peer& to, uint32_t field_number, bool value) {
  char msg[8];
  send_bytes(out_, to, msg, write_bool_message(msg, field_number, value));
}

void Router::send_end_notice(Peer& to, uint32_t id) {
  char msg[kMaxNoticeSize];
  send_bytes(out_, to, msg, write_end_notice(msg, id));
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

// ---- moving groups ----

std::vector<std::string> Router::keys() const { return groups_.keys(); }

void Router::export_group(std::string_view key, std::vector<ExportedPeer>& out) {
  Group* group = groups_.find(key);
  if (!group) return;
  const size_t base = out.size();
  export_routing(*group, 1, out);
  // Tried members are serials, which mean nothing elsewhere: they travel as indices.
  for (size_t i = base; i < out.size(); ++i) {
    ExportedPeer& e = out[i];
    e.peer->tried.for_each([&](uint64_t serial) {
      for (size_t k = 0; k < group->peers.size(); ++k) {
        if (group->peers[k]->serial == serial) e.tried.push_back(static_cast<uint32_t>(base + k));
      }
    });
  }
  forget_routing(*group, ids_);
  counters_.peers -= group->peers.size();
  groups_.erase(*group);
}

void Router::import_group(std::string_view key, std::vector<ExportedPeer>& peers) {
  if (std::none_of(peers.begin(), peers.end(), [](const auto& e) { return e.generation == 1; })) {
    return;
  }
  counters_.peers += import_routing(groups_.find_or_create(key), 1, peers, ids_);
  for (ExportedPeer& e : peers) {
    if (e.generation == 1) e.peer->serial = next_serial_++;
  }
  for (ExportedPeer& e : peers) {
    if (e.generation != 1) continue;
    for (uint32_t k : e.tried) {
      if (k < peers.size() && peers[k].generation == 1) e.peer->tried.add(peers[k].peer->serial);
    }
  }
}

}  // namespace sigver::gen1
