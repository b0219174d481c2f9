// Changing the worker count or the listen address without a restart. The master sends new
// listening sockets (kListeners) or the new count with every queue (kResize); on a resize
// each worker moves the groups whose keys now belong to another worker there, one peer per
// message (socket + routing state + pending bytes), so a group never spans processes and no
// peer is dropped. Jump hashing keeps the moving share to the minimum.
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "core/key_owner.h"
#include "core/log.h"
#include "worker/worker_loop.h"

namespace sigver {
namespace {

constexpr uint32_t kMigrationVersion = 1;
constexpr uint64_t kMigrationWaitMs = 5000;  // an incomplete group is installed after this
constexpr int kSendRetryMs = 3000;           // how long a full queue may hold up a move

// Fixed part of a kMigrate message, followed by: tried indices (uint32 each), the key, the
// message being assembled, unread input, unsent output. Host byte order: both ends are the
// same binary on the same machine.
struct MigrationHeader {
  uint32_t version;
  int32_t source;
  uint64_t token;       // one group move from `source`
  uint32_t group_size;  // peers moving with this group
  uint32_t index;       // this peer's index among them
  int32_t member_position;
  int32_t bound_to;
  uint32_t id;
  uint8_t up_open, down_open, missed_heartbeats, assembling, opcode, pad[3];
  uint32_t tried_count, key_size, assembled_size, in_size, out_size;
};

uint64_t seconds_to_ms(double s) { return static_cast<uint64_t>(s * 1000.0 + 0.5); }

size_t carried_bytes(const Connection& c, size_t key_size) {
  return sizeof(MigrationHeader) + c.tried.size() * 4 + key_size + c.reader.assembled().size() +
         c.in.size() + c.out.size();
}

// Sends, waiting a bounded time for room: a move is rare and must not lose the peer to a
// momentarily full queue.
int send_waiting(int queue, std::string_view payload, int fd) {
  int waited = 0;
  for (;;) {
    int err = channel_send(queue, ChannelType::kMigrate, payload, &fd, 1);
    if ((err != EAGAIN && err != ENOBUFS) || waited >= kSendRetryMs) return err;
    pollfd pfd{queue, POLLOUT, 0};
    ::poll(&pfd, 1, 10);
    waited += 10;
  }
}

}  // namespace

void Worker::replace_listeners(ChannelMessage& msg) {
  LOG_NOTICE("worker %d: new listening sockets (%zu)", setup_.index, msg.fds.size());
  close_listeners(/*keep_tls=*/true);  // listen_tls changes only with a restart
  if (stopping_) return;
  for (UniqueFd& fd : msg.fds) add_listener(fd.release());
}

void Worker::resize(ChannelMessage& msg) {
  uint32_t count = 0;
  if (msg.payload.size() != sizeof count) {
    LOG_ERROR("malformed resize message: dropped");
    return;
  }
  std::memcpy(&count, msg.payload.data(), sizeof count);
  if (count == 0 || count != msg.fds.size()) {
    LOG_ERROR("resize message for %u workers with %zu queues: dropped", count, msg.fds.size());
    return;
  }
  for (int fd : setup_.outboxes) ::close(fd);
  setup_.outboxes.clear();
  for (UniqueFd& fd : msg.fds) setup_.outboxes.push_back(fd.release());
  const int old_count = setup_.count;
  setup_.count = static_cast<int>(count);
  size_t moved = 0;
  for (const std::string& key : router_.keys()) {
    const int owner = key_owner(key, setup_.count);
    if (owner != setup_.index) {
      migrate_group(key, owner);
      ++moved;
    }
  }
  LOG_NOTICE("worker %d: worker count %d -> %d, %zu groups moved to their new workers",
             setup_.index, old_count, setup_.count, moved);
  if (setup_.index >= setup_.count) {
    // Retired: nothing of ours is left to serve; finish what is in flight and exit.
    // Retired: its groups are gone; it exits once what is in flight is done. TLS sessions
    // it terminates cannot move, so it keeps relaying them (their groups now live in other
    // workers) until their clients leave: no deadline.
    LOG_NOTICE("worker %d: retired by the new worker count, exiting once idle", setup_.index);
    stopping_ = true;
    accepting_ = false;
    close_listeners(false);
    stop_deadline_ms_ = kNoDeadline;
  }
}

void Worker::migrate_group(const std::string& key, int owner) {
  const Group* group = router_.find_group(key);
  if (!group) return;
  // Send what can be sent now, so that little travels with the peers; a peer with more
  // pending than a message can carry (a slow reader) is closed instead.
  std::vector<Connection*> peers;
  for (Peer* p : group->peers) peers.push_back(static_cast<Connection*>(p));
  for (Connection* c : peers) {
    if (c->state == ConnState::kOpen) flush(*c);
    if (c->state == ConnState::kOpen && carried_bytes(*c, key.size()) + 1 > kQueueMessageMax) {
      close_with(*c, ws::close_code::kGoingAway, "server reconfiguring, please reconnect");
    }
  }
  std::vector<ExportedPeer> exported = router_.export_group(key);
  if (exported.empty()) return;
  const uint64_t token = ++migration_token_;
  const int queue = setup_.outboxes[static_cast<size_t>(owner)];
  std::string payload;
  for (size_t i = 0; i < exported.size(); ++i) {
    const ExportedPeer& e = exported[i];
    auto& c = static_cast<Connection&>(*e.peer);
    MigrationHeader h{};
    h.version = kMigrationVersion;
    h.source = setup_.index;
    h.token = token;
    h.group_size = static_cast<uint32_t>(exported.size());
    h.index = static_cast<uint32_t>(i);
    h.member_position = e.member_position;
    h.bound_to = e.bound_to;
    h.id = e.id;
    h.up_open = e.up_open;
    h.down_open = e.down_open;
    h.missed_heartbeats = c.missed_heartbeats;
    h.assembling = c.reader.assembling();
    h.opcode = static_cast<uint8_t>(c.reader.assembling_opcode());
    h.tried_count = static_cast<uint32_t>(e.tried.size());
    h.key_size = static_cast<uint32_t>(key.size());
    h.assembled_size = static_cast<uint32_t>(c.reader.assembled().size());
    h.in_size = static_cast<uint32_t>(c.in.size());
    h.out_size = static_cast<uint32_t>(c.out.size());
    payload.assign(reinterpret_cast<const char*>(&h), sizeof h);
    payload.append(reinterpret_cast<const char*>(e.tried.data()), e.tried.size() * 4);
    payload += key;
    payload += c.reader.assembled();
    payload += c.in.view();
    payload += c.out.view();
    int err = send_waiting(queue, payload, c.fd.get());
    if (err) {
      LOG_ERROR("cannot move a peer of a group to worker %d: %s; closing it", owner,
                std::strerror(err));
    }
    destroy(c);  // it left the group silently in export_group; the new owner has the socket
  }
  LOG_DEBUG("moved a group of %zu peers to worker %d", exported.size(), owner);
}

void Worker::receive_migrated_peer(ChannelMessage& msg) {
  MigrationHeader h;
  if (msg.fds.size() != 1 || msg.payload.size() < sizeof h) {
    LOG_ERROR("malformed group move message: dropped");
    return;
  }
  std::memcpy(&h, msg.payload.data(), sizeof h);
  const size_t expected =
      sizeof h + size_t{h.tried_count} * 4 + h.key_size + h.assembled_size + h.in_size + h.out_size;
  if (h.version != kMigrationVersion || expected != msg.payload.size() || h.index >= h.group_size ||
      h.group_size > (1u << 20)) {
    LOG_ERROR("inconsistent group move message: dropped");
    return;
  }
  const char* p = msg.payload.data() + sizeof h;
  auto take = [&p](size_t n) {
    std::string_view v(p, n);
    p += n;
    return v;
  };
  std::string_view tried = take(size_t{h.tried_count} * 4);
  std::string_view key = take(h.key_size);
  std::string_view assembled = take(h.assembled_size);
  std::string_view in = take(h.in_size);
  std::string_view out = take(h.out_size);

  PendingMigration* pending = nullptr;
  for (auto& m : migrations_) {
    if (m->source == h.source && m->token == h.token) pending = m.get();
  }
  if (!pending) {
    migrations_.push_back(std::make_unique<PendingMigration>());
    pending = migrations_.back().get();
    pending->source = h.source;
    pending->token = h.token;
    pending->key = std::string(key);
    pending->deadline_ms = loop_.now_ms() + kMigrationWaitMs;
    pending->peers.resize(h.group_size);
    pending->state.resize(h.group_size);
  }
  if (h.index >= pending->peers.size() || pending->peers[h.index]) {
    LOG_ERROR("duplicate peer in a group move: dropped");
    return;
  }
  auto conn = std::make_unique<Connection>(*this, msg.fds[0].release(), config_.max_message_size);
  conn->state = ConnState::kOpen;
  conn->adopted = true;
  conn->missed_heartbeats = h.missed_heartbeats;
  if (h.assembling) conn->reader.resume_assembly(static_cast<ws::Opcode>(h.opcode), assembled);
  conn->in.append(in);
  conn->out.append(out);
  ExportedPeer& e = pending->state[h.index];
  e.peer = conn.get();
  e.member_position = h.member_position;
  e.bound_to = h.bound_to;
  e.id = h.id;
  e.up_open = h.up_open;
  e.down_open = h.down_open;
  e.tried.resize(h.tried_count);
  if (h.tried_count) std::memcpy(e.tried.data(), tried.data(), tried.size());
  pending->peers[h.index] = std::move(conn);
  if (++pending->received == pending->peers.size()) finish_migrations(false);
}

void Worker::finish_migrations(bool expired_only) {
  const uint64_t now = loop_.now_ms();
  for (size_t m = 0; m < migrations_.size();) {
    PendingMigration& pending = *migrations_[m];
    const bool complete = pending.received == pending.peers.size();
    if (!complete && (!expired_only || now < pending.deadline_ms)) {
      ++m;
      continue;
    }
    if (!complete) {
      LOG_WARN("group move from worker %d incomplete (%zu of %zu peers), installing those",
               pending.source, pending.received, pending.peers.size());
    }
    // Renumber around the peers that never arrived.
    std::vector<int> renumber(pending.peers.size(), -1);
    std::vector<ExportedPeer> arrived;
    for (size_t i = 0; i < pending.peers.size(); ++i) {
      if (!pending.peers[i]) continue;
      renumber[i] = static_cast<int>(arrived.size());
      arrived.push_back(std::move(pending.state[i]));
    }
    for (ExportedPeer& e : arrived) {
      e.bound_to = e.bound_to >= 0 && static_cast<size_t>(e.bound_to) < renumber.size()
                       ? renumber[static_cast<size_t>(e.bound_to)]
                       : -1;
      std::vector<uint32_t> tried;
      for (uint32_t k : e.tried) {
        if (k < renumber.size() && renumber[k] >= 0)
          tried.push_back(static_cast<uint32_t>(renumber[k]));
      }
      e.tried = std::move(tried);
    }
    std::vector<Connection*> installed;
    for (auto& conn : pending.peers) {
      if (!conn) continue;
      Connection& c = *conn;
      c.slot = static_cast<uint32_t>(conns_.size());
      conns_.push_back(std::move(conn));
      installed.push_back(&c);
    }
    router_.import_group(pending.key, arrived);
    for (Connection* c : installed) {
      if (!loop_.add(c->fd.get(), EPOLLIN, c)) {
        LOG_ERROR("epoll_ctl(ADD) failed: %s", std::strerror(errno));
        destroy(*c);
        continue;
      }
      heartbeat_timers_.push(*c, now + seconds_to_ms(config_.heartbeat_interval));
      if (!c->out.empty()) mark_dirty(*c);
      // Whole frames were all handled by the old owner; what is left is a partial frame,
      // which the next read completes.
    }
    LOG_DEBUG("installed a group of %zu peers moved from worker %d", installed.size(),
              pending.source);
    migrations_.erase(migrations_.begin() + static_cast<long>(m));
  }
}

}  // namespace sigver
