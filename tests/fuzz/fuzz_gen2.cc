// libFuzzer target: generation 2's router (protocol-v2.md). Peers open, connect, relay, send
// heartbeats and raw bytes, tick and leave on a few keys in the order the input says; two
// routers stand for two workers between which groups move (exported, some peers lost or
// their state garbled on the way, imported with entries of another generation beside them),
// and outputs may be congested. Every message the router writes is decoded and checked
// against the state before the step, every close against the operation that caused it, and
// after every step the router's groups, members and bindings against each other and the
// peers alive. Departed peers are freed, so a pointer the router keeps to one is a
// use-after-free that ASan reports.
//
// Input: a list of steps, each an operation byte, a slot byte (peer slot = value % 8), then
// the operation's own bytes:
//   0 open       key byte (bits 0-1: "a", "b", "c" or an invalid key, bit 2: which invalid
//                one, bit 6: ?favored, bit 7: on the worker that does not own the key)
//   1 leave
//   2 raw        length byte, then that many bytes (a binary message)
//   3 content    recipient kind byte (0: 0, 1: its own binding id, 2: the binding id of the
//                slot in the next byte, 3: the next 4 bytes), data length byte (255: no data
//                field), the data, lastData byte (bit 0)
//   4 connect    id byte (bit 7: the next 4 bytes, else the id of the slot value % 8), count
//                byte (% 6), per member an id byte like the id byte, packed byte (bit 0)
//   5 heartbeat  value byte      6 tick      7 congest (its next write fails)
//   8 move       key byte, foreign byte (bit 0: an entry of generation 1 goes along), then
//                per peer of the group a byte (bit 0: lost, bit 1: garbled: then a bound_to
//                byte and a 4-byte id follow)
//   9 text       10 connected (a server-only type from the peer)
#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "fuzz_slots.h"
#include "worker/protocol/gen2/codec.h"
#include "worker/protocol/gen2/router.h"

namespace {

using namespace sigver;
using namespace sigver::gen2;
using fuzz::require;
using fuzz::Slot;

constexpr size_t kSlots = 8;
constexpr size_t kMaxPeersPerKey = 5;  // below kSlots, so that a full key is reached too
constexpr uint32_t kMaxKeyLength = 8;
constexpr std::array<const char*, 3> kKeys = {"a", "b", "c"};

void append_varint(std::string& out, uint64_t v) {
  for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>((v & 0x7F) | 0x80));
  out.push_back(static_cast<char>(v));
}

// What a step may cause, for the output to check messages and closes against.
struct StepContext {
  enum class Op { kOpen, kMessage, kConnect, kContent, kTick, kLeave, kMove } op = Op::kOpen;
  const Peer* actor = nullptr;
  // Binding ids whose direction was closed before the step (by lastData, or never opened).
  std::set<uint32_t> up_closed, down_closed;
  int contents = 0;  // relayed contents written (not end notices)
};

class CheckingOutput final : public PeerOutput {
 public:
  CheckingOutput(const std::set<const Peer*>& connected, const StepContext& step)
      : connected_(connected), step_(step) {}
  void watch(const Router& router) { router_ = &router; }

  void congest(Peer& peer) { congested_.insert(&peer); }
  void forget(const Peer& peer) {
    congested_.erase(&peer);
    closed_.erase(std::remove(closed_.begin(), closed_.end(), &peer), closed_.end());
  }
  // Peers the router closed or whose queue overflowed since the last call, each once.
  std::vector<Peer*> take_closed() { return std::exchange(closed_, {}); }
  int& contents() { return contents_; }

  char* begin_message(Peer& to, size_t size) override {
    // Reading the peer makes ASan catch a write to a peer that was freed.
    require(to.group != nullptr, "a message to a peer outside of any group");
    require(to.generation == 2, "a message to a peer of another generation");
    require(size > 0, "an empty message");
    if (congested_.erase(&to)) {
      mark_closed(to);
      return nullptr;
    }
    pending_.assign(size, '\xAA');
    return pending_.data();
  }

