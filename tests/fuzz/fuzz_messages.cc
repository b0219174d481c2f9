// libFuzzer target: message handling. Peers open, send and leave on a few keys in the order
// the input says; what they send goes through decode_message and the router as in the
// worker (worker_frames.cc), two routers stand for two workers between which groups move
// (exported, sent as kMigrate messages, some peers lost on the way, imported), and outputs
// may be congested. After every step the router's invariants are checked (router_check.h)
// and departed peers are freed, so a pointer kept to one is caught by ASan.
//
// Input: a list of steps, each an operation byte, a slot byte (peer slot = value % 6), then
// the operation's own bytes:
//   0 open        key byte (key = "a", "b", "c" by value % 3, bit 7: on the other worker)
//   1 leave
//   2 raw message length byte, then that many bytes
//   3 content     id kind byte (0: none, 1: own id, 2: id of the slot in the next byte,
//                 3: the next 4 bytes), data length byte (255 = no data), data, flags byte
//                 (bit 0: isError, bit 1: isEnd)
//   4 stable      5 tryAnother      6 heartbeat      7 congest (its next write fails)
//   8 move group  key byte, then one byte per peer of the group (bit 0: lost on the way)
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "fuzz_slots.h"
#include "router_check.h"
#include "worker/protocol/gen1/codec.h"
#include "worker/protocol/gen1/router.h"
#include "worker/queue_messages.h"

namespace {

using namespace sigver;
using namespace sigver::gen1;
using fuzz::require;
using fuzz::Slot;

constexpr size_t kSlots = 6;
constexpr size_t kMaxPeersPerKey = 4;  // below kSlots, so that a full key is reached too
constexpr std::array<const char*, 3> kKeys = {"a", "b", "c"};

void append_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

class World {
 public:
  World() {
    for (int w = 0; w < 2; ++w) {
      outputs_[w].watch(routers_[w]);
      ProtocolSettings settings;
      settings.max_peers_per_key = kMaxPeersPerKey;
      routers_[w].configure(settings);
    }
  }

  void step(fuzz::Input& in) {
    const uint8_t op = in.byte() % 9;
    Slot& slot = slots_[in.byte()];
    if (op == 0) {
      open(slot, in.byte());
    } else if (op == 8) {
      move_group(kKeys[in.byte() % kKeys.size()], in);
    } else if (slot.peer) {
      act(op, slot, in);
    }
    reap();
    check();
  }

  void finish() {
    for (Slot& slot : slots_) {
      if (slot.peer) leave(slot);
    }
    reap();
    for (const Router& r : routers_) {
      require(r.counters().groups == 0 && r.binding_count() == 0, "state left after everyone left");
    }
  }

 private:
  void open(Slot& slot, uint8_t key_byte) {
    if (slot.peer) return;
    const size_t k = key_byte % kKeys.size();
    // A stray peer lands on the worker that does not own the key, as a connection adopted
    // while the workers learn a new count does; the next move merges it.
    slot.worker = (key_byte & 0x80) ? 1 - owner_[k] : owner_[k];
    slot.peer = std::make_unique<Peer>();
    routers_[slot.worker].open(*slot.peer, kKeys[k]);
  }

  void act(uint8_t op, Slot& slot, fuzz::Input& in) {
    switch (op) {
      case 1:
        leave(slot);
        break;
      case 2:
        deliver(slot, std::string(in.take(in.byte())));
        break;
      case 3:
        deliver(slot, content(slot, in));
        break;
      case 4:
      case 5:
      case 6: {
        char msg[8];
        const uint32_t field = op == 4   ? field::kStable
                               : op == 5 ? field::kTryAnother
                                         : field::kHeartbeat;
        deliver(slot, std::string(msg, write_bool_message(msg, field, true)));
        break;
      }
      case 7:
        outputs_[slot.worker].congest(*slot.peer);
        break;
    }
  }

