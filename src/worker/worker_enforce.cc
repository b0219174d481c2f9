// The worker acting on its limits (worker_limits.h decides): refusing requests, pausing
// accepting, bounding pending handshakes, and closing the peers that make the worker's
// buffers grow past their totals. Memory stays bounded whatever clients do; a peer that
// reads and writes normally is never closed because others don't.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

#include "core/log.h"
#include "worker/worker_loop.h"
#include "ws/http_upgrade.h"

namespace sigver {
namespace {

std::string kib(size_t bytes) { return std::to_string((bytes + 1023) / 1024) + " KiB"; }

UpgradeFailure failure_of(ws::UpgradeStatus status) {
  switch (status) {
    case ws::UpgradeStatus::kUpgradeRequired:
      return UpgradeFailure::kUpgradeRequired;
    case ws::UpgradeStatus::kBadVersion:
      return UpgradeFailure::kBadVersion;
    case ws::UpgradeStatus::kHeadersTooLarge:
      return UpgradeFailure::kHeadersTooLarge;
    case ws::UpgradeStatus::kForbidden:
      return UpgradeFailure::kOrigin;
    case ws::UpgradeStatus::kUnavailable:
      return UpgradeFailure::kOverloaded;
    default:
      return UpgradeFailure::kBadRequest;
  }
}

}  // namespace

size_t Worker::held_connections() const {
  // What they hold in descriptors: one per connection (served here, plain or TLS) and per
  // TLS handshake, two per TLS relay (for a key another worker owns).
  return conns_.size() + (tls_ ? tls_->descriptors() : 0);
}

void Worker::update_accepting() {
  if (stopping_) return;
  const bool full = held_connections() >= limits_.max_connections();
  if (full && accepting_) {
    char what[128];
    std::snprintf(what, sizeof what,
                  "worker holds %zu connections; accepting paused until some end",
                  held_connections());
    limits_.log().hit(Limit::kConnections, loop_.now_ms(), what);
    pause_accepting(kNoDeadline);
  } else if (!full && !accepting_ && accept_resume_ms_ == kNoDeadline) {
    LOG_INFO("worker %d: below max_connections (%zu), accepting again", setup_.index,
             limits_.max_connections());
    resume_accepting();
  }
}

void Worker::refuse(Connection& c, ws::UpgradeStatus status, std::string_view reason) {
  if (c.state != ConnState::kHandshake) return;
  WorkerStats::add(stats_.upgrades_failed[static_cast<size_t>(failure_of(status))]);
  note_end(c, 's', static_cast<uint16_t>(ws::http_status(status)));
  ws::append_error_response(c.out, status, reason);
  begin_closing(c);
}

void Worker::bound_pending_handshakes() {
  if (pending_handshakes_ <= limits_.max_pending_handshakes()) return;
  // Deadlines share one duration, so the head of the queue is the oldest connection.
  DeadlineNode* oldest = handshake_timers_.front();
  if (!oldest) return;
  limits_.log().hit(Limit::kPendingHandshakes, loop_.now_ms(),
                    "too many connections without a finished upgrade; dropping the oldest");
  WorkerStats::add(stats_.upgrades_failed[static_cast<size_t>(UpgradeFailure::kDropped)]);
  destroy(static_cast<Connection&>(*oldest));
}

void Worker::advance_frame_boundary(Connection& c, size_t sent) {
  // Only an open connection's queue is ever cut, and only it is sure to hold frames after
  // the boundary (an HTTP error response is not a frame).
  if (c.state != ConnState::kOpen) return;
  size_t at = c.out_to_frame;
  if (sent < at) {
    c.out_to_frame = static_cast<uint32_t>(at - sent);
    return;
  }
  // Walks only the frames this send() finished: the cost is per byte already sent. Every
  // frame was appended whole, so each header read here is complete.
  const char* data = c.out.data();
  while (at < sent) at += ws::server_frame_size(data + at);
  c.out_to_frame = static_cast<uint32_t>(at - sent);
}

bool Worker::drop_unsent(Connection& c) {
  if (c.transport.write_blocked()) return false;
  c.out.truncate(c.out_to_frame);
  if (c.out.empty()) c.out_to_frame = 0;
  return true;
}

void Worker::enforce_memory() {
  if (limits_.outbound_over()) evict_outbound();
  if (limits_.inbound_over()) evict_inbound();
}

void Worker::evict_outbound() {
  // After the flush, bytes still queued are the ones the kernel refused: only peers whose
  // socket is full (`writing`) are candidates, largest queue first.
  std::vector<std::pair<size_t, Connection*>> stuck;
  for (auto& c : conns_) {
    if (c->writing && c->out.capacity() > 0 && c->state != ConnState::kClosed) {
      stuck.emplace_back(c->out.capacity(), c.get());
    }
  }
  std::sort(stuck.begin(), stuck.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  const uint64_t bound = limits_.max_outbound_total();
  for (auto& [size, c] : stuck) {
    if (!limits_.outbound_over()) break;
    std::string what = "worker output over " + kib(bound) +
                       "; closing a peer that does not read (" + kib(size) + " queued) with 1008";
    limits_.log().hit(Limit::kOutboundTotal, loop_.now_ms(), what.c_str());
    if (c->state == ConnState::kOpen && drop_unsent(*c)) {
      close_with(*c, ws::close_code::kPolicyViolation, "server output over limit");
    } else {
      destroy(*c);  // already closing and still not reading: its close frame cannot wait
    }
  }
}

void Worker::evict_inbound() {
  std::vector<std::pair<size_t, Connection*>> holding;
  for (auto& c : conns_) {
    const size_t held = c->inbound_bytes();
    if (held > 0 && c->state != ConnState::kClosed) holding.emplace_back(held, c.get());
  }
  std::sort(holding.begin(), holding.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  const uint64_t bound = limits_.max_inbound_total();
  for (auto& [size, c] : holding) {
    if (!limits_.inbound_over()) break;
    std::string what = "worker input over " + kib(bound) + "; closing a peer holding " + kib(size) +
                       " of unfinished input";
    limits_.log().hit(Limit::kInboundTotal, loop_.now_ms(), what.c_str());
    if (c->state == ConnState::kOpen) {
      close_with(*c, ws::close_code::kPolicyViolation, "server input over limit");
    } else {
      destroy(*c);
    }
  }
}

void Worker::count_close(uint16_t code) { WorkerStats::add(stats_.closes[close_code_slot(code)]); }

void Worker::publish_stats() {
  WorkerStats& s = stats_;
  WorkerStats::set(s.progress_ms, loop_.now_ms());
  WorkerStats::set(s.connections, conns_.size());
  const GenerationCounters protocol = protocols_.counters();
  WorkerStats::set(s.groups, protocol.groups);
  WorkerStats::set(s.peers, protocol.peers);
  WorkerStats::set(s.outbound_bytes, Buffer::total(Buffer::Account::kOutbound));
  WorkerStats::set(s.messages_relayed, protocol.messages_relayed);
  WorkerStats::set(s.bytes_relayed, protocol.bytes_relayed);
  WorkerStats::set(s.heartbeat_timeouts, protocol.heartbeat_timeouts);
  WorkerStats::set(s.handoffs, handoffs_sent_);
  if (tls_) {
    WorkerStats::set(s.tls_handshakes, tls_->handshakes());
    WorkerStats::set(s.tls_resumptions, tls_->resumptions());
  }
  static_assert(kLimitSlots == kLimitCount);
  for (int i = 0; i < kLimitCount; ++i) {
    WorkerStats::set(s.limit_rejections[i], limits_.log().total(static_cast<Limit>(i)));
  }
}

void Worker::open_access_log() {
  if (config_.access_log.empty()) {
    access_log_ = AccessLog();
    return;
  }
  std::string error;
  if (!access_log_.open(config_.access_log, error)) LOG_ERROR("%s", error.c_str());
}

void Worker::start_record(Connection& c) {
  auto record = std::make_unique<AccessRecord>();
  record->opened_ms = loop_.now_ms();
  sockaddr_storage address{};
  socklen_t size = sizeof address;
  if (::getpeername(c.transport.fd(), reinterpret_cast<sockaddr*>(&address), &size) == 0) {
    char host[INET6_ADDRSTRLEN] = "-";
    uint16_t port = 0;
    if (address.ss_family == AF_INET) {
      const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
      ::inet_ntop(AF_INET, &v4.sin_addr, host, sizeof host);
      port = ntohs(v4.sin_port);
    } else if (address.ss_family == AF_INET6) {
      const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
      ::inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof host);
      port = ntohs(v6.sin6_port);
    }
    if (address.ss_family == AF_UNIX) {
      record->tls = true;  // the plain end of a TLS relay (the relay knows the client)
    } else {
      record->tls = c.transport.tls();  // served here on its TLS socket
      record->remote = address.ss_family == AF_INET6 ? "[" + std::string(host) + "]" : host;
      record->remote += ":" + std::to_string(port);
    }
  }
  c.record = std::move(record);
}

void Worker::note_end(Connection& c, char by, uint16_t code) {
  if (!c.record || c.record->closed_by != '-') return;
  c.record->closed_by = by;
  c.record->code = code;
}

void Worker::end_record(Connection& c) {
  if (!c.record) return;
  access_log_.write(c.record->line(setup_.index, loop_.now_ms()));
  c.record.reset();
}

}  // namespace sigver
