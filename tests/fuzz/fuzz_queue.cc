// libFuzzer target: the messages on a worker's queue (core/channel.h) as a buggy or hostile
// worker could send them. Each is decoded as the worker decodes it; kMigrate messages are
// then gathered into group moves as receive_migrated_peer does and installed in a router as
// finish_migrations does (every move counts as expired, so incomplete ones are installed
// too), next to peers the router already had on the same key; then every peer leaves, with
// the router's invariants checked after each step. Well-formed kMigrate and kTlsMaterial
// payloads must also encode back to the same bytes.
//
// Input: byte 0 = seed of the order in which peers leave, then messages, each a type byte
// (H, L, R, G or T by value % 5), a descriptor count byte (% 4), a 2-byte little-endian
// length and that many payload bytes.
#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/channel.h"
#include "core/client_counts.h"
#include "core/tls_material.h"
#include "fuzz_check.h"
#include "fuzz_input.h"
#include "router_check.h"
#include "worker/protocol/gen1/router.h"
#include "worker/queue_messages.h"
#include "ws/http_upgrade.h"

namespace {

using namespace sigver;
using namespace sigver::gen1;
using fuzz::require;

constexpr std::array<ChannelType, 5> kTypes = {ChannelType::kHandoff, ChannelType::kListeners,
                                               ChannelType::kResize, ChannelType::kMigrate,
                                               ChannelType::kTlsMaterial};
// Larger announced groups are decoded but not installed: the worker allocates a slot per
// announced peer (up to kMaxMigrationGroup), which would only make every run slow.
constexpr uint32_t kMaxInstalledGroup = 64;

struct PendingMove {
  int32_t source = 0;
  uint64_t token = 0;
  std::string key;
  std::vector<ExportedPeer> state;  // by index
  std::vector<bool> arrived;
};

class Receiver {
 public:
  Receiver() { output_.watch(router_); }

  void receive(ChannelType type, size_t fd_count, std::string_view payload) {
    switch (type) {
      case ChannelType::kHandoff:
        // The accepting worker's bytes are parsed as the request they should hold.
        if (std::optional<Handoff> h = decode_handoff(payload); h && fd_count == 1) {
          require(ClientCounts::valid(h->client), "an invalid client ticket accepted");
          ws::parse_upgrade_request(h->bytes, 64 * 1024);
        }
        break;
      case ChannelType::kResize:
        if (std::optional<uint32_t> count = decode_resize(payload)) {
          require(payload.size() == sizeof *count, "a resize count of another size accepted");
        }
        break;
      case ChannelType::kMigrate:
        migrate(fd_count, payload);
        break;
      case ChannelType::kTlsMaterial: {
        TlsMaterial material;
        if (decode_tls_material(payload, material)) {
          require(encode_tls_material(material) == payload, "TLS material does not round-trip");
        }
        break;
      }
      default:  // kListeners: only descriptors, the payload is not read
        break;
    }
  }

  // finish_migrations for every move, then everyone leaves in an order taken from `seed`.
  void install_and_leave(uint8_t seed) {
    // Peers that were here first: the first move merges into their group.
    const std::string first_key = moves_.empty() ? "a" : moves_.front().key;
    local(first_key);
    local(first_key);
    local("zz");
    for (PendingMove& move : moves_) {
      std::vector<ExportedPeer> peers = renumber_arrived(std::move(move.state), move.arrived);
      for (const ExportedPeer& e : peers) {
        require(e.bound_to >= -1 && e.bound_to < static_cast<int>(peers.size()),
                "a renumbered binding outside the group");
        for (uint32_t k : e.tried) require(k < peers.size(), "a renumbered tried member outside");
      }
      if (!peers.empty()) router_.import_group(move.key, peers);
      check();
    }
    while (!peers_.empty()) {
      const size_t i = (seed * 7u + 3u) % peers_.size();
      seed = static_cast<uint8_t>(seed * 5u + 1u);
      router_.leave(*peers_[i]);
      output_.forget(*peers_[i]);
      peers_.erase(peers_.begin() + static_cast<long>(i));
      reap();
      check();
    }
    require(router_.counters().groups == 0 && router_.binding_count() == 0, "state left behind");
  }

 private:
  void migrate(size_t fd_count, std::string_view payload) {
    if (fd_count != 1 || payload.size() < sizeof(MigrationHeader)) return;  // malformed
    std::optional<MigratedPeer> m = decode_migrated_peer(payload);
    if (!m) return;  // inconsistent
    require(encode_migrated_peer(*m) == payload, "a kMigrate message does not round-trip");
    const MigrationHeader& h = m->header;
    require(h.index < h.group_size && h.group_size <= kMaxMigrationGroup, "a bad index accepted");
    if (h.group_size > kMaxInstalledGroup) return;
    PendingMove* move = nullptr;
    for (PendingMove& candidate : moves_) {
      if (candidate.source == h.source && candidate.token == h.token) move = &candidate;
    }
    if (!move) {
      move = &moves_.emplace_back();
      move->source = h.source;
      move->token = h.token;
      move->key = std::string(m->key);
      move->state.resize(h.group_size);
      move->arrived.resize(h.group_size);
    }
    if (h.index >= move->state.size() || move->arrived[h.index]) return;  // duplicate
    peers_.push_back(std::make_unique<Peer>());
    move->state[h.index] = routing_state(*m, *peers_.back());
    // Whatever generation the sender claims, the state goes to generation 1's import here,
    // the one with references between peers to get wrong.
    move->state[h.index].generation = 1;
    move->arrived[h.index] = true;
  }

  void local(const std::string& key) {
    peers_.push_back(std::make_unique<Peer>());
    router_.open(*peers_.back(), key);
    reap();
  }

  void reap() {
    for (Peer* p : output_.take_closed()) {
      auto it = std::find_if(peers_.begin(), peers_.end(), [p](auto& q) { return q.get() == p; });
      require(it != peers_.end(), "the router closed a peer it should not know");
      router_.leave(*p);
      output_.forget(*p);
      peers_.erase(it);
    }
  }

  void check() {
    std::vector<Peer*> live;
    for (auto& p : peers_) live.push_back(p.get());
    fuzz::check_router(router_, live, /*strict=*/true);
  }

  fuzz::CheckingOutput output_;
  Router router_{output_, 7};
  std::vector<PendingMove> moves_;
  std::vector<std::unique_ptr<Peer>> peers_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const uint8_t seed = in.byte();
  Receiver receiver;
  while (!in.empty()) {
    const ChannelType type = kTypes[in.byte() % kTypes.size()];
    const size_t fd_count = in.byte() % 4;
    const std::string_view payload = in.take(in.u16());
    receiver.receive(type, fd_count, payload);
  }
  receiver.install_and_leave(seed);
  return 0;
}
