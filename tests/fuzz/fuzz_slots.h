#pragma once
// What the router fuzz targets share: peers in numbered slots, each on one of two workers (a
// router and its output each), freed when they leave so that a pointer a router keeps to one
// is a use-after-free ASan reports.
#include <array>
#include <cstddef>
#include <memory>
#include <string>

#include "fuzz_check.h"
#include "worker/protocol/peer.h"

namespace sigver::fuzz {

struct Slot {
  std::unique_ptr<Peer> peer;
  int worker = 0;
  std::string key;
};

template <size_t N>
class Slots {
 public:
  Slot& operator[](size_t i) { return slots_[i % N]; }
  auto begin() { return slots_.begin(); }
  auto end() { return slots_.end(); }
  auto begin() const { return slots_.begin(); }
  auto end() const { return slots_.end(); }

  Slot& of(const Peer* peer) {
    for (Slot& slot : slots_) {
      if (slot.peer.get() == peer) return slot;
    }
    require(false, "a peer the target does not know");
    return slots_[0];
  }

  // What the worker does once a step is over: it closes, so frees, every peer its router
  // closed or whose queue overflowed. `outputs[w].take_closed()` names them; `leave(slot)`
  // frees one.
  template <typename Outputs, typename Leave>
  void reap(Outputs& outputs, Leave leave) {
    for (int w = 0; w < 2; ++w) {
      for (Peer* p : outputs[static_cast<size_t>(w)].take_closed()) {
        Slot& slot = of(p);
        require(slot.worker == w, "a peer closed by the other worker's router");
        leave(slot);
      }
    }
  }

 private:
  std::array<Slot, N> slots_;
};

}  // namespace sigver::fuzz
