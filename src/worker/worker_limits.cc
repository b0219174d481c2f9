#include "worker/worker_limits.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>

#include "ws/origin.h"

namespace sigver {

WorkerLimits::WorkerLimits(int worker_index, ClientCounts* shared)
    : worker_(worker_index), counts_(shared) {
  if (!counts_) {
    own_counts_ = std::make_unique<ClientCounts>();
    counts_ = own_counts_.get();
    counts_->note_worker(worker_);
  }
}

WorkerLimits::~WorkerLimits() = default;

size_t derived_max_connections(uint64_t open_file_limit) {
  // Sockets handed over by other workers arrive whatever our count is (they were admitted
  // there), so the reserve must hold a burst of them as well as our own fixed descriptors.
  const uint64_t reserve = 64 + open_file_limit / 16;
  if (open_file_limit <= reserve + 16) return 16;
  // Every connection counts its descriptors (held_connections: a TLS relay counts twice).
  return static_cast<size_t>(open_file_limit - reserve);
}

void WorkerLimits::configure(const Config& config) {
  config_ = config;
  if (config.max_connections != 0) {
    max_connections_ = config.max_connections;
  } else {
    rlimit limit{};
    uint64_t files = 1024;
    if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
      files = limit.rlim_cur;
    } else if (limit.rlim_cur == RLIM_INFINITY) {
      files = 1 << 20;
    }
    max_connections_ = derived_max_connections(files);
  }
  rate_.configure(config.max_messages_per_second, config.messages_burst);
}

bool WorkerLimits::admit(const sockaddr* address, ClientCounts::Ticket& ticket, uint64_t now_ms) {
  ticket = counts_->ticket(address);
  if (config_.max_connections_per_ip != 0 && ticket != ClientCounts::kNotCounted &&
      counts_->count(ticket) >= config_.max_connections_per_ip) {
    char what[96];
    std::snprintf(what, sizeof what, "a client address has %u connections; answering 503",
                  config_.max_connections_per_ip);
    log_.hit(Limit::kConnectionsPerIp, now_ms, what);
    ticket = ClientCounts::kNotCounted;
    return false;
  }
  counts_->add(worker_, ticket);
  return true;
}

ClientCounts::Ticket WorkerLimits::track(int fd) {
  ClientCounts::Ticket ticket = counts_->ticket_of_socket(fd);
  counts_->add(worker_, ticket);
  return ticket;
}

ClientCounts::Ticket WorkerLimits::adopt(ClientCounts::Ticket ticket) {
  counts_->add(worker_, ticket);
  return ticket;
}

void WorkerLimits::release(ClientCounts::Ticket ticket) { counts_->remove(worker_, ticket); }

bool WorkerLimits::origin_allowed(bool has_origin, std::string_view origin, uint64_t now_ms) {
  // Without an Origin header the client is not a browser page: nothing to check.
  if (!has_origin || ws::origin_allowed(origin, config_.allowed_origins)) return true;
  // The origin is the client's text: keep the log line printable and short.
  std::string shown(origin.substr(0, 100));
  for (char& c : shown) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  std::string what = "refused a page from origin \"" + shown + "\" (403)";
  log_.hit(Limit::kOrigin, now_ms, what.c_str());
  return false;
}

void WorkerLimits::note_rate_exceeded(uint64_t now_ms) {
  char what[96];
  std::snprintf(what, sizeof what, "a peer sent over %g messages per second; closing it (1008)",
                config_.max_messages_per_second);
  log_.hit(Limit::kMessageRate, now_ms, what);
}

}  // namespace sigver
