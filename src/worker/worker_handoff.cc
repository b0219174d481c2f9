// Passing connections between workers, and the other messages a worker's queue carries.
// The accepting worker sends the socket and every byte it has read from it to the owner's
// queue; the owner parses the same bytes again, so nothing the client sent is lost or
// reordered. Only the fd and raw bytes cross processes; a TLS connection's TLS state stays
// with the accepting worker, which relays for it (tls_relay.h).
#include <cerrno>
#include <cstring>

#include "core/channel.h"
#include "core/log.h"
#include "worker/connection_log.h"
#include "worker/queue_messages.h"
#include "worker/worker_loop.h"

namespace sigver {
void Worker::hand_off(Connection& c, int owner) {
  // A TLS connection leaves its TLS state here, in a relay: the owner gets its plain end.
  if (c.transport.tls() && !relay_tls(c)) {
    if (c.transport.fd() < 0) {
      destroy(c);
    } else {
      WorkerStats::add(stats_.handoff_failures);
      refuse(c, ws::UpgradeStatus::kUnavailable, "server busy, please retry later");
    }
    return;
  }
  const int queue = owner < static_cast<int>(setup_.outboxes.size()) ? setup_.outboxes[owner] : -1;
  const int fd = c.transport.fd();
  char head[sizeof(uint32_t)];
  // Another master's workers count addresses with another seed: they count it anew.
  const ClientCounts::Ticket ticket = handover_.forwarding ? ClientCounts::kNotCounted : c.client;
  const std::string_view head_bytes = encode_handoff_head(ticket, head);
  int err = queue < 0                                                ? EBADF
            : head_bytes.size() + c.in.size() + 1 > kQueueMessageMax ? EMSGSIZE
                                                                     : 0;
  if (!err) err = channel_send(queue, ChannelType::kHandoff, head_bytes, c.in.view(), &fd, 1);
  if (!err) {
    ++handoffs_sent_;
    CONN_DEBUG(c, "handed off a connection to worker %d (%zu bytes)", owner, c.in.size());
    if (c.parked) unpark(c);
    c.record.reset();  // the owner logs it when it ends
    destroy(c);        // the owner has its own copy of the socket now
    return;
  }
  if (err == EAGAIN || err == ENOBUFS) {
    // The owner's queue is full (busy, or being restarted): keep the client waiting, without
    // reading from it, and try again shortly; the handshake timeout bounds the wait.
    if (!c.parked) {
      c.parked = true;
      c.handoff_owner = static_cast<int16_t>(owner);
      watch(c, 0);  // only a hang-up matters while it waits
      parked_.push_back(&c);
    }
    return;
  }
  CONN_WARN(c, "cannot hand the connection off to worker %d: %s; answering 503", owner,
            std::strerror(err));
  WorkerStats::add(stats_.handoff_failures);
  if (c.parked) unpark(c);
  watch(c, EPOLLIN);
  refuse(c, ws::UpgradeStatus::kUnavailable, "server busy, please retry later");
}

void Worker::unpark(Connection& c) {
  c.parked = false;
  for (size_t i = 0; i < parked_.size(); ++i) {
    if (parked_[i] == &c) {
      parked_[i] = parked_.back();
      parked_.pop_back();
      return;
    }
  }
}

void Worker::retry_parked() {
  // Copy: a retry removes the connection from the list.
  std::vector<Connection*> waiting = parked_;
  for (Connection* c : waiting) {
    if (c->parked && c->state == ConnState::kHandshake) hand_off(*c, c->handoff_owner);
  }
}

void Worker::receive_queue() {
  if (!queue_buffer_) queue_buffer_ = std::make_unique_for_overwrite<char[]>(kQueueMessageMax);
  for (int i = 0; i < 64; ++i) {
    update_inbox();
    if (inbox_paused_) return;
    ChannelMessage msg;
    switch (channel_receive(setup_.inbox, queue_buffer_.get(), kQueueMessageMax, msg)) {
      case ChannelResult::kEmpty:
      case ChannelResult::kClosed:  // only as the master dies, whose death stops us
        return;
      case ChannelResult::kError:
        LOG_ERROR("recvmsg(queue) failed: %s", std::strerror(errno));
        return;
      case ChannelResult::kMalformed:
        LOG_ERROR("truncated message on the worker queue: dropped");
        continue;
      case ChannelResult::kMessage:
        break;
    }
    switch (msg.type) {
      case ChannelType::kHandoff:
        if (msg.fds.size() != 1) {
          LOG_ERROR("handoff message with %zu descriptors: dropped", msg.fds.size());
          continue;
        }
        if (std::optional<Handoff> h = decode_handoff(msg.payload)) {
          adopt(msg.fds[0].release(), h->client, h->bytes);
        } else {
          LOG_ERROR("malformed handoff message: dropped");
        }
        break;
      case ChannelType::kListeners:
        replace_listeners(msg);
        break;
      case ChannelType::kResize:
        resize(msg);
        break;
      case ChannelType::kMigrate:
        receive_migrated_peer(msg);
        break;
      case ChannelType::kTlsMaterial:
        if (tls_) tls_->update(msg.payload);
        break;
      case ChannelType::kTicketKeys:
        if (tls_) tls_->update_tickets(msg.payload);
        break;
      case ChannelType::kUpgrade:
        begin_upgrade(msg);
        break;
      case ChannelType::kCommit:
        commit_upgrade(msg.payload);
        break;
      case ChannelType::kRollback:
        roll_back_upgrade();
        break;
      case ChannelType::kUpgradeEnd:
        note_upgrade_end(msg);
        break;
      default:
        LOG_ERROR("unknown message type %d on the worker queue: dropped",
                  static_cast<int>(msg.type));
        break;
    }
  }
}

void Worker::adopt(int fd, ClientCounts::Ticket client, std::string_view bytes) {
  ++handoffs_received_;
  const size_t size = bytes.size();
  // Counted here from now on: the sender stopped counting it when it let go. Without a
  // ticket (from another master's worker, or not an IP client) the kernel says who it is.
  Connection& c =
      add_connection(Transport(fd), client == ClientCounts::kNotCounted ? limits_.track(fd)
                                                                        : limits_.adopt(client));
  if (c.state == ConnState::kClosed) return;
  c.adopted = true;
  if (c.record) c.record->bytes_in += size;  // what the first worker read of it
  c.in.append(bytes.data(), size);
  CONN_DEBUG(c, "adopted a connection from another worker (%zu bytes)", size);
  handle_handshake(c);
}

}  // namespace sigver
