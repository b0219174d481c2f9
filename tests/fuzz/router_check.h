#pragma once
// What the router fuzz targets share: an output that checks every message the router writes
// and remembers whom it closed, and the router's invariants checked against the peers the
// target knows to be alive. Departed peers are freed by the targets, so a pointer the router
// keeps to one is a use-after-free that ASan reports.
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "worker/protocol/gen1/codec.h"
#include "worker/protocol/gen1/router.h"

namespace sigver::fuzz {

using gen1::DecodedMessage;
using gen1::Router;

class CheckingOutput final : public PeerOutput {
 public:
  void watch(const Router& router) { router_ = &router; }

  // A peer whose outbound queue is full: the router's next write to it fails, and the target
  // closes it after that step (as the worker does with a peer over max_outbound).
  void congest(Peer& peer) { congested_.push_back(&peer); }
  // The target freed `peer` or moved it to another router: forget everything about it.
  void forget(const Peer& peer);

  char* begin_message(Peer& to, size_t size) override;
  void end_message(Peer& to, size_t size) override;
  void close(Peer& peer, uint16_t code, std::string_view reason) override;
  uint32_t round_trip_us(Peer&) override { return 0; }

  // Peers the router closed or whose queue overflowed since the last call, each once.
  std::vector<Peer*> take_closed();

 private:
  // Relay directions that ended (a content with no data, isEnd or isError went through):
  // nothing more may follow on them. Up: by routing id; down: by joiner, until it is bound
  // again (isFirst=false).
  std::set<uint32_t> ended_up_;
  std::set<const Peer*> ended_down_;
  // Peers whose write failed (queue over its bound): until the target forgets them, every
  // write fails, as the worker's Connection::overflowed makes it.
  std::set<const Peer*> overflowed_;
  const Router* router_ = nullptr;
  std::string pending_;
  DecodedMessage decoded_;
  std::vector<Peer*> closed_;
  std::vector<Peer*> congested_;
};

// Aborts when the router's groups, members, bindings and ids disagree with each other or
// with `live` (every peer the target has opened on this router and not yet freed). With
// `strict`, bindings must also go to members of the same group, which the joining rules
// guarantee; peers imported from another worker may break that.
void check_router(const Router& router, const std::vector<Peer*>& live, bool strict);

}  // namespace sigver::fuzz
