#include "core/buffer.h"

#include <algorithm>
#include <cstdlib>

namespace sigver {

void Buffer::grow(size_t n) {
  const size_t used = size();
  // Compacting in place is enough when the consumed head makes the room.
  if (mem_ && cap_ - used >= n && head_ >= cap_ / 2) {
    std::memmove(mem_.get(), mem_.get() + head_, used);
    head_ = 0;
    tail_ = static_cast<uint32_t>(used);
    return;
  }
  size_t new_cap = std::max<size_t>(cap_ ? size_t{cap_} * 2 : 256, used + n);
  // Past 4 GiB the sizes would wrap: fail loudly rather than corrupt (limits keep us far away).
  if (new_cap > UINT32_MAX) new_cap = std::max<size_t>(used + n, UINT32_MAX);
  if (new_cap > UINT32_MAX) std::abort();
  auto mem = std::make_unique_for_overwrite<char[]>(new_cap);
  if (used) std::memcpy(mem.get(), mem_.get() + head_, used);
  mem_ = std::move(mem);
  totals_[static_cast<size_t>(account_)] += new_cap - cap_;
  cap_ = static_cast<uint32_t>(new_cap);
  head_ = 0;
  tail_ = static_cast<uint32_t>(used);
}

}  // namespace sigver

namespace sigver {

void Buffer::truncate(size_t n) {
  if (n >= size()) return;
  if (n == 0) {
    release();
    return;
  }
  auto mem = std::make_unique_for_overwrite<char[]>(n);
  std::memcpy(mem.get(), data(), n);
  totals_[static_cast<size_t>(account_)] -= cap_ - n;
  mem_ = std::move(mem);
  cap_ = static_cast<uint32_t>(n);
  head_ = 0;
  tail_ = static_cast<uint32_t>(n);
}

}  // namespace sigver
