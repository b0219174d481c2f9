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
#include "worker/queue_messages.h"
#include "worker/worker_loop.h"

namespace sigver {
namespace {

constexpr uint64_t kMigrationWaitMs = 5000;  // an incomplete group is installed after this
constexpr int kSendRetryMs = 3000;           // how long a full queue may hold up a move
// Groups arriving at once: a resize moves them one after the other from each worker, so a
// few per source are ever open; this only bounds what a broken sender can make us hold.
constexpr size_t kMaxPendingMigrations = 256;

// What a move of `c` puts in one queue message.
size_t carried_bytes(const ProtocolMux& mux, const Connection& c, size_t key_size) {
  return sizeof(MigrationHeader) + mux.moved_state_bytes(c) + key_size +
         c.reader.assembled().size() + c.in.size() + c.out.size();
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
  const std::optional<uint32_t> decoded = decode_resize(msg.payload);
  if (!decoded) {
    LOG_ERROR("malformed resize message: dropped");
    return;
  }
  const uint32_t count = *decoded;
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
  for (const std::string& key : protocols_.keys()) {
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
    // The master already steers new connections away from our listeners (listeners.h), but
    // closing them would reset what is still queued there, and handshakes that started
    // before the steering may complete a round trip later: keep accepting (and handing
    // off) for a grace period, then take what is left and close them.
    stopping_ = true;
    retire_listeners_at_ms_ = loop_.now_ms() + kRetireGraceMs;
    stop_deadline_ms_ = kNoDeadline;
  }
}

void Worker::migrate_group(const std::string& key, int owner) {
  // Send what can be sent now, so that little travels with the peers; a peer with more
  // pending than a message can carry (a slow reader) is closed instead.
  std::vector<Connection*> peers;
  for (Peer* p : protocols_.peers_of(key)) peers.push_back(static_cast<Connection*>(p));
  if (peers.empty()) return;
  for (Connection* c : peers) {
    if (c->state == ConnState::kOpen) flush(*c);
    // A TLS peer's TLS state stays here, in a relay; its plain end moves.
    if (c->state == ConnState::kOpen && !relay_tls(*c)) {
      if (c->transport.fd() < 0) {
        destroy(*c);
        continue;
      }
      close_with(*c, ws::close_code::kGoingAway, "server reconfiguring, please reconnect");
    }
    if (c->state == ConnState::kOpen &&
        carried_bytes(protocols_, *c, key.size()) + 1 > kQueueMessageMax) {
      close_with(*c, ws::close_code::kGoingAway, "server reconfiguring, please reconnect");
    }
  }
  std::vector<ExportedPeer> exported = protocols_.export_key(key);
  if (exported.empty()) return;
  const uint64_t token = ++migration_token_;
  const int queue = setup_.outboxes[static_cast<size_t>(owner)];
  for (size_t i = 0; i < exported.size(); ++i) {
    const ExportedPeer& e = exported[i];
    auto& c = static_cast<Connection&>(*e.peer);
    MigratedPeer m;
    MigrationHeader& h = m.header;
    h.version = kMigrationVersion;
    h.source = setup_.index;
    h.token = token;
    h.group_size = static_cast<uint32_t>(exported.size());
    h.index = static_cast<uint32_t>(i);
    h.member_position = e.member_position;
    h.bound_to = e.bound_to;
    h.id = e.id;
    h.netflux_id = e.netflux_id;
    h.generation = e.generation;
    h.favored = e.favored;
    h.up_open = e.up_open;
    h.down_open = e.down_open;
    h.missed_heartbeats = e.missed_heartbeats;
    h.assembling = c.reader.assembling();
    h.opcode = static_cast<uint8_t>(c.reader.assembling_opcode());
    m.tried = e.tried;
    m.tried_values = e.tried_values;
    m.key = key;
    m.assembled = c.reader.assembled();
    m.in = c.in.view();
    m.out = c.out.view();
    int err = send_waiting(queue, encode_migrated_peer(m), c.transport.fd());
    if (err) {
      LOG_ERROR("cannot move a peer of a group to worker %d: %s; closing it", owner,
                std::strerror(err));
    }
    c.record.reset();  // the new owner logs the connection when it ends
    destroy(c);        // it left the group silently in export_group; the new owner has the socket
  }
  LOG_DEBUG("moved a group of %zu peers to worker %d", exported.size(), owner);
}

void Worker::receive_migrated_peer(ChannelMessage& msg) {
  if (msg.fds.size() != 1 || msg.payload.size() < sizeof(MigrationHeader)) {
    LOG_ERROR("malformed group move message: dropped");
    return;
  }
  std::optional<MigratedPeer> decoded = decode_migrated_peer(msg.payload);
  if (!decoded) {
    LOG_ERROR("inconsistent group move message: dropped");
    return;
  }
  const MigrationHeader& h = decoded->header;
  const std::string_view key = decoded->key;

  PendingMigration* pending = nullptr;
  for (auto& m : migrations_) {
    if (m->source == h.source && m->token == h.token) pending = m.get();
  }
  if (!pending) {
    // A group larger than a key may hold, or more moves at once than workers could send, is
    // a broken (or hostile) sender: its announced size would otherwise be allocated here.
    // A key holds up to max_peers_per_key peers in each generation's group (protocol-v2.md:
    // groups per generation and key) and its undecided peers besides, which no limit counts
    // (they wait detect_timeout_max at most): room for both groups and as many waiting.
    const size_t largest = 3 * std::max<size_t>(config_.max_peers_per_key, 1024);
    if (h.group_size > largest || migrations_.size() >= kMaxPendingMigrations) {
      LOG_ERROR("group move of %u peers (%zu moves pending) refused: dropped", h.group_size,
                migrations_.size());
      return;
    }
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
  auto conn = std::make_unique<Connection>(*this, Transport(msg.fds[0].release()),
                                           config_.max_message_size);
  conn->state = ConnState::kOpen;
  conn->adopted = true;
  if (h.assembling) {
    conn->reader.resume_assembly(static_cast<ws::Opcode>(h.opcode), decoded->assembled);
  }
  conn->in.append(decoded->in);
  conn->out.append(decoded->out);
  pending->state[h.index] = routing_state(*decoded, *conn);
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
    std::vector<bool> present;
    for (const auto& conn : pending.peers) present.push_back(conn != nullptr);
    std::vector<ExportedPeer> arrived = renumber_arrived(std::move(pending.state), present);
    std::vector<Connection*> installed;
    for (auto& conn : pending.peers) {
      if (!conn) continue;
      Connection& c = *conn;
      c.slot = static_cast<uint32_t>(conns_.size());
      c.number = ++connection_numbers_;
      // Its unsent output may begin inside a frame but ends with a whole one.
      c.out_to_frame = static_cast<uint32_t>(c.out.size());
      c.client = limits_.track(c.transport.fd());  // the sender stopped counting it
      if (access_log_.enabled()) start_record(c);
      conns_.push_back(std::move(conn));
      installed.push_back(&c);
    }
    protocols_.import_key(pending.key, arrived);
    for (Connection* c : installed) {
      if (!watch(*c, EPOLLIN)) continue;
      arm_protocol_timer(*c, protocols_.next_tick_ms(*c));
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