  std::string content(Slot& slot, fuzz::Input& in) {
    uint32_t id = 0;
    switch (in.byte() % 4) {
      case 1:
        id = slot.peer->id;
        break;
      case 2:
        if (const Peer* other = slots_[in.byte()].peer.get()) id = other->id;
        break;
      case 3:
        id = in.u32();
        break;
    }
    const uint8_t data_size = in.byte();
    std::string body;
    if (id != 0) {
      body.push_back(0x08);
      append_varint(body, id);
    }
    if (data_size != 255) {
      std::string_view data = in.take(data_size);
      body.push_back(0x12);
      append_varint(body, data.size());
      body += data;
    }
    const uint8_t flags = in.byte();
    if (flags & 1) body += "\x18\x01";
    if (flags & 2) body += "\x20\x01";
    std::string message = "\x0A";
    append_varint(message, body.size());
    return message + body;
  }

  // A binary message, as the worker hands it over (a message it closes the peer for comes
  // back through take_closed()).
  void deliver(Slot& slot, const std::string& bytes) {
    routers_[slot.worker].message(*slot.peer, true, bytes.data(), bytes.size());
  }

  void leave(Slot& slot) {
    routers_[slot.worker].leave(*slot.peer);
    outputs_[slot.worker].forget(*slot.peer);
    slot.peer.reset();
  }

  // Worker::migrate_group on one side and receive_migrated_peer + finish_migrations on the
  // other, through the real message encoding.
  void move_group(const char* key, fuzz::Input& in) {
    const size_t k = static_cast<size_t>(key[0] - 'a');
    const int from = owner_[k];
    const int to = 1 - from;
    owner_[k] = to;
    std::vector<ExportedPeer> exported;
    routers_[from].export_group(key, exported);
    std::vector<ExportedPeer> state(exported.size());
    std::vector<bool> arrived(exported.size());
    for (size_t i = 0; i < exported.size(); ++i) {
      const ExportedPeer& e = exported[i];
      MigratedPeer m;
      m.header.version = kMigrationVersion;
      m.header.group_size = static_cast<uint32_t>(exported.size());
      m.header.index = static_cast<uint32_t>(i);
      m.header.member_position = e.member_position;
      m.header.bound_to = e.bound_to;
      m.header.id = e.id;
      m.header.generation = e.generation;
      m.header.missed_heartbeats = e.missed_heartbeats;
      m.header.up_open = e.up_open;
      m.header.down_open = e.down_open;
      m.tried = e.tried;
      m.key = key;
      const std::string payload = encode_migrated_peer(m);
      std::optional<MigratedPeer> got = decode_migrated_peer(payload);
      require(got && encode_migrated_peer(*got) == payload,
              "a kMigrate message does not round-trip");
      Slot& slot = slots_.of(e.peer);
      outputs_[from].forget(*e.peer);
      if (in.flag()) {
        slot.peer.reset();  // the send failed: the old worker closed it
        continue;
      }
      slot.worker = to;
      arrived[i] = true;
      state[i] = routing_state(*got, *e.peer);
    }
    std::vector<ExportedPeer> peers = renumber_arrived(std::move(state), arrived);
    if (!peers.empty()) routers_[to].import_group(key, peers);
  }

  // The worker closes what the router closed and what overflowed once the step is done.
  void reap() {
    slots_.reap(outputs_, [this](Slot& slot) { leave(slot); });
  }

  void check() {
    for (int w = 0; w < 2; ++w) {
      std::vector<Peer*> live;
      for (Slot& slot : slots_) {
        if (!slot.peer || slot.worker != w) continue;
        require(slot.peer->group != nullptr, "an open peer outside of any group");
        live.push_back(slot.peer.get());
      }
      fuzz::check_router(routers_[w], live, /*strict=*/true);
    }
  }

  std::array<fuzz::CheckingOutput, 2> outputs_;
  std::array<Router, 2> routers_{Router(outputs_[0], 1), Router(outputs_[1], 2)};
  fuzz::Slots<kSlots> slots_;
  std::array<int, kKeys.size()> owner_{};
  DecodedMessage decoded_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  World world;
  while (!in.empty()) world.step(in);
  world.finish();
  return 0;
}