  void end_message(Peer& to, size_t size) override {
    require(size == pending_.size(), "end_message with another size than begin_message");
    DecodedMessage m;
    require(decode_message(pending_.data(), size, m), "the router wrote an invalid message");
    if (m.type == MessageType::kHeartbeat) {
      require(m.flag && step_.op == StepContext::Op::kTick && step_.actor == &to,
              "a heartbeat that is not a tick's");
      return;
    }
    require(connected_.count(&to), "a message other than heartbeats before the first connect");
    if (m.type == MessageType::kConnected) {
      require(step_.op == StepContext::Op::kConnect && step_.actor == &to,
              "connected to a peer that did not send connect");
      require(m.flag ? to.is_member : (to.member != nullptr && !to.is_member),
              "connected disagrees with the peer's state");
      return;
    }
    require(m.type == MessageType::kContent, "a message of a type the server never sends");
    require(!m.last_data, "lastData from the server");
    char notice_bytes[kMaxEndNoticeSize];
    const bool notice =
        std::string_view(notice_bytes,
                         write_end_notice(notice_bytes, m.sender_id, m.recipient_id)) == pending_;
    if (m.sender_id != 0) {
      require(m.recipient_id == 0, "both ids set");
      const Peer* joiner = router_->find_by_id(m.sender_id);
      require(joiner && joiner->member == &to, "content to a member with a wrong senderId");
      require(!step_.up_closed.count(m.sender_id), "content up a closed direction");
    } else {
      require(m.recipient_id != 0 && m.recipient_id == to.id && to.member != nullptr,
              "content to a joiner with a wrong recipientId");
      require(!step_.down_closed.count(m.recipient_id), "content down a closed direction");
    }
    if (!notice) {
      require(step_.op == StepContext::Op::kContent, "relayed content outside a content step");
      ++contents_;
    }
  }

  void close(Peer& peer, uint16_t code, std::string_view reason) override {
    require(peer.group == nullptr, "close before the router removed the peer");
    require(!reason.empty(), "a close without a reason");
    using Op = StepContext::Op;
    const bool own = step_.actor == &peer;
    switch (code) {
      case close_code::kBadKey:
      case close_code::kTryAgainLater:
        require(step_.op == Op::kOpen && own, "4741 or 1013 other than at open");
        break;
      case close_code::kHeartbeat:
        require(step_.op == Op::kTick && own, "4742 other than on a tick");
        break;
      case close_code::kBadMessage:
        require(
            (step_.op == Op::kMessage || step_.op == Op::kContent || step_.op == Op::kConnect) &&
                own,
            "4743 other than for the sender");
        break;
      case close_code::kBlockingMember:
        require(step_.op == Op::kConnect && !own, "4744 other than for a joiner's connect");
        break;
      default:
        require(false, "an unexpected close code");
    }
    mark_closed(peer);
  }

  uint32_t round_trip_us(Peer&) override { return 0; }

 private:
  void mark_closed(Peer& peer) {
    if (std::find(closed_.begin(), closed_.end(), &peer) == closed_.end()) closed_.push_back(&peer);
  }

  const Router* router_ = nullptr;
  const std::set<const Peer*>& connected_;
  const StepContext& step_;
  std::string pending_;
  std::vector<Peer*> closed_;
  std::set<const Peer*> congested_;
  int contents_ = 0;
};

class World {
 public:
  World() {
    ProtocolSettings settings;
    settings.max_peers_per_key = kMaxPeersPerKey;
    settings.max_key_length = kMaxKeyLength;
    for (int w = 0; w < 2; ++w) {
      routers_[w].configure(settings);
      outputs_[w].watch(routers_[w]);
    }
  }

