#pragma once
// One worker's limits ([limits] and allowed_origins): the settings in force, the counts they
// are checked against that live outside the worker's connection table (connections per
// client address, shared by all workers), and the log of every limit that acted. The
// worker asks at named points (accept, upgrade, message, end of a loop iteration) and acts
// on the answer; this class holds no connection.
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/client_counts.h"
#include "core/config.h"
#include "worker/limits.h"

namespace sigver {

class WorkerLimits {
 public:
  // `shared`: the master's counts per client address (null: this worker counts alone).
  WorkerLimits(int worker_index, ClientCounts* shared);
  ~WorkerLimits();

  // At start and on every reload.
  void configure(const Config& config);

  // ---- accepting ----
  size_t max_connections() const { return max_connections_; }
  size_t max_pending_handshakes() const { return config_.max_pending_handshakes; }
  // A new client from `address`: counts it and returns its ticket in `ticket`, or returns
  // false (counted as a refusal) when the address is at max_connections_per_ip.
  bool admit(const sockaddr* address, ClientCounts::Ticket& ticket, uint64_t now_ms);
  // A client socket that arrived from another worker (already admitted there): counts it.
  ClientCounts::Ticket track(int fd);
  // ... whose ticket the sender passed along: counts it without asking the kernel.
  ClientCounts::Ticket adopt(ClientCounts::Ticket ticket);
  // The client socket behind `ticket` is no longer held by this worker.
  void release(ClientCounts::Ticket ticket);

  // ---- upgrade ----
  // False (counted) when a browser page's origin is not in allowed_origins.
  bool origin_allowed(bool has_origin, std::string_view origin, uint64_t now_ms);

  // ---- messages ----
  bool rate_enabled() const { return rate_.enabled(); }
  // One more message from the peer whose bucket is `due_us`; false (counted) when over.
  // Inline: it runs for every message.
  bool allow_message(uint64_t& due_us, uint64_t now_ms) {
    if (rate_.allow(due_us, now_ms * 1000)) return true;
    note_rate_exceeded(now_ms);
    return false;
  }

  // ---- memory ----
  uint64_t max_outbound_total() const { return config_.max_outbound_total; }
  uint64_t max_inbound_total() const { return config_.max_inbound_total; }
  bool outbound_over() const {
    return Buffer::total(Buffer::Account::kOutbound) > config_.max_outbound_total;
  }
  bool inbound_over() const {
    return Buffer::total(Buffer::Account::kInbound) > config_.max_inbound_total;
  }

  LimitLog& log() { return log_; }
  int worker() const { return worker_; }

 private:
  void note_rate_exceeded(uint64_t now_ms);

  int worker_;
  ClientCounts* counts_;
  std::unique_ptr<ClientCounts> own_counts_;  // when the master gave none
  Config config_;
  size_t max_connections_ = 0;
  MessageRate rate_;
  LimitLog log_;
};

// max_connections = auto: what the open-file limit allows, keeping room for the descriptors
// a worker needs besides its clients (listeners, queues, logs, sockets arriving by handoff).
size_t derived_max_connections(uint64_t open_file_limit);

}  // namespace sigver
