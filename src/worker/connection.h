#pragma once
// One client connection inside a worker: its transport (plain or TLS socket, or a TLS
// relay's plain end), buffers, WebSocket read state, timers and its Peer state, which only
// the protocol (worker/protocol/) reads. Buffers hold memory only while
// bytes are pending, so an idle peer costs just this struct.
#include <cstdint>
#include <memory>

#include "core/buffer.h"
#include "core/client_counts.h"
#include "core/deadline_queue.h"
#include "core/event_loop.h"
#include "worker/access_record.h"
#include "worker/protocol/peer.h"
#include "worker/transport.h"
#include "ws/frame.h"

namespace sigver {

class Worker;

enum class ConnState : uint8_t {
  kHandshake,  // reading the HTTP upgrade request
  kOpen,       // WebSocket open, in a group (or being closed with 4001)
  kClosing,    // our close frame or HTTP error queued; waiting for flush, then EOF or timeout
  kClosed,     // fd closed; freed after the current loop iteration
};

struct Connection final : EventHandler, DeadlineNode, Peer {
  Connection(Worker& owner, Transport stream, uint64_t max_message_size)
      : worker(owner), transport(std::move(stream)), reader(max_message_size) {}
  // Heap held for this peer's partial input (request, frame, fragmented message).
  size_t inbound_bytes() const { return in.capacity() + reader.buffered_bytes(); }
  void on_events(uint32_t events) override;

  Worker& worker;
  Transport transport;
  ConnState state = ConnState::kHandshake;
  bool polled = false;             // registered with the worker's epoll set
  bool writing = false;            // EPOLLOUT armed after a short write
  bool dirty = false;              // queued output, in the worker's flush list
  bool close_after_flush = false;  // the peer closed first: close the socket once flushed
  bool shut_down = false;          // our side is shut down for writing
  bool overflowed = false;         // outbound queue passed max_outbound: close with 1008
  bool adopted = false;            // handed over by another worker: never passed on again
  bool parked = false;             // waiting for room in the owner's queue (not reading)
  bool held = false;               // request complete, waiting for an upgrade's commit
  int16_t handoff_owner = -1;      // while parked: the worker it goes to
  uint32_t slot = 0;               // index in the worker's connection table
  // Bytes from the head of `out` to the first whole frame (the rest of a frame, or of the
  // HTTP response, that send() cut): a queue dropped on overflow keeps them.
  uint32_t out_to_frame = 0;
  ClientCounts::Ticket client = ClientCounts::kNotCounted;  // counted client address
  uint32_t number = 0;       // in its worker, for the error log ("*17"); wraps after 2^32
  uint64_t rate_due_us = 0;  // max_messages_per_second bucket
  std::unique_ptr<AccessRecord> record;    // with an access log: what its line will say
  Buffer in{Buffer::Account::kInbound};    // bytes read but not yet consumed (partial
                                           // request/frame)
  Buffer out{Buffer::Account::kOutbound};  // bytes to send
  ws::FrameReader reader;
};

}  // namespace sigver
