// A binary upgrade, the workers' side (worker_handover.h; the masters' side is
// master/upgrade.cc). Groups travel with the same kMigrate messages as on a worker-count
// change; only the queues they are sent to and the ring that picks them change.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/handover.h"
#include "core/key_owner.h"
#include "core/log.h"
#include "worker/worker_loop.h"

namespace sigver {
namespace {

constexpr int kEndSendRetryMs = 1000;

void close_all(std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
  fds.clear();
}

// Tells a new worker that nothing more comes from old worker `index`; waits a bounded time
// for room, as the moves before it did.
void send_upgrade_end(int queue, uint32_t index) {
  const std::string_view payload(reinterpret_cast<const char*>(&index), sizeof index);
  for (int waited = 0;; waited += 10) {
    const int err = channel_send(queue, ChannelType::kUpgradeEnd, payload, nullptr, 0);
    if (err == 0 || (err != EAGAIN && err != ENOBUFS)) return;
    if (waited >= kEndSendRetryMs) return;
    pollfd pfd{queue, POLLOUT, 0};
    ::poll(&pfd, 1, 10);
  }
}

}  // namespace

void Worker::begin_upgrade(ChannelMessage& msg) {
  const std::optional<uint32_t> count = decode_upgrade(msg.payload);
  if (!count || *count != msg.fds.size() || handover_.forwarding || handover_.armed()) {
    LOG_ERROR("worker %d: malformed or unexpected upgrade message: dropped", setup_.index);
    return;
  }
  if (WorkerStats::get(stats_.upgrade_wanted) == 0) {
    LOG_NOTICE("worker %d: the upgrade was abandoned before this worker could move its groups",
               setup_.index);
    return;  // the kRollback behind it finds nothing to undo
  }
  handover_.own_outboxes = std::move(setup_.outboxes);
  handover_.own_count = setup_.count;
  setup_.outboxes.clear();
  for (UniqueFd& fd : msg.fds) setup_.outboxes.push_back(fd.release());
  setup_.count = static_cast<int>(*count);
  handover_.forwarding = true;
  size_t moved = 0;
  for (const std::string& key : protocols_.keys()) {
    migrate_group(key, key_owner(key, setup_.count));
    ++moved;
  }
  reaim_parked();
  WorkerStats::set(stats_.handed_over, 1);
  LOG_NOTICE("worker %d: binary upgrade, %zu groups moved to the new workers", setup_.index, moved);
}

void Worker::commit_upgrade(std::string_view role) {
  if (role == "N") {
    // New worker: the old ones will not take anything back now.
    close_all(handover_.fallback_outboxes);
    handover_.fallback_count = 0;
    if (accept_resume_ms_ == kHeldForUpgrade) {
      accept_resume_ms_ = 0;
      resume_accepting();
    }
    // Every group has arrived (the old workers moved them before the commit was sent).
    std::vector<Connection*> held;
    for (auto& c : conns_) {
      if (c->held && c->state == ConnState::kHandshake) held.push_back(c.get());
    }
    for (Connection* c : held) {
      c->held = false;
      handle_handshake(*c);
    }
    LOG_INFO("worker %d: upgrade committed, accepting (%zu waiting connections joined)",
             setup_.index, held.size());
    return;
  }
  if (role != "O" || stopping_) return;
  // Old worker: retired like one a smaller worker count retires (worker_migrate.cc). After a
  // move it holds only TLS relays; after a drain (the new binary spoke another handover
  // version) it serves its groups until their peers leave.
  close_all(handover_.own_outboxes);
  LOG_NOTICE(
      "worker %d: the new binary took over; %s", setup_.index,
      handover_.forwarding ? "exiting once idle" : "draining: serving its peers until they leave");
  stopping_ = true;
  retire_listeners_at_ms_ = loop_.now_ms() + kRetireGraceMs;
  stop_deadline_ms_ = kNoDeadline;
}

void Worker::roll_back_upgrade() {
  if (!handover_.forwarding) return;
  // What this worker sent the new workers is queued before this mark: a new worker that
  // has every old worker's mark holds all it will get, and sends it back.
  for (int queue : setup_.outboxes) send_upgrade_end(queue, static_cast<uint32_t>(setup_.index));
  close_all(setup_.outboxes);
  setup_.outboxes = std::move(handover_.own_outboxes);
  handover_.own_outboxes.clear();
  setup_.count = handover_.own_count;
  handover_.forwarding = false;
  reaim_parked();
  WorkerStats::set(stats_.handed_over, 0);
  LOG_NOTICE("worker %d: upgrade rolled back, serving as before", setup_.index);
}

void Worker::note_upgrade_end(ChannelMessage& msg) {
  uint32_t index = 0;
  if (msg.payload.size() != sizeof index || !handover_.armed()) return;
  std::memcpy(&index, msg.payload.data(), sizeof index);
  if (handover_.ended.size() < static_cast<size_t>(handover_.fallback_count)) {
    handover_.ended.resize(static_cast<size_t>(handover_.fallback_count), false);
  }
  if (index < handover_.ended.size()) handover_.ended[index] = true;
}

bool Worker::return_on_stop() {
  if (!handover_.armed()) return false;
  if (handover_.returning) return true;
  handover_.returning = true;
  handover_.ended.resize(static_cast<size_t>(handover_.fallback_count), false);
  handover_.return_at_ms = loop_.now_ms() + kReturnWaitMs;
  LOG_NOTICE(
      "worker %d: stopped before the upgrade committed; sending every group back to the "
      "old workers",
      setup_.index);
  return true;
}

void Worker::return_groups_when_ready() {
  const bool all_ended =
      std::all_of(handover_.ended.begin(), handover_.ended.end(), [](bool e) { return e; });
  if (!all_ended && loop_.now_ms() < handover_.return_at_ms) return;
  // Groups still arriving are installed as they are, to go back at once.
  for (auto& m : migrations_) m->deadline_ms = 0;
  if (!migrations_.empty()) finish_migrations(true);
  close_all(setup_.outboxes);
  setup_.outboxes = std::move(handover_.fallback_outboxes);
  handover_.fallback_outboxes.clear();
  setup_.count = handover_.fallback_count;
  handover_.forwarding = true;  // a handshake that completes goes back too
  size_t moved = 0;
  for (const std::string& key : protocols_.keys()) {
    migrate_group(key, key_owner(key, setup_.count));
    ++moved;
  }
  std::vector<Connection*> waiting;
  for (auto& c : conns_) {
    if (c->state == ConnState::kHandshake && !c->parked) waiting.push_back(c.get());
  }
  for (Connection* c : waiting) handle_handshake(*c);
  LOG_NOTICE("worker %d: %zu groups sent back to the old workers, exiting", setup_.index, moved);
  running_ = false;
}

void Worker::reaim_parked() {
  std::vector<Connection*> waiting = parked_;
  for (Connection* c : waiting) {
    unpark(*c);
    if (c->state == ConnState::kHandshake && watch(*c, EPOLLIN)) handle_handshake(*c);
  }
}

}  // namespace sigver
