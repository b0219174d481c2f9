#pragma once
// Member/joiner pairs that relay numbered messages both ways, for the tests of faults under
// load: every message names its pair, its direction and its sequence number, so each
// arrival is checked to be exactly the next one of exactly that stream. Nothing lost,
// duplicated, reordered or delivered to another peer can go unnoticed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "support/sigver_peer.h"

namespace sigver::itest {

struct NumberedPair {
  size_t index = 0;  // names the pair in its payloads
  std::string key;
  int owner = -1;  // the worker that owns the key, when the test chose it
  Peer member, joiner;
  uint32_t id = 0;                            // the joiner's routing id at the member
  uint32_t up_sent = 0, up_received = 0;      // joiner -> member
  uint32_t down_sent = 0, down_received = 0;  // member -> joiner
  std::chrono::steady_clock::time_point last_heartbeat{};
};

// `count` pairs (not joined yet) named first_index, first_index + 1, ..., pair i on a fresh
// key of worker i % workers.
std::vector<NumberedPair> PairsOnWorkers(size_t count, int workers, std::string_view prefix,
                                         size_t first_index = 0);
std::vector<NumberedPair*> Pointers(std::vector<NumberedPair>& pairs);

// The data of message `seq` of pair `index` in `direction` ('u' up, 'd' down), padded to the
// size of an ICE candidate, with bytes that are not text.
std::string NumberedData(size_t index, char direction, uint32_t seq);

// Joins each pair's member (isFirst=true), then its joiner (isFirst=false), with the
// requests of all pairs on the wire before any answer is read; then every joiner sends up
// message 0 and every member learns the id from it. Resets the counters. Every wait is
// bounded by `timeout`.
::testing::AssertionResult JoinPairs(uint16_t port, const std::vector<NumberedPair*>& pairs,
                                     Millis timeout = Millis(30000));

// Sends `count` messages each way (the joiner up, the member down).
::testing::AssertionResult SendBurst(NumberedPair& pair, int count);
// Receives what SendBurst sent, in order, at both ends.
::testing::AssertionResult ReceiveBurst(NumberedPair& pair, int count,
                                        Millis timeout = Millis(20000));
// One round through every pair: a burst of `count` messages each way from all pairs, then
// every one received; with a `keepalive` period, heartbeats too (see KeepAlive).
::testing::AssertionResult RelayRound(const std::vector<NumberedPair*>& pairs, int count,
                                      Millis keepalive = Millis(0));
// Sends a heartbeat from both peers if the last one is older than `period`, so that a short
// heartbeat_interval does not close them while the test does other things.
::testing::AssertionResult KeepAlive(NumberedPair& pair, Millis period);
// For a pair whose connections the server dropped (its worker died): what still arrives at
// each end continues its stream in order, and then the connection ends (EOF or reset, no
// close frame).
::testing::AssertionResult ExpectStreamsEnd(NumberedPair& pair, Millis timeout = Millis(20000));
// Nothing but what was checked arrived at either end (Peer::sync at both).
::testing::AssertionResult ExpectNothingMore(NumberedPair& pair);

}  // namespace sigver::itest
