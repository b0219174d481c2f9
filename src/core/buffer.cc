#include "core/buffer.h"

#include <algorithm>

namespace sigver {

void Buffer::grow(size_t n) {
  const size_t used = size();
  // Compacting in place is enough when the consumed head makes the room.
  if (mem_ && cap_ - used >= n && head_ >= cap_ / 2) {
    std::memmove(mem_.get(), mem_.get() + head_, used);
    head_ = 0;
    tail_ = used;
    return;
  }
  size_t new_cap = std::max<size_t>(cap_ ? cap_ * 2 : 256, used + n);
  auto mem = std::make_unique_for_overwrite<char[]>(new_cap);
  if (used) std::memcpy(mem.get(), mem_.get() + head_, used);
  mem_ = std::move(mem);
  cap_ = new_cap;
  head_ = 0;
  tail_ = used;
}

}  // namespace sigver