  void step(fuzz::Input& in) {
    const uint8_t op = in.byte() % 11;
    Slot& slot = slots_[in.byte()];
    snapshot(slot);
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
      if (slot.peer) {
        step_.op = StepContext::Op::kLeave;
        leave(slot);
      }
    }
    reap();
    for (const Router& r : routers_) {
      const GenerationCounters c = r.counters();
      require(c.groups == 0 && c.peers == 0 && r.binding_count() == 0,
              "state left after everyone left");
    }
  }

 private:
  void snapshot(const Slot& slot) {
    step_ = StepContext{};
    step_.actor = slot.peer.get();
    for (const Slot& s : slots_) {
      if (!s.peer || !s.peer->member) continue;
      if (!s.peer->up_open) step_.up_closed.insert(s.peer->id);
      if (!s.peer->down_open) step_.down_closed.insert(s.peer->id);
    }
    for (CheckingOutput& o : outputs_) o.contents() = 0;
  }

  static uint32_t slot_id(size_t slot) { return 0x1000 + static_cast<uint32_t>(slot); }

  void open(Slot& slot, uint8_t key_byte) {
    if (slot.peer) return;
    step_.op = StepContext::Op::kOpen;
    const size_t k = key_byte & 3;
    slot.key = k < kKeys.size() ? kKeys[k] : (key_byte & 4) ? "" : "too-long-key";
    // A stray peer lands on the worker that does not own the key, as a connection adopted
    // while the workers learn a new count does; the next move merges it.
    const int owner = k < kKeys.size() ? owner_[k] : 0;
    slot.worker = (key_byte & 0x80) ? 1 - owner : owner;
    slot.peer = std::make_unique<Peer>();
    step_.actor = slot.peer.get();
    Router& r = routers_[slot.worker];
    r.read_query(*slot.peer, (key_byte & 0x40) ? "x=1&favored" : "unfavored");
    require(slot.peer->favored == ((key_byte & 0x40) != 0), "read_query");
    r.open(*slot.peer, slot.key);
    require(slot.peer->generation == 2, "open leaves the generation unset");
  }

  void act(uint8_t op, Slot& slot, fuzz::Input& in) {
    switch (op) {
      case 1:
        step_.op = StepContext::Op::kLeave;
        leave(slot);
        break;
      case 2:
        deliver(slot, true, std::string(in.take(in.byte())));
        break;
      case 3:
        deliver(slot, true, content(slot, in));
        break;
      case 4:
        deliver(slot, true, connect(in));
        break;
      case 5:
        deliver(slot, true, std::string{'\x08', static_cast<char>(in.byte() & 1)});
        require(slot.peer->missed_heartbeats == 0, "a heartbeat does not reset the count");
        break;
      case 6:
        step_.op = StepContext::Op::kTick;
        routers_[slot.worker].tick(*slot.peer);
        break;
      case 7:
        outputs_[slot.worker].congest(*slot.peer);
        break;
      case 9:
        deliver(slot, false, std::string("\x1a\x00", 2));
        break;
      case 10:
        deliver(slot, true, "\x20\x01");
        break;
    }
  }

  uint32_t id_operand(fuzz::Input& in) {
    const uint8_t b = in.byte();
    return (b & 0x80) ? in.u32() : slot_id(b % kSlots);
  }

  std::string content(Slot& slot, fuzz::Input& in) {
    uint32_t recipient = 0;
    switch (in.byte() % 4) {
      case 1:
        recipient = slot.peer->id;
        break;
      case 2:
        if (const Peer* other = slots_[in.byte()].peer.get()) recipient = other->id;
        break;
      case 3:
        recipient = in.u32();
        break;
    }
    const uint8_t data_size = in.byte();
    std::string body = "\x08";
    append_varint(body, slot.peer->netflux_id);
    body.push_back('\x10');
    append_varint(body, recipient);
    const std::string_view data = data_size != 255 ? in.take(data_size) : std::string_view();
    const bool last_data = (in.byte() & 1) != 0;
    body += last_data ? std::string_view("\x18\x01", 2) : std::string_view("\x18\x00", 2);
    if (data_size != 255) {
      body.push_back('\x22');
      append_varint(body, data.size());
      body += data;
    }
    std::string message = "\x12";
    append_varint(message, body.size());
    return message + body;
  }

  std::string connect(fuzz::Input& in) {
    std::string body = "\x08";
    append_varint(body, id_operand(in));
    std::vector<uint32_t> members(in.byte() % 6);
    for (uint32_t& m : members) m = id_operand(in);
    if (in.byte() & 1) {
      std::string packed;
      for (uint32_t m : members) append_varint(packed, m);
      body.push_back('\x12');
      append_varint(body, packed.size());
      body += packed;
    } else {
      for (uint32_t m : members) {
        body.push_back('\x10');
        append_varint(body, m);
      }
    }
    std::string message = "\x1a";
    append_varint(message, body.size());
    return message + body;
  }

  // What the worker does with a data message of a generation-2 peer.
  void deliver(Slot& slot, bool binary, const std::string& bytes) {
    using Op = StepContext::Op;
    DecodedMessage decoded;
    const bool valid = binary && decode_message(bytes.data(), bytes.size(), decoded);
    step_.op = !valid                                  ? Op::kMessage
               : decoded.type == MessageType::kConnect ? Op::kConnect
               : decoded.type == MessageType::kContent ? Op::kContent
                                                       : Op::kMessage;
    if (step_.op == Op::kConnect) connected_.insert(slot.peer.get());  // the router may answer
    const uint8_t missed = slot.peer->missed_heartbeats;
    routers_[slot.worker].message(*slot.peer, binary, bytes.data(), bytes.size());
    require(outputs_[slot.worker].contents() <= 1, "a content relayed to more than one peer");
    if (slot.peer->group && decoded.type != MessageType::kHeartbeat) {
      require(slot.peer->missed_heartbeats == missed, "a message other than heartbeat resets it");
    }
  }

  void leave(Slot& slot) {
    routers_[slot.worker].leave(*slot.peer);
    require(slot.peer->group == nullptr, "leave keeps the peer in a group");
    outputs_[slot.worker].forget(*slot.peer);
    connected_.erase(slot.peer.get());
    slot.peer.reset();
  }

  // Worker::migrate_group on one side, receiving and installing on the other, with what
  // may happen in between: peers lost (their send failed), state garbled by a buggy sender.
  void move_group(const char* key, fuzz::Input& in) {
    step_.op = StepContext::Op::kMove;
    const size_t k = static_cast<size_t>(key[0] - 'a');
    const int from = owner_[k];
    const int to = 1 - from;
    owner_[k] = to;
    std::vector<ExportedPeer> list;
    Peer foreign;  // a peer of generation 1 travelling with the same key
    if (in.byte() & 1) {
      ExportedPeer& e = list.emplace_back();
      e.peer = &foreign;
      e.generation = 1;
      e.member_position = 0;
    }
    const size_t base = list.size();
    routers_[from].export_group(key, list);
    require(routers_[from].find_group(key) == nullptr, "export leaves the group");
    // Renumber bound_to for the peers that arrive, as the receiving worker does.
    std::vector<int> new_index(list.size(), -1);
    std::vector<ExportedPeer> arrived;
    for (size_t i = 0; i < list.size(); ++i) {
      ExportedPeer& e = list[i];
      if (i >= base) {
        require(e.generation == 2 && e.peer && e.peer->group == nullptr, "an exported entry");
        Slot& slot = slots_.of(e.peer);
        outputs_[from].forget(*e.peer);
        const uint8_t fate = in.byte();
        if (fate & 1) {  // the send failed: the old worker closed it
          connected_.erase(slot.peer.get());
          slot.peer.reset();
          continue;
        }
        slot.worker = to;
        // Garbled state only for peers that spoke: binding one that never sent its connect
        // would make it receive content, which is the sender's bug, not the router's.
        if ((fate & 2) && connected_.count(e.peer)) {
          e.bound_to = static_cast<int>(in.byte()) - 8;
          e.id = in.u32();
          e.member_position = (fate & 4) ? -1 : e.member_position;
          e.up_open = fate & 8;
        }
      }
      new_index[i] = static_cast<int>(arrived.size());
      arrived.push_back(e);
    }
    for (ExportedPeer& e : arrived) {
      const bool in_range = e.bound_to >= 0 && static_cast<size_t>(e.bound_to) < list.size();
      e.bound_to = in_range ? new_index[static_cast<size_t>(e.bound_to)] : e.bound_to;
    }
    routers_[to].import_group(key, arrived);
    require(foreign.group == nullptr && foreign.generation == 0,
            "import touched another generation's entry");
  }

  void reap() {
    slots_.reap(outputs_, [this](Slot& slot) { leave(slot); });
  }

  void check() {
    for (int w = 0; w < 2; ++w) {
      std::vector<const Peer*> live;
      for (const Slot& slot : slots_) {
        if (!slot.peer || slot.worker != w) continue;
        live.push_back(slot.peer.get());
        require(slot.peer->group != nullptr, "an open peer outside of any group");
        require(slot.peer->group->key == slot.key, "a peer in another key's group");
      }
      check_router(routers_[w], live);
    }
  }

  static void check_router(const Router& router, const std::vector<const Peer*>& live) {
    auto alive = [&live](const Peer* p) {
      return std::find(live.begin(), live.end(), p) != live.end();
    };
    size_t bindings = 0;
    std::set<uint32_t> ids;
    for (const Peer* p : live) {
      const Group& g = *p->group;
      require(router.find_group(g.key) == &g, "a peer's group is not its router's group");
      require(std::count(g.peers.begin(), g.peers.end(), p) == 1, "a peer not once in its group");
      require(std::count(g.members.begin(), g.members.end(), p) == (p->is_member ? 1 : 0),
              "is_member disagrees with the member list");
      if (p->member) {
        ++bindings;
        require(p->id != 0 && ids.insert(p->id).second, "binding ids not unique and non-zero");
        require(router.find_by_id(p->id) == p, "a binding not found by its id");
        require(alive(p->member), "a binding to a freed peer");
        require(p->member != p && p->member->is_member && p->member->group == p->group,
                "a binding to a non-member, to itself or to another group");
      } else {
        require(p->id == 0 && !p->up_open && !p->down_open,
                "an id or open relay without a binding");
      }
    }
    require(bindings == router.binding_count(), "ids of bindings that ended");
    const GenerationCounters c = router.counters();
    require(c.peers == live.size(), "the peer count");
    const std::vector<std::string> keys = router.keys();
    require(c.groups == keys.size(), "the group count");
    for (const std::string& key : keys) {
      const Group* g = router.find_group(key);
      require(g != nullptr && g->key == key && !g->peers.empty(), "an empty or misfiled group");
      for (const Peer* p : g->peers) {
        require(alive(p), "a group keeps a freed peer");
        require(p->group == g, "a group's peer points to another group");
      }
      for (const Peer* m : g->members) {
        require(std::count(g->peers.begin(), g->peers.end(), m) == 1, "a member not in the group");
      }
    }
  }

  std::set<const Peer*> connected_;  // peers that sent a connect
  StepContext step_;
  std::array<CheckingOutput, 2> outputs_{CheckingOutput(connected_, step_),
                                         CheckingOutput(connected_, step_)};
  std::array<Router, 2> routers_{Router(outputs_[0], 1), Router(outputs_[1], 2)};
  fuzz::Slots<kSlots> slots_;
  std::array<int, kKeys.size()> owner_{};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  World world;
  while (!in.empty()) world.step(in);
  world.finish();
  return 0;
}
