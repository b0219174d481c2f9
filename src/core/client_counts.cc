#include "core/client_counts.h"

#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace sigver {
namespace {

// splitmix64's finalizer: every input bit moves every output bit.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

ClientCounts::ClientCounts() {
  void* p =
      ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
  shared_ = static_cast<Shared*>(p);  // zero-filled by the kernel: no counts, no workers
  uint64_t seed = 0;
  if (::getrandom(&seed, sizeof seed, 0) != sizeof seed) {
    seed = static_cast<uint64_t>(::getpid()) * 0x9e3779b97f4a7c15ULL;
  }
  shared_->seed = seed;
}

ClientCounts::~ClientCounts() {
  if (shared_) ::munmap(shared_, sizeof(Shared));
}

ClientCounts::Ticket ClientCounts::ticket(const sockaddr* address) const {
  if (!shared_ || address == nullptr) return kNotCounted;
  uint64_t key = 0;
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    key = (uint64_t{4} << 32) | v4->sin_addr.s_addr;
  } else if (address->sa_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
    const uint8_t* bytes = v6->sin6_addr.s6_addr;
    static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(bytes, kMappedPrefix, sizeof kMappedPrefix) == 0) {
      // An IPv4 client on a dual-stack socket is the same client as over IPv4.
      uint32_t v4 = 0;
      std::memcpy(&v4, bytes + 12, sizeof v4);
      key = (uint64_t{4} << 32) | v4;
    } else {
      std::memcpy(&key, bytes, 8);  // the /64 network prefix
      key = mix(key ^ 6);
    }
  } else {
    return kNotCounted;
  }
  const uint64_t h = mix(key ^ shared_->seed);
  const auto first = static_cast<uint32_t>(h % kBuckets);
  const auto second = static_cast<uint32_t>((h >> 32) % kBuckets);
  // Bit 31 marks a counted ticket, so that bucket pair (0, 0) is not kNotCounted.
  return 0x80000000u | (first << 16) | second;
}

ClientCounts::Ticket ClientCounts::ticket_of_socket(int fd) const {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return kNotCounted;
  return ticket(reinterpret_cast<const sockaddr*>(&address));
}

ClientCounts::Slice* ClientCounts::slice(int worker) const {
  if (!shared_ || worker < 0 || worker >= kMaxWorkers) return nullptr;
  return &shared_->slices[worker];
}

uint32_t ClientCounts::count(Ticket ticket) const {
  if (!shared_ || ticket == kNotCounted) return 0;
  const uint32_t first = (ticket >> 16) & 0x7fff;
  const uint32_t second = ticket & 0xffff;
  const int workers = std::min(shared_->workers.load(std::memory_order_relaxed), kMaxWorkers);
  uint32_t in_first = 0;
  uint32_t in_second = 0;
  for (int w = 0; w < workers; ++w) {
    in_first += shared_->slices[w].first[first].load(std::memory_order_relaxed);
    in_second += shared_->slices[w].second[second].load(std::memory_order_relaxed);
  }
  return std::min(in_first, in_second);
}

// A slice has one writer (its worker's process), so a plain load and store update it; the
// atomics only make the other workers' concurrent reads well defined.
void ClientCounts::add(int worker, Ticket ticket) {
  Slice* s = slice(worker);
  if (!s || ticket == kNotCounted) return;
  auto increment = [](std::atomic<uint32_t>& counter) {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  };
  increment(s->first[(ticket >> 16) & 0x7fff]);
  increment(s->second[ticket & 0xffff]);
}

void ClientCounts::remove(int worker, Ticket ticket) {
  Slice* s = slice(worker);
  if (!s || ticket == kNotCounted) return;
  // Never below zero, even if a slice was cleared under a live count (it is not: the master
  // clears only the slice of a process that is gone).
  auto decrement = [](std::atomic<uint32_t>& counter) {
    uint32_t value = counter.load(std::memory_order_relaxed);
    if (value > 0) counter.store(value - 1, std::memory_order_relaxed);
  };
  decrement(s->first[(ticket >> 16) & 0x7fff]);
  decrement(s->second[ticket & 0xffff]);
}

void ClientCounts::note_worker(int worker) {
  if (!shared_ || worker < 0 || worker >= kMaxWorkers) return;
  int seen = shared_->workers.load(std::memory_order_relaxed);
  if (worker + 1 > seen) shared_->workers.store(worker + 1, std::memory_order_relaxed);
}

void ClientCounts::clear(int worker) {
  Slice* s = slice(worker);
  if (!s) return;
  for (auto& counter : s->first) counter.store(0, std::memory_order_relaxed);
  for (auto& counter : s->second) counter.store(0, std::memory_order_relaxed);
}

}  // namespace sigver
