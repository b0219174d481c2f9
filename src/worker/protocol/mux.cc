#include "worker/protocol/mux.h"

#include <algorithm>

#include "worker/protocol/gen1/router.h"
#include "worker/protocol/gen2/router.h"

namespace sigver {

ProtocolMux::ProtocolMux(PeerOutput& out, uint64_t seed)
    : out_(out),
      gen1_(std::make_unique<gen1::Router>(static_cast<PeerOutput&>(*this), seed)),
      gen2_(std::make_unique<gen2::Router>(static_cast<PeerOutput&>(*this),
                                           seed ^ 0x9e3779b97f4a7c15ull)) {
  configure(settings_);
}

ProtocolMux::~ProtocolMux() = default;

void ProtocolMux::configure(const MuxSettings& settings) {
  settings_ = settings;
  gen1_->configure(settings.protocol);
  gen2_->configure(settings.protocol);
}

int ProtocolMux::choose(bool binary, const char* data, size_t size) const {
  if (!settings_.generation1) return 2;
  if (!settings_.generation2) return 1;
  return gen2_->claims_first(binary, data, size) ? 2 : 1;
}

// ---- the generations' output ----

void ProtocolMux::end_message(Peer& to, size_t size) {
  if (to.messages_sent < UINT8_MAX) ++to.messages_sent;
  out_.end_message(to, size);
}

void ProtocolMux::close(Peer& peer, uint16_t code, std::string_view reason) {
  peer.closed = true;
  out_.close(peer, code, reason);
}

// ---- detection ----

uint64_t ProtocolMux::detect_ms(Peer& peer) {
  const uint64_t rtt_ms = (out_.round_trip_us(peer) * kRoundTrips + 999) / 1000;
  return std::clamp(rtt_ms, settings_.detect_min_ms, settings_.detect_max_ms);
}

uint64_t ProtocolMux::open(Peer& peer, std::string_view key, std::string_view query) {
  gen2_->read_query(peer, query);
  if (!detecting()) {
    // One generation only: nothing to detect, no delay.
    generation(settings_.generation1 ? 1 : 2).open(peer, key);
    return settings_.heartbeat_interval_ms;
  }
  // Until its generation is decided the peer is sent nothing, heartbeats included.
  enter_lobby(peer, key);
  peer.detecting = true;
  return detect_ms(peer);
}

void ProtocolMux::enter_lobby(Peer& peer, std::string_view key) {
  peer.group = &lobby_.find_or_create(key);
  peer.generation = 0;
  peer.group->peers.push_back(&peer);
}

void ProtocolMux::leave_lobby(Peer& peer) {
  Group* group = peer.group;
  erase_peer(group->peers, &peer);
  peer.group = nullptr;
  if (group->peers.empty()) lobby_.erase(*group);
}

bool ProtocolMux::decide(Peer& peer, int number) {
  std::string key = peer.group->key;  // the lobby group may go with the peer
  leave_lobby(peer);
  generation(number).open(peer, key);
  return !peer.closed;
}

bool ProtocolMux::switches_late(const Peer& peer, bool binary, const char* data,
                                size_t size) const {
  // The caller knows whether this is the peer's first data message: by now `spoke` is set.
  return peer.generation == 1 && peer.messages_sent <= 1 && detecting() &&
         gen2_->claims_first(binary, data, size);
}

void ProtocolMux::message(Peer& peer, bool binary, const char* data, size_t size) {
  if (peer.closed) return;
  const bool first = !peer.spoke;
  peer.spoke = true;
  if (peer.generation == 0) {
    const int number = choose(binary, data, size);
    Generation& g = generation(number);
    if (number == 1 && g.rejects_first(binary, data, size)) {
      // protocol.md closes it (4003): closed at once, without joining.
      leave_lobby(peer);
      peer.generation = 1;
      g.message(peer, binary, data, size);
      return;
    }
    if (!decide(peer, number)) return;
  } else if (first && switches_late(peer, binary, data, size)) {
    // It was made generation 1 by its silence, and has heard nothing but isFirst: it leaves
    // generation 1 as if it had closed and starts again as generation 2.
    std::string key = peer.group ? peer.group->key : std::string();
    gen1_->leave(peer);
    peer.is_member = peer.up_open = peer.down_open = false;
    peer.missed_heartbeats = 0;
    gen2_->open(peer, key);
    if (peer.closed) return;
  }
  generation(peer.generation).message(peer, binary, data, size);
}

void ProtocolMux::leave(Peer& peer) {
  if (peer.generation == 0) {
    if (peer.group) leave_lobby(peer);
    return;
  }
  generation(peer.generation).leave(peer);
}

uint64_t ProtocolMux::tick(Peer& peer) {
  const uint64_t interval = settings_.heartbeat_interval_ms;
  if (peer.detecting) {
    // The end of detection: a silent client is generation 1. Its first heartbeat falls one
    // interval later (a client waits several intervals before it gives up on the server).
    peer.detecting = false;
    if (peer.generation == 0 && peer.group) decide(peer, settings_.generation1 ? 1 : 2);
    return interval;
  }
  if (peer.generation == 0) {
    // Undecided without detection (imported, or detection turned off since): decide now.
    if (peer.group) decide(peer, settings_.generation1 ? 1 : 2);
    return interval;
  }
  generation(peer.generation).tick(peer);
  return interval;
}

uint64_t ProtocolMux::next_tick_ms(Peer& peer) {
  return peer.detecting ? detect_ms(peer) : settings_.heartbeat_interval_ms;
}

// ---- moving keys ----

std::vector<std::string> ProtocolMux::keys() const {
  std::vector<std::string> out;
  for (Generation* g : {gen1_.get(), gen2_.get()}) {
    for (std::string& key : g->keys()) out.push_back(std::move(key));
  }
  for (std::string& key : lobby_.keys()) out.push_back(std::move(key));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<Peer*> ProtocolMux::peers_of(std::string_view key) const {
  std::vector<Peer*> out;
  for (Generation* g : {gen1_.get(), gen2_.get()}) {
    if (const Group* group = g->find_group(key)) {
      out.insert(out.end(), group->peers.begin(), group->peers.end());
    }
  }
  if (const Group* group = lobby_.find(key)) {
    out.insert(out.end(), group->peers.begin(), group->peers.end());
  }
  return out;
}

std::vector<ExportedPeer> ProtocolMux::export_key(std::string_view key) {
  std::vector<ExportedPeer> out;
  gen1_->export_group(key, out);
  gen2_->export_group(key, out);
  if (const Group* group = lobby_.find(key)) {
    std::vector<Peer*> peers = group->peers;
    for (Peer* p : peers) {
      leave_lobby(*p);
      ExportedPeer& e = out.emplace_back();
      e.peer = p;
      e.generation = 0;
      e.favored = p->favored;
    }
  }
  return out;
}

void ProtocolMux::import_key(std::string_view key, std::vector<ExportedPeer>& peers) {
  for (ExportedPeer& e : peers) {
    if (e.generation > 2) e.generation = 0;  // a broken sender's: decide it again here
    e.peer->spoke = e.generation != 0;
    e.peer->messages_sent = e.generation != 0 ? UINT8_MAX : 0;  // detection is over for them
  }
  gen1_->import_group(key, peers);
  gen2_->import_group(key, peers);
  for (ExportedPeer& e : peers) {
    if (e.generation != 0) continue;
    // Undecided: detection starts again here (the worker restarts its timer).
    e.peer->favored = e.favored;
    enter_lobby(*e.peer, key);
    e.peer->detecting = true;
  }
}

GenerationCounters ProtocolMux::counters() const {
  GenerationCounters sum;
  for (Generation* g : {gen1_.get(), gen2_.get()}) {
    GenerationCounters c = g->counters();
    sum.groups += c.groups;
    sum.peers += c.peers;
    sum.messages_relayed += c.messages_relayed;
    sum.bytes_relayed += c.bytes_relayed;
    sum.heartbeat_timeouts += c.heartbeat_timeouts;
  }
  return sum;
}

}  // namespace sigver
