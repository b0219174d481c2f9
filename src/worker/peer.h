#pragma once
// A peer's place in the Sigver protocol, independent of its connection: which group it is
// in, whether it is a member, and its binding to a member while it joins.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

namespace sigver {

struct Group;

// Serials of the members a joining peer has been bound to. Nearly every joiner tries one
// member, so the first sits inline and only a second one allocates: an idle peer keeps no
// heap block for this.
class TriedMembers {
 public:
  bool contains(uint64_t serial) const {
    if (first_ == serial && serial != 0) return true;
    return more_ && std::find(more_->begin(), more_->end(), serial) != more_->end();
  }
  void add(uint64_t serial) {
    if (first_ == 0) {
      first_ = serial;
    } else {
      if (!more_) more_ = std::make_unique<std::vector<uint64_t>>();
      more_->push_back(serial);
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
      for (uint64_t s : *more_) f(s);
    }
  }

 private:
  uint64_t first_ = 0;  // serials start at 1, so 0 means none
  std::unique_ptr<std::vector<uint64_t>> more_;
};

struct Peer {
  Group* group = nullptr;  // nullptr once the peer has left (closed or closing)
  uint64_t serial = 0;     // unique per worker; remembers "tried" members across their ids
  bool is_member = false;  // isFirst=true, or sent `stable`
  // This peer's own binding to a member (it is joining through `member`).
  Peer* member = nullptr;
  uint32_t id = 0;         // routing id of that binding (0 = none)
  bool up_open = false;    // this peer -> member direction not ended yet
  bool down_open = false;  // member -> this peer direction not ended yet
  TriedMembers tried;      // members this peer was bound to
};

}  // namespace sigver
