#pragma once
// Both generations on one key at once: a generation-1 pair and a generation-2 pair (each its
// group's first member and a joiner bound to it), and numbered messages in their four
// directions, so that each arrival is checked to be exactly the next one of its stream and
// of its own generation. Nothing lost, repeated, reordered or crossing goes unnoticed.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "support/sigver2_peer.h"
#include "support/sigver_peer.h"

namespace sigver::itest {

struct MixedPairs {
  std::string key;
  Peer m1, j1;
  uint32_t id1 = 0;  // j1's routing id at m1
  Peer2 m2, j2;
  uint32_t id2 = 0;   // j2's binding id
  uint32_t sent = 0;  // numbered messages sent in each direction
  uint32_t received = 0;
};

// Sends messages `sent` .. `sent + count - 1` up and down both pairs.
::testing::AssertionResult SendNumbered(MixedPairs& pairs, uint32_t count);
// Receives every message sent and not received yet, in order, at all four peers.
::testing::AssertionResult ReceiveNumbered(MixedPairs& pairs);
// Nothing else arrived at any of the four (a sync at each).
::testing::AssertionResult NothingMore(MixedPairs& pairs);

}  // namespace sigver::itest
