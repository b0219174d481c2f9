#pragma once
// What a protocol generation needs from the worker: room to write a message to a peer, and
// closing a peer. The worker owns the connections; a generation sees only Peers, so its
// rules can be tested with a fake output.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "worker/protocol/peer.h"

namespace sigver {

class PeerOutput {
 public:
  virtual ~PeerOutput() = default;
  // Room for an encoded message of `size` bytes to `to`, or nullptr if `to` cannot take it
  // (closing, or its outbound queue is over the bound: then the output closes it later).
  virtual char* begin_message(Peer& to, size_t size) = 0;
  virtual void end_message(Peer& to, size_t size) = 0;
  // Closes `peer` with a WebSocket close code. The generation has already removed it from
  // its group; the output must not call back into the protocol for it.
  virtual void close(Peer& peer, uint16_t code, std::string_view reason) = 0;
  // The smoothed round-trip time of the peer's TCP connection in microseconds, or 0 when
  // unknown (detection waits a few of them).
  virtual uint32_t round_trip_us(Peer& peer) = 0;
};

}  // namespace sigver
