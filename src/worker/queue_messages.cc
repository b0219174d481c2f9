#include "worker/queue_messages.h"

#include <cstring>
#include <type_traits>

#include "core/client_counts.h"

namespace sigver {
namespace {

static_assert(std::is_trivially_copyable_v<MigrationHeader> && sizeof(MigrationHeader) == 72,
              "the header is copied as bytes and must have no hidden padding");

// Takes parts off the front of a payload; a part longer than what is left fails the whole
// read, so no size from the sender is trusted before it is checked against the bytes.
class PartReader {
 public:
  explicit PartReader(std::string_view bytes) : rest_(bytes) {}
  bool take(size_t n, std::string_view& part) {
    if (n > rest_.size()) return false;
    part = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }
  bool at_end() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

}  // namespace

std::string encode_migrated_peer(const MigratedPeer& peer) {
  MigrationHeader h = peer.header;
  h.tried_count = static_cast<uint32_t>(peer.tried.size());
  h.tried_values_count = static_cast<uint32_t>(peer.tried_values.size());
  h.key_size = static_cast<uint32_t>(peer.key.size());
  h.assembled_size = static_cast<uint32_t>(peer.assembled.size());
  h.in_size = static_cast<uint32_t>(peer.in.size());
  h.out_size = static_cast<uint32_t>(peer.out.size());
  std::string payload(reinterpret_cast<const char*>(&h), sizeof h);
  payload.append(reinterpret_cast<const char*>(peer.tried.data()), peer.tried.size() * 4);
  payload.append(reinterpret_cast<const char*>(peer.tried_values.data()),
                 peer.tried_values.size() * 4);
  payload += peer.key;
  payload += peer.assembled;
  payload += peer.in;
  payload += peer.out;
  return payload;
}

std::optional<MigratedPeer> decode_migrated_peer(std::string_view payload) {
  MigratedPeer peer;
  MigrationHeader& h = peer.header;
  PartReader reader(payload);
  std::string_view header, tried, tried_values;
  if (!reader.take(sizeof h, header)) return std::nullopt;
  std::memcpy(&h, header.data(), sizeof h);
  if (h.version != kMigrationVersion || h.index >= h.group_size ||
      h.group_size > kMaxMigrationGroup) {
    return std::nullopt;
  }
  if (!reader.take(size_t{h.tried_count} * 4, tried) ||
      !reader.take(size_t{h.tried_values_count} * 4, tried_values) ||
      !reader.take(h.key_size, peer.key) || !reader.take(h.assembled_size, peer.assembled) ||
      !reader.take(h.in_size, peer.in) || !reader.take(h.out_size, peer.out) || !reader.at_end()) {
    return std::nullopt;
  }
  peer.tried.resize(h.tried_count);
  if (!tried.empty()) std::memcpy(peer.tried.data(), tried.data(), tried.size());
  peer.tried_values.resize(h.tried_values_count);
  if (!tried_values.empty()) {
    std::memcpy(peer.tried_values.data(), tried_values.data(), tried_values.size());
  }
  return peer;
}

ExportedPeer routing_state(const MigratedPeer& m, Peer& peer) {
  ExportedPeer e;
  e.peer = &peer;
  e.generation = m.header.generation;
  e.netflux_id = m.header.netflux_id;
  e.favored = m.header.favored != 0;
  e.missed_heartbeats = m.header.missed_heartbeats;
  e.member_position = m.header.member_position;
  e.bound_to = m.header.bound_to;
  e.id = m.header.id;
  e.up_open = m.header.up_open;
  e.down_open = m.header.down_open;
  e.tried = m.tried;
  e.tried_values = m.tried_values;
  return e;
}

std::vector<ExportedPeer> renumber_arrived(std::vector<ExportedPeer> state,
                                           const std::vector<bool>& arrived) {
  std::vector<int> renumber(state.size(), -1);
  std::vector<ExportedPeer> out;
  for (size_t i = 0; i < state.size() && i < arrived.size(); ++i) {
    if (!arrived[i]) continue;
    renumber[i] = static_cast<int>(out.size());
    out.push_back(std::move(state[i]));
  }
  for (ExportedPeer& e : out) {
    e.bound_to = e.bound_to >= 0 && static_cast<size_t>(e.bound_to) < renumber.size()
                     ? renumber[static_cast<size_t>(e.bound_to)]
                     : -1;
    std::vector<uint32_t> tried;
    for (uint32_t k : e.tried) {
      if (k < renumber.size() && renumber[k] >= 0)
        tried.push_back(static_cast<uint32_t>(renumber[k]));
    }
    e.tried = std::move(tried);
  }
  return out;
}

std::optional<uint32_t> decode_resize(std::string_view payload) {
  uint32_t count = 0;
  if (payload.size() != sizeof count) return std::nullopt;
  std::memcpy(&count, payload.data(), sizeof count);
  return count;
}

std::string_view encode_handoff_head(uint32_t client, char (&out)[sizeof(uint32_t)]) {
  std::memcpy(out, &client, sizeof client);
  return {out, sizeof out};
}

std::optional<Handoff> decode_handoff(std::string_view payload) {
  Handoff h;
  if (payload.size() < sizeof h.client) return std::nullopt;
  std::memcpy(&h.client, payload.data(), sizeof h.client);
  if (!ClientCounts::valid(h.client)) return std::nullopt;
  h.bytes = payload.substr(sizeof h.client);
  return h;
}

}  // namespace sigver
