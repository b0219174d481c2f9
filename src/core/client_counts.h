#pragma once
// Open connections per client address, across every worker of one master: the kernel
// spreads a client's connections over the workers' SO_REUSEPORT sockets, and handoffs move
// them again, so no worker sees them all.
//
// The master maps one shared anonymous region before it forks the first worker. Each worker
// index has its own slice there that only that worker's process writes (a process counts
// the client sockets it holds: a handed-off socket is uncounted by the sender and counted by
// the receiver); any worker reads all slices to decide on a new connection. When a worker
// process ends, the master zeroes its slice, so a crash leaks no counts.
//
// A slice is a count-min sketch: two tables of counters, each address hashed (with a seed
// chosen at start-up, so clients cannot aim at one bucket) to one counter in each, and its
// count is the smaller of the two sums. A count is never under the truth; it is over only
// when other addresses crowd both of an address's buckets, which with 4096 buckets per table
// needs a very large number of busy clients. IPv6 addresses count per /64, the block one
// subscriber usually gets.
//
// Cost per accepted connection: one hash, then 2 loads per worker to check, and 2 relaxed
// atomic adds to its own slice; the same adds when the connection ends. No lock, no system
// call, no allocation.
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sigver {

class ClientCounts {
 public:
  static constexpr int kMaxWorkers = 64;  // as worker_processes allows
  static constexpr uint32_t kBuckets = 4096;

  // A counted address as two bucket numbers; kNotCounted for what is not an IP client
  // (the socketpair end of a TLS relay, a socket whose peer is already gone).
  using Ticket = uint32_t;
  static constexpr Ticket kNotCounted = 0;

  ClientCounts();
  ~ClientCounts();
  ClientCounts(const ClientCounts&) = delete;
  ClientCounts& operator=(const ClientCounts&) = delete;
  bool ok() const { return shared_ != nullptr; }

  Ticket ticket(const sockaddr* address) const;
  // True for kNotCounted and for every value ticket() can return (a ticket that crossed a
  // process boundary is checked before it indexes the counters).
  static bool valid(Ticket t) {
    return t == kNotCounted ||
           ((t & 0x80000000u) && ((t >> 16) & 0x7fff) < kBuckets && (t & 0xffff) < kBuckets);
  }
  // The ticket of a connected socket's peer (getpeername), kNotCounted if it has none.
  Ticket ticket_of_socket(int fd) const;

  // Connections of the ticket's address held by all workers.
  uint32_t count(Ticket ticket) const;
  void add(int worker, Ticket ticket);
  void remove(int worker, Ticket ticket);
  // The master: before it starts worker `worker` (readers look at slices below the highest
  // worker started), and once that worker's process has exited.
  void note_worker(int worker);
  void clear(int worker);

 private:
  struct Slice {
    std::atomic<uint32_t> first[kBuckets];
    std::atomic<uint32_t> second[kBuckets];
  };
  struct Shared {
    uint64_t seed;
    std::atomic<int> workers;  // slices in use: 1 + the highest worker index started
    Slice slices[kMaxWorkers];
  };
  static_assert(std::atomic<uint32_t>::is_always_lock_free);

  Slice* slice(int worker) const;

  Shared* shared_ = nullptr;
};

}  // namespace sigver
