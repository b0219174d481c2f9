#pragma once
// A peer's place in the Sigver protocol, independent of its connection: its generation, its
// group, whether it is a member, and its binding to a member while it joins. Every
// generation keeps its per-peer state here, so a connection costs the same whichever it
// speaks, and the worker embeds one Peer in each connection without knowing what it holds.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sigver {

struct Peer;

// The peers of one (generation, KEY). Generation 0 is the lobby: peers whose generation is
// not decided yet (protocol-v2.md, "One port, two generations").
struct Group {
  std::string key;
  std::vector<Peer*> members;  // in the order they became members
  std::vector<Peer*> peers;    // every peer of the key (members and joiners)
};

// The members a joining peer has been bound to, by a value the generation chooses
// (generation 1: the member's serial; generation 2: its netflux id). Nearly every joiner
// tries one member, so the first sits inline and only a second one allocates: an idle peer
// keeps no heap block for this. A value of 0 is never recorded.
class TriedMembers {
 public:
  bool contains(uint64_t value) const {
    if (first_ == value && value != 0) return true;
    return more_ && std::find(more_->begin(), more_->end(), value) != more_->end();
  }
  void add(uint64_t value) {
    if (value == 0 || contains(value)) return;
    if (first_ == 0) {
      first_ = value;
    } else {
      if (!more_) more_ = std::make_unique<std::vector<uint64_t>>();
      more_->push_back(value);
    }
  }
  void clear() {
    first_ = 0;
    more_.reset();
  }
  size_t size() const { return (first_ ? 1 : 0) + (more_ ? more_->size() : 0); }
  template <typename F>
  void for_each(F&& f) const {
    if (first_) f(first_);
    if (more_) {
      for (uint64_t v : *more_) f(v);
    }
  }

 private:
  uint64_t first_ = 0;
  std::unique_ptr<std::vector<uint64_t>> more_;
};

struct Peer {
  Group* group = nullptr;  // nullptr once the peer has left (closed or closing)
  uint64_t serial = 0;     // unique per worker and generation; 0 until it joins
  // This peer's own binding to a member (it is joining through `member`).
  Peer* member = nullptr;
  uint32_t id = 0;          // routing id of that binding (0 = none)
  uint32_t netflux_id = 0;  // generation 2: the id of its latest connect
  uint8_t generation = 0;   // 1 or 2 once decided; 0 while undecided
  uint8_t missed_heartbeats = 0;
  uint8_t messages_sent = 0;  // messages written to it, saturating at 255
  bool is_member : 1 = false;
  bool up_open : 1 = false;    // this peer -> member direction not ended yet
  bool down_open : 1 = false;  // member -> this peer direction not ended yet
  bool favored : 1 = false;    // generation 2: `favored` in its URL query
  bool spoke : 1 = false;      // a data message came from it (detection)
  bool detecting : 1 = false;  // its first tick is the end of detection
  bool closed : 1 = false;     // a generation closed it
  TriedMembers tried;
};

}  // namespace sigver
