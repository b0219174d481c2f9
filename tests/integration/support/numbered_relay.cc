#include "support/numbered_relay.h"

#include "support/harness.h"
#include "support/worker_probe.h"

namespace sigver::itest {

using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

namespace {

using Clock = std::chrono::steady_clock;
constexpr Millis kWait{20000};  // what must come; only a broken server waits this long

std::string Name(const NumberedPair& pair) { return "pair " + std::to_string(pair.index); }

// The next data message at `peer`, which must be message `seq` of the stream.
AssertionResult ExpectNext(Peer& peer, const NumberedPair& pair, char direction, uint32_t id,
                           uint32_t seq, Millis timeout) {
  const Received got = peer.receive(timeout);
  if (auto ok = IsContent(got, id, NumberedData(pair.index, direction, seq)); !ok)
    return AssertionFailure() << Name(pair) << " " << direction << " message " << seq << ": "
                              << ok.message();
  return AssertionSuccess();
}

// Reads `peer` until its connection ends; contents must continue the stream from `next`.
AssertionResult ExpectEnd(Peer& peer, const NumberedPair& pair, char direction, uint32_t id,
                          uint32_t& next, Millis timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
    const Received got = peer.receive(std::max(left, Millis(0)));
    if (got.kind == Received::Kind::kEof || got.kind == Received::Kind::kError)
      return AssertionSuccess();
    if (auto ok = IsContent(got, id, NumberedData(pair.index, direction, next)); !ok)
      return AssertionFailure() << Name(pair) << " " << direction << ": expected message " << next
                                << " or the end of the connection: " << ok.message();
    ++next;
  }
}

}  // namespace

std::vector<NumberedPair> PairsOnWorkers(size_t count, int workers, std::string_view prefix,
                                         size_t first_index) {
  std::vector<NumberedPair> pairs(count);
  for (size_t i = 0; i < count; ++i) {
    pairs[i].index = first_index + i;
    pairs[i].owner = static_cast<int>(i % static_cast<size_t>(workers));
    pairs[i].key = KeyOwnedBy(pairs[i].owner, workers, prefix);
  }
  return pairs;
}

std::vector<NumberedPair*> Pointers(std::vector<NumberedPair>& pairs) {
  std::vector<NumberedPair*> out;
  for (NumberedPair& p : pairs) out.push_back(&p);
  return out;
}

std::string NumberedData(size_t index, char direction, uint32_t seq) {
  std::string data = "p" + std::to_string(index) + direction + std::to_string(seq) + ":";
  for (int i = 0; i < 160; ++i)
    data.push_back(
        static_cast<char>((index * 131 + seq * 17 + static_cast<size_t>(i) * 29) & 0xFF));
  return data;
}

AssertionResult JoinPairs(uint16_t port, const std::vector<NumberedPair*>& pairs, Millis timeout) {
  for (NumberedPair* p : pairs) {
    p->member = Peer(port);
    p->joiner = Peer(port);
    p->id = 0;
    p->up_sent = p->up_received = p->down_sent = p->down_received = 0;
    p->last_heartbeat = Clock::now();
  }
  // Members first, so that each member is certainly the first of its key.
  for (bool members : {true, false}) {
    const char* role = members ? "member" : "joiner";
    for (NumberedPair* p : pairs) {
      WsClient& ws = (members ? p->member : p->joiner).ws();
      if (!ws.connect(port, timeout) ||
          !ws.send_raw(WsClient::upgrade_request("/" + p->key), timeout))
        return AssertionFailure() << Name(*p) << " " << role << ": " << ws.last_error();
    }
    for (NumberedPair* p : pairs) {
      Peer& peer = members ? p->member : p->joiner;
      const HttpResponse response = peer.ws().read_http_response(timeout);
      if (response.status != 101)
        return AssertionFailure() << Name(*p) << " " << role << ": expected 101, got "
                                  << (response.status ? response.head : "no answer");
      if (auto ok = IsIsFirst(peer.receive(timeout), members); !ok)
        return AssertionFailure() << Name(*p) << " " << role << ": " << ok.message();
    }
  }
  for (NumberedPair* p : pairs) {
    if (!p->joiner.send_content(0, NumberedData(p->index, 'u', 0)))
      return AssertionFailure() << Name(*p) << ": " << p->joiner.error();
    p->up_sent = 1;
  }
  for (NumberedPair* p : pairs) {
    const Received got = p->member.receive(timeout);
    if (!got.is_content() || got.content().id() == 0 ||
        got.content().data() != NumberedData(p->index, 'u', 0))
      return AssertionFailure() << Name(*p) << ": the member expected up message 0, got "
                                << got.describe();
    p->id = got.content().id();
    p->up_received = 1;
  }
  return AssertionSuccess();
}

AssertionResult SendBurst(NumberedPair& pair, int count) {
  for (int i = 0; i < count; ++i) {
    if (!pair.joiner.send_content(0, NumberedData(pair.index, 'u', pair.up_sent)))
      return AssertionFailure() << Name(pair) << " joiner: " << pair.joiner.error();
    ++pair.up_sent;
    if (!pair.member.send_content(pair.id, NumberedData(pair.index, 'd', pair.down_sent)))
      return AssertionFailure() << Name(pair) << " member: " << pair.member.error();
    ++pair.down_sent;
  }
  return AssertionSuccess();
}

AssertionResult ReceiveBurst(NumberedPair& pair, int count, Millis timeout) {
  for (int i = 0; i < count; ++i) {
    if (auto ok = ExpectNext(pair.member, pair, 'u', pair.id, pair.up_received, timeout); !ok)
      return ok;
    ++pair.up_received;
    if (auto ok = ExpectNext(pair.joiner, pair, 'd', 0, pair.down_received, timeout); !ok)
      return ok;
    ++pair.down_received;
  }
  return AssertionSuccess();
}

AssertionResult RelayRound(const std::vector<NumberedPair*>& pairs, int count, Millis keepalive) {
  for (NumberedPair* p : pairs) {
    if (keepalive.count() > 0)
      if (auto ok = KeepAlive(*p, keepalive); !ok) return ok;
    if (auto ok = SendBurst(*p, count); !ok) return ok;
  }
  for (NumberedPair* p : pairs)
    if (auto ok = ReceiveBurst(*p, count); !ok) return ok;
  return AssertionSuccess();
}

AssertionResult KeepAlive(NumberedPair& pair, Millis period) {
  if (Clock::now() - pair.last_heartbeat < period) return AssertionSuccess();
  pair.last_heartbeat = Clock::now();
  for (Peer* peer : {&pair.member, &pair.joiner})
    if (!peer->send(heartbeat_message()))
      return AssertionFailure() << Name(pair) << " heartbeat: " << peer->error();
  return AssertionSuccess();
}

AssertionResult ExpectStreamsEnd(NumberedPair& pair, Millis timeout) {
  if (auto ok = ExpectEnd(pair.member, pair, 'u', pair.id, pair.up_received, timeout); !ok)
    return ok;
  return ExpectEnd(pair.joiner, pair, 'd', 0, pair.down_received, timeout);
}

AssertionResult ExpectNothingMore(NumberedPair& pair) {
  if (auto ok = ReceivedNothing(pair.member.sync(kWait)); !ok)
    return AssertionFailure() << Name(pair) << " member: " << ok.message();
  if (auto ok = ReceivedNothing(pair.joiner.sync(kWait)); !ok)
    return AssertionFailure() << Name(pair) << " joiner: " << ok.message();
  return AssertionSuccess();
}

}  // namespace sigver::itest
