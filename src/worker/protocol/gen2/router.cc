#include "worker/protocol/gen2/router.h"

#include <algorithm>

namespace sigver::gen2 {
namespace {

// Binding ids as sigver draws them: 1 .. 2^31.
constexpr uint32_t kMaxId = uint32_t{1} << 31;

// Tried members are remembered by netflux id (protocol-v2.md: "by value"). Any uint32 is a
// valid netflux id, 0 included, while TriedMembers never records 0: it holds id + 1.
uint64_t tried_value(uint32_t netflux_id) { return uint64_t{netflux_id} + 1; }
bool has_tried(const Peer& peer, const Peer& member) {
  return peer.tried.contains(tried_value(member.netflux_id));
}

}  // namespace

Router::Router(PeerOutput& output, uint64_t seed) : out_(output), ids_(seed, kMaxId) {}

GenerationCounters Router::counters() const {
  GenerationCounters c = counters_;
  c.groups = groups_.size();
  return c;
}

const Group* Router::find_group(std::string_view key) const { return groups_.find(key); }

void Router::read_query(Peer& peer, std::string_view query) const {
  // Parameter names as Node's querystring splits them (sigver: `"favored" in query`).
  bool favored = false;
  while (!favored) {
    const size_t end = std::min(query.find('&'), query.size());
    const std::string_view param = query.substr(0, end);
    favored = param.substr(0, param.find('=')) == "favored";
    if (end == query.size()) break;
    query.remove_prefix(end + 1);
  }
  peer.favored = favored;
}

void Router::open(Peer& peer, std::string_view key) {
  peer.generation = 2;
  // Nothing of an earlier generation's routing carries over (the mux moves a late
  // generation-2 peer out of generation 1 first).
  peer.member = nullptr;
  peer.id = 0;
  peer.netflux_id = 0;
  peer.is_member = peer.up_open = peer.down_open = false;
  peer.tried.clear();
  // The key's peers are counted here rather than at the first connect: the peer is in the
  // key's list from now on (so that it moves with its key), and the cap on that list is what
  // bounds the scans of joining and leaving. The mux opens a generation-2 peer when its
  // first message (the connect, for netflux) arrives, so the two moments are one in practice.
  if (!admit(peer, key, settings_, groups_, out_, close_code::kBadKey)) return;
  ++counters_.peers;
  peer.serial = next_serial_++;
}

bool Router::claims_first(bool binary, const char* data, size_t size) const {
  if (!binary || size == 0) return false;
  const auto first = static_cast<uint8_t>(data[0]);
  return first == 0x08 || first == 0x12 || first == 0x1a;  // heartbeat, content, connect
}

const char* Router::invalid(bool binary, const char* data, size_t size, DecodedMessage& decoded) {
  if (!binary) return "text messages are not supported";
  if (!decode_message(data, size, decoded)) return "not a valid protobuf Message";
  // Unlike generation 1, a message of no known type closes (sigver 20/21 do the same).
  if (decoded.type == MessageType::kNone) {
    return size == 0 ? "message has no type" : "message of no known type";
  }
  // sigver ignores it; closing makes a generation-1 heartbeat (20 01) fail loudly.
  if (decoded.type == MessageType::kConnected) return "connected is sent by the server only";
  return nullptr;
}

bool Router::rejects_first(bool binary, const char* data, size_t size) const {
  DecodedMessage decoded;
  return invalid(binary, data, size, decoded) != nullptr;
}

void Router::message(Peer& peer, bool binary, const char* data, size_t size) {
  DecodedMessage decoded;  // views into `data`: nothing to keep between messages
  if (const char* why = invalid(binary, data, size, decoded)) {
    close(peer, close_code::kBadMessage, why);
    return;
  }
  if (!peer.group) return;
  switch (decoded.type) {
    case MessageType::kHeartbeat:
      peer.missed_heartbeats = 0;  // true or false alike
      break;
    case MessageType::kConnect:
      join(peer, decoded);
      break;
    case MessageType::kContent:
      relay(peer, decoded);
      break;
    default:
      break;
  }
}

void Router::tick(Peer& peer) {
  if (!peer.group) return;
  if (peer.missed_heartbeats < UINT8_MAX) ++peer.missed_heartbeats;
  if (peer.missed_heartbeats >= settings_.heartbeat_misses) {
    ++counters_.heartbeat_timeouts;
    close(peer, close_code::kHeartbeat, "no heartbeat");
    return;
  }
  send_heartbeat(peer);
}

void Router::close(Peer& peer, uint16_t code, std::string_view reason) {
  leave(peer);
  out_.close(peer, code, reason);
}

// protocol-v2.md, Joining. Decisions where it is silent:
// - The peer's id is the id of this connect in every case, a lone member's re-sent connect
//   included ("known by the id of its latest connect"; sigver 20 keeps the old id there,
//   which no netflux can tell apart since netflux never changes its id on a socket).
// - Overlap looks at the other members only: `members` excludes the sender itself, so its
//   own id there says nothing about its links to the group.
// - A member that loses the group (rule 2) ends its joiners' bindings with end notices, as
//   if it had left: a binding goes only to a member, and its joiners try another member.
void Router::join(Peer& peer, const DecodedMessage& connect) {
  Group& group = *peer.group;
  peer.netflux_id = connect.connect_id;
  // Rule 1: no member (the group may hold only peers waiting for their first connect).
  if (group.members.empty()) {
    end_binding(peer);  // none is left: a member that goes ends its bindings
    become_member(peer);
    send_connected(peer, true);
    return;
  }
  // Rule 2: a member stays if it is the only one or still overlaps, else it lost the group.
  if (peer.is_member) {
    if (group.members.size() == 1 || overlaps(peer, connect.connect)) {
      send_connected(peer, true);
      return;
    }
    stop_being_member(peer);
    bind_to_next_member(peer);
    return;
  }
  // Rule 3: it reached a member over WebRTC; its binding stays open (ICE candidates).
  if (overlaps(peer, connect.connect)) {
    become_member(peer);
    send_connected(peer, true);
    return;
  }
  // Rule 4: the lone member it already tried blocks the group: this peer replaces it.
  if (group.members.size() == 1 && has_tried(peer, *group.members.front())) {
    Peer& blocking = *group.members.front();
    become_member(peer);
    send_connected(peer, true);
    // Leaves as any member does: this peer's binding to it ends with an end notice.
    close(blocking, close_code::kBlockingMember,
          "replaced by a peer it prevented from joining the group");
    return;
  }
  bind_to_next_member(peer);  // rule 5
}

bool Router::overlaps(const Peer& peer, std::string_view connect) {
  // Sorted ids of the other members, then one lookup per listed id: the work is bounded by
  // the group's size and the message's length, not by their product.
  member_ids_.clear();
  for (const Peer* m : peer.group->members) {
    if (m != &peer) member_ids_.push_back(m->netflux_id);
  }
  std::sort(member_ids_.begin(), member_ids_.end());
  MemberReader reader(connect);
  uint32_t id;
  while (reader.next(id)) {
    if (std::binary_search(member_ids_.begin(), member_ids_.end(), id)) return true;
  }
  return false;  // an empty list never overlaps
}

void Router::become_member(Peer& peer) {
  peer.is_member = true;
  peer.tried.clear();  // a peer forgets what it tried when it becomes a member
  peer.group->members.push_back(&peer);
}

void Router::stop_being_member(Peer& peer) {
  end_joiners_of(peer);
  erase_peer(peer.group->members, &peer);
  peer.is_member = false;
}

// Rule 5: the first favored member not tried, else the oldest not tried; once all were
// tried, forget them and choose again the same way.
void Router::bind_to_next_member(Peer& peer) {
  Peer* chosen = nullptr;
  for (int pass = 0; pass < 2 && !chosen; ++pass) {
    if (pass == 1) peer.tried.clear();
    Peer* oldest = nullptr;
    for (Peer* m : peer.group->members) {
      if (m == &peer || has_tried(peer, *m)) continue;
      if (m->favored) {
        chosen = m;
        break;
      }
      if (!oldest) oldest = m;
    }
    if (!chosen) chosen = oldest;
  }
  end_binding(peer);  // its previous binding ends silently: netflux needs no notice
  if (!chosen) {
    // Not reachable: callers leave at least one other member. Start the group again.
    become_member(peer);
    send_connected(peer, true);
    return;
  }
  bind(peer, *chosen);
  send_connected(peer, false);
}

void Router::bind(Peer& joiner, Peer& member) {
  joiner.member = &member;
  joiner.id = ids_.add(joiner);
  joiner.up_open = joiner.down_open = true;
  joiner.tried.add(tried_value(member.netflux_id));
}

void Router::end_binding(Peer& joiner) {
  ids_.erase(joiner.id);
  joiner.id = 0;
  joiner.member = nullptr;
  joiner.up_open = joiner.down_open = false;
}

void Router::end_joiners_of(Peer& member) {
  for (Peer* joiner : member.group->peers) {
    if (joiner->member != &member) continue;
    if (joiner->down_open) send_end_notice(*joiner, 0, joiner->id);
    end_binding(*joiner);
  }
}

// protocol-v2.md, Relay. The sender's senderId is ignored, and so is its recipientId unless
// it names a joiner bound to the sender. Content a joiner sends goes to its member only: no
// copy of it reaches the sender's own member (sigver's leak).
void Router::relay(Peer& from, const DecodedMessage& content) {
  if (content.recipient_id != 0) {
    Peer* joiner = ids_.find(content.recipient_id);
    if (joiner && joiner->member == &from) {
      if (joiner->down_open) {
        send_content(*joiner, 0, joiner->id, content.data);
        if (content.last_data) joiner->down_open = false;
      }
      return;
    }
  }
  if (from.member && from.up_open) {
    send_content(*from.member, from.id, 0, content.data);
    if (content.last_data) from.up_open = false;
  }
}

void Router::leave(Peer& peer) {
  Group* group = peer.group;
  if (!group) return;
  if (peer.member) {
    if (peer.up_open) send_end_notice(*peer.member, peer.id, 0);
    end_binding(peer);
  }
  if (peer.is_member) {
    end_joiners_of(peer);
    erase_peer(group->members, &peer);
    peer.is_member = false;
  }
  erase_peer(group->peers, &peer);
  --counters_.peers;
  peer.group = nullptr;
  peer.tried.clear();
  if (group->peers.empty()) groups_.erase(*group);
}

void Router::send_connected(Peer& to, bool value) {
  char msg[kConnectedSize];
  send_bytes(out_, to, msg, write_connected(msg, value));
}

void Router::send_heartbeat(Peer& to) {
  char msg[kHeartbeatSize];
  send_bytes(out_, to, msg, write_heartbeat(msg));
}

void Router::send_end_notice(Peer& to, uint32_t sender_id, uint32_t recipient_id) {
  char msg[kMaxEndNoticeSize];
  send_bytes(out_, to, msg, write_end_notice(msg, sender_id, recipient_id));
}

void Router::send_content(Peer& to, uint32_t sender_id, uint32_t recipient_id,
                          std::string_view data) {
  // Zero-copy: sized first, then written straight into the recipient's buffer.
  const size_t n = content_size(sender_id, recipient_id, data.size());
  if (char* p = out_.begin_message(to, n)) {
    write_content(p, sender_id, recipient_id, data);
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
  export_routing(*group, 2, out);
  for (size_t i = base; i < out.size(); ++i) {
    ExportedPeer& e = out[i];
    e.netflux_id = e.peer->netflux_id;
    e.favored = e.peer->favored;
    e.peer->tried.for_each([&e](uint64_t value) {  // as member ids
      e.tried_values.push_back(static_cast<uint32_t>(value - 1));
    });
  }
  forget_routing(*group, ids_);
  counters_.peers -= group->peers.size();
  groups_.erase(*group);
}

void Router::import_group(std::string_view key, std::vector<ExportedPeer>& peers) {
  if (std::none_of(peers.begin(), peers.end(), [](const auto& e) { return e.generation == 2; })) {
    return;
  }
  counters_.peers += import_routing(groups_.find_or_create(key), 2, peers, ids_);
  for (ExportedPeer& e : peers) {
    if (e.generation != 2) continue;
    Peer& p = *e.peer;
    p.serial = next_serial_++;
    p.netflux_id = e.netflux_id;
    p.favored = e.favored;
    for (uint32_t id : e.tried_values) p.tried.add(tried_value(id));
  }
}

}  // namespace sigver::gen2
