// Keys pinned to workers (spec "One server, many processes"), proven against sigverd with 4
// workers: whichever worker the kernel's SO_REUSEPORT picks, a connection ends up on its
// key's owner (handed off with its bytes and its fd), also when its request trickles in,
// when frames ride along with the request, and when the owner was just killed.
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <random>
#include <thread>

#include "support/multiworker_fixture.h"

namespace sigver::itest {
namespace {

using Clock = std::chrono::steady_clock;

// The request WsClient sends, padded with a header to exactly `size` bytes, so log lines
// "handed off ... (N bytes)" can be matched to one connection.
std::string PaddedRequest(const std::string& key, size_t size) {
  const std::string plain = WsClient::upgrade_request("/" + key);
  const std::string header_start = "X-Pad: ";
  const size_t overhead = header_start.size() + 2;  // name, value, \r\n
  EXPECT_GE(size, plain.size() + overhead + 1);
  const std::string pad(size - plain.size() - overhead, 'p');
  return WsClient::upgrade_request("/" + key, header_start + pad + "\r\n");
}

// The Sec-WebSocket-Accept the server must answer to `request`.
std::string ExpectedAccept(const std::string& request) {
  const std::string name = "Sec-WebSocket-Key: ";
  const size_t at = request.find(name) + name.size();
  return websocket_accept(request.substr(at, request.find("\r\n", at) - at));
}

::testing::AssertionResult Upgraded(const HttpResponse& response, const std::string& request) {
  if (response.status != 101)
    return ::testing::AssertionFailure()
           << "expected 101, got: " << (response.status ? response.head : "no response");
  if (response.header("Sec-WebSocket-Accept") != ExpectedAccept(request))
    return ::testing::AssertionFailure() << "wrong accept in " << response.head;
  return ::testing::AssertionSuccess();
}

// Bytes that are not text, so nothing along the way may treat them as a string.
std::string BinaryPayload(std::string_view tag, int a, int b) {
  std::string out(tag);
  out += std::to_string(a) + "/" + std::to_string(b) + ":";
  for (int i = 0; i < 24; ++i) out.push_back(static_cast<char>((a * 31 + b * 7 + i * 53) & 0xFF));
  out.push_back('\0');
  out.push_back(static_cast<char>(0xFF));
  return out;
}

// Handoff log lines whose byte count is `bytes`.
std::vector<LogLine> HandoffLines(const std::string& log, std::string_view what, size_t bytes) {
  const std::string size = " (" + std::to_string(bytes) + " bytes)";
  std::vector<LogLine> found;
  for (LogLine& line : LinesContaining(log, what))
    if (line.text.find(size) != std::string::npos) found.push_back(std::move(line));
  return found;
}

class MultiWorkerGroupTest : public MultiWorkerTest {};

TEST_F(MultiWorkerGroupTest, TwoHundredKeysOfThreePeersConnectedInRandomOrderFormGroups) {
  ASSERT_NO_FATAL_FAILURE(StartWorkers({.protocol = {"heartbeat_interval = 60"}}));
  constexpr int kKeys = 200;
  constexpr int kPeersPerKey = 3;
  std::vector<std::string> keys;
  for (int k = 0; k < kKeys; ++k) keys.push_back(random_key("m" + std::to_string(k) + "-"));
  std::vector<std::vector<Peer>> peers(kKeys);
  std::vector<std::pair<int, int>> order;
  for (int k = 0; k < kKeys; ++k) {
    for (int p = 0; p < kPeersPerKey; ++p) {
      peers[k].push_back(NewPeer());
      order.emplace_back(k, p);
    }
  }
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("shuffle seed " + std::to_string(seed));
  std::shuffle(order.begin(), order.end(), std::mt19937(seed));

  // Every request is on the wire before any answer is read, so connections of one key race
  // each other through different workers.
  for (const auto& [k, p] : order) {
    WsClient& ws = peers[k][p].ws();
    ASSERT_TRUE(ws.connect(port())) << ws.last_error();
    ASSERT_TRUE(ws.send_raw(WsClient::upgrade_request("/" + keys[k]))) << ws.last_error();
  }
  std::vector<int> first(kKeys, -1);
  for (const auto& [k, p] : order) {
    Peer& peer = peers[k][p];
    ASSERT_TRUE(Upgraded(peer.ws().read_http_response(), WsClient::upgrade_request("/" + keys[k])))
        << "key " << k << " peer " << p;
    const Received answer = peer.receive();
    ASSERT_TRUE(answer.is_message() && answer.message.type_case() == pb::Message::kIsFirst)
        << "key " << k << " peer " << p << ": " << answer.describe();
    if (answer.message.isfirst()) {
      EXPECT_EQ(first[k], -1) << "key " << k << ": peers " << first[k] << " and " << p
                              << " both got isFirst=true";
      first[k] = p;
    }
  }
  for (int k = 0; k < kKeys; ++k) ASSERT_NE(first[k], -1) << "key " << k << ": nobody first";

  // Every later peer talks before any member reads: all relays are in flight at once.
  for (int k = 0; k < kKeys; ++k) {
    for (int p = 0; p < kPeersPerKey; ++p) {
      if (p == first[k]) continue;
      ASSERT_TRUE(peers[k][p].send_content(0, BinaryPayload("up", k, p)));
    }
  }
  std::vector<std::vector<uint32_t>> ids(kKeys, std::vector<uint32_t>(kPeersPerKey, 0));
  for (int k = 0; k < kKeys; ++k) {
    Peer& member = peers[k][first[k]];
    for (int n = 0; n < kPeersPerKey - 1; ++n) {
      const Received got = member.receive();
      ASSERT_TRUE(got.is_content()) << "key " << k << ": " << got.describe();
      int from = -1;
      for (int p = 0; p < kPeersPerKey; ++p)
        if (p != first[k] && got.content().data() == BinaryPayload("up", k, p)) from = p;
      ASSERT_NE(from, -1) << "key " << k << " got bytes of another group: " << got.describe();
      ASSERT_NE(got.content().id(), 0u) << got.describe();
      EXPECT_EQ(ids[k][from], 0u) << "key " << k << ": twice from peer " << from;
      ids[k][from] = got.content().id();
    }
    const int a = (first[k] + 1) % kPeersPerKey, b = (first[k] + 2) % kPeersPerKey;
    EXPECT_NE(ids[k][a], ids[k][b]) << "key " << k << ": two joiners share an id";
  }
  // The member answers with the id it was given, and exactly its bytes come out.
  for (int k = 0; k < kKeys; ++k) {
    for (int p = 0; p < kPeersPerKey; ++p) {
      if (p == first[k]) continue;
      ASSERT_TRUE(peers[k][first[k]].send_content(ids[k][p], BinaryPayload("down", k, p)));
    }
  }
  for (int k = 0; k < kKeys; ++k) {
    for (int p = 0; p < kPeersPerKey; ++p) {
      if (p == first[k]) continue;
      EXPECT_TRUE(IsContent(peers[k][p].receive(), 0, BinaryPayload("down", k, p)))
          << "key " << k << " peer " << p;
    }
  }
  for (int k = 0; k < kKeys; ++k)
    for (Peer& peer : peers[k]) ASSERT_TRUE(ReceivedNothing(peer.sync())) << "key " << k;

  // The log shows the handoffs, never to the worker that already had the connection, and
  // every one adopted.
  const std::string log = server().log_text();
  const auto sent = LinesContaining(log, "handed off a connection to worker ");
  ASSERT_GT(sent.size(), 0u) << "no handoff among " << kKeys * kPeersPerKey << " connections";
  for (const LogLine& line : sent) {
    int target = -1;
    ASSERT_EQ(std::sscanf(line.text.c_str(), "handed off a connection to worker %d", &target), 1);
    EXPECT_NE(target, line.worker) << line.text;
    EXPECT_TRUE(target >= 0 && target < kWorkers) << line.text;
  }
  EXPECT_TRUE(WaitForLogLines("adopted a connection from another worker", sent.size()));
  std::cout << "[ info     ] " << sent.size() << " of " << kKeys * kPeersPerKey
            << " connections were handed off" << std::endl;
  EXPECT_TRUE(ServerHealthy());

  // The workers' exit lines add up to what the debug lines said.
  ASSERT_TRUE(server().send_signal(SIGTERM));
  ASSERT_NE(server().wait_exit(std::chrono::seconds(5)), -1);
  const std::string final_log = server().log_text();
  const HandoffTotals totals = HandoffTotalsFromLog(final_log);
  const size_t sent_lines = LinesContaining(final_log, "handed off a connection to worker ").size();
  const size_t adopted_lines =
      LinesContaining(final_log, "adopted a connection from another worker").size();
  EXPECT_EQ(totals.exits, kWorkers);
  EXPECT_EQ(totals.sent, sent_lines);
  EXPECT_EQ(totals.received, adopted_lines);
  EXPECT_EQ(totals.sent, totals.received);
}

TEST_F(MultiWorkerGroupTest, UpgradeRequestTricklingInFewBytesAtATimeIsHandedOffWhole) {
  ASSERT_NO_FATAL_FAILURE(StartWorkers());
  constexpr int kPerOwner = 3;
  constexpr size_t kBaseSize = 400;
  struct Trickle {
    std::string key;
    int owner = 0;
    Peer member, joiner;
    std::string request;
    size_t sent = 0;
  };
  std::vector<Trickle> conns(kWorkers * kPerOwner);
  std::mt19937 random(std::random_device{}());
  for (size_t i = 0; i < conns.size(); ++i) {
    Trickle& t = conns[i];
    t.owner = static_cast<int>(i) % kWorkers;
    t.key = KeyOwnedBy(t.owner, kWorkers, "t");
    t.member = NewPeer();
    ASSERT_NO_FATAL_FAILURE(Join(t.member, t.key, true));
    t.request = PaddedRequest(t.key, kBaseSize + i);
    t.joiner = NewPeer();
    ASSERT_TRUE(t.joiner.ws().connect(port()));  // TCP_NODELAY: every write is a segment
  }
  // Round robin over all connections, 1 to 7 bytes each, with a pause between rounds.
  for (bool more = true; more;) {
    more = false;
    for (Trickle& t : conns) {
      if (t.sent == t.request.size()) continue;
      const size_t n = std::min(t.request.size() - t.sent, size_t{1} + random() % 7);
      ASSERT_TRUE(t.joiner.ws().send_raw(std::string_view(t.request).substr(t.sent, n)));
      t.sent += n;
      more = more || t.sent < t.request.size();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (size_t i = 0; i < conns.size(); ++i) {
    Trickle& t = conns[i];
    SCOPED_TRACE("connection " + std::to_string(i) + " to worker " + std::to_string(t.owner));
    ASSERT_TRUE(Upgraded(t.joiner.ws().read_http_response(), t.request));
    EXPECT_TRUE(IsIsFirst(t.joiner.receive(), false));
    const std::string up = BinaryPayload("trickle-up", static_cast<int>(i), t.owner);
    ASSERT_TRUE(t.joiner.send_content(0, up));
    uint32_t id = 0;
    ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(t.member, up, id));
    ASSERT_TRUE(t.member.send_content(id, "trickle-down"));
    EXPECT_TRUE(IsContent(t.joiner.receive(), 0, "trickle-down"));
  }
  // Some connections landed on another worker than their key's owner; each of those went
  // whole (every byte of the request) to the owner, which adopted it.
  ASSERT_TRUE(WaitUntil(
      [&] {
        const std::string log = server().log_text();
        for (size_t i = 0; i < conns.size(); ++i)
          if (HandoffLines(log, "handed off a connection to worker", kBaseSize + i).size() !=
              HandoffLines(log, "adopted a connection from another worker", kBaseSize + i).size())
            return false;
        return true;
      },
      std::chrono::seconds(3)));
  const std::string log = server().log_text();
  int handed_off = 0;
  for (size_t i = 0; i < conns.size(); ++i) {
    const size_t size = kBaseSize + i;
    const auto sent = HandoffLines(log, "handed off a connection to worker", size);
    const auto adopted = HandoffLines(log, "adopted a connection from another worker", size);
    ASSERT_LE(sent.size(), 1u);
    ASSERT_EQ(adopted.size(), sent.size());
    if (sent.empty()) continue;
    ++handed_off;
    const std::string to_owner = "to worker " + std::to_string(conns[i].owner) + " ";
    EXPECT_NE(sent[0].text.find(to_owner), std::string::npos) << sent[0].text;
    EXPECT_NE(sent[0].worker, conns[i].owner) << sent[0].text;
    EXPECT_EQ(adopted[0].worker, conns[i].owner) << adopted[0].text;
  }
  EXPECT_GT(handed_off, 0) << "no trickled request was accepted by a non-owner";
}

TEST_F(MultiWorkerGroupTest, FramesSentWithTheUpgradeRequestAreProcessedAfterTheHandoff) {
  ASSERT_NO_FATAL_FAILURE(StartWorkers());
  constexpr int kPerOwner = 3;
  constexpr size_t kBaseSize = 500;
  int handed_off = 0;
  std::vector<size_t> sizes;
  std::vector<int> owners;
  for (int i = 0; i < kWorkers * kPerOwner; ++i) {
    SCOPED_TRACE("connection " + std::to_string(i));
    const int owner = i % kWorkers;
    const std::string key = KeyOwnedBy(owner, kWorkers, "f");
    Peer member = NewPeer();
    ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
    // One write: the request, a heartbeat, a content and a ping.
    const std::string up = BinaryPayload("early", i, owner);
    const std::string frames =
        encode_frame(opcode::kBinary, heartbeat_message().SerializeAsString()) +
        encode_frame(opcode::kBinary, content_message(0, up).SerializeAsString()) +
        encode_frame(opcode::kPing, "early-ping");
    const size_t size = kBaseSize + static_cast<size_t>(i);
    const std::string request = PaddedRequest(key, size - frames.size());
    Peer joiner = NewPeer();
    ASSERT_TRUE(joiner.ws().connect(port()));
    ASSERT_TRUE(joiner.ws().send_raw(request + frames));
    sizes.push_back(size);
    owners.push_back(owner);

    ASSERT_TRUE(Upgraded(joiner.ws().read_http_response(), request));
    EXPECT_TRUE(IsIsFirst(joiner.receive(), false));
    const Received pong = joiner.receive();
    EXPECT_TRUE(pong.kind == Received::Kind::kPong && pong.raw == "early-ping") << pong.describe();
    uint32_t id = 0;
    ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(member, up, id));
    ASSERT_TRUE(member.send_content(id, "late-down"));
    EXPECT_TRUE(IsContent(joiner.receive(), 0, "late-down"));
    EXPECT_TRUE(ReceivedNothing(member.sync()));
  }
  const std::string log = server().log_text();
  for (size_t i = 0; i < sizes.size(); ++i) {
    const auto sent = HandoffLines(log, "handed off a connection to worker", sizes[i]);
    if (sent.empty()) continue;
    ++handed_off;
    EXPECT_NE(sent[0].text.find("to worker " + std::to_string(owners[i]) + " "), std::string::npos)
        << sent[0].text;
    const auto adopted = HandoffLines(log, "adopted a connection from another worker", sizes[i]);
    ASSERT_EQ(adopted.size(), 1u) << "connection " << i;
    EXPECT_EQ(adopted[0].worker, owners[i]);
  }
  EXPECT_GT(handed_off, 0) << "no request with frames was accepted by a non-owner";
}

// What became of a connection opened for a key whose owner was killed.
enum class Outcome { kUpgraded, kRefused, kClosed, kHung };

const char* Describe(Outcome outcome) {
  switch (outcome) {
    case Outcome::kUpgraded:
      return "upgraded";
    case Outcome::kRefused:
      return "503";
    case Outcome::kClosed:
      return "closed";
    case Outcome::kHung:
      return "no answer";
  }
  return "?";
}

class HandoffToKilledWorkerTest : public MultiWorkerTest {
 protected:
  static constexpr int kHandshakeTimeoutSeconds = 3;
  static constexpr int kConnections = 24;

  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartWorkers(
        {.protocol = {"handshake_timeout = " + std::to_string(kHandshakeTimeoutSeconds)}}));
  }

  // Opens kConnections connections, each for a fresh key owned by `victim`, and sends their
  // requests without waiting for answers.
  void OpenForOwner(int victim, std::vector<std::string>& keys, std::vector<Peer>& peers) {
    for (int i = 0; i < kConnections; ++i) {
      keys.push_back(KeyOwnedBy(victim, kWorkers, "d"));
      peers.push_back(NewPeer());
      ASSERT_TRUE(peers.back().ws().connect(port()));
      ASSERT_TRUE(peers.back().ws().send_raw(WsClient::upgrade_request("/" + keys.back())));
    }
  }

  // Reads every answer; none may take longer than the handshake timeout (plus slack for a
  // respawn) counted from `start`.
  std::vector<Outcome> Outcomes(std::vector<Peer>& peers, Clock::time_point start) {
    const auto deadline = start + std::chrono::seconds(kHandshakeTimeoutSeconds + 3);
    std::vector<Outcome> outcomes;
    for (Peer& peer : peers) {
      const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
      const HttpResponse response = peer.ws().read_http_response(std::max(left, Millis(1)));
      if (response.status == 101) {
        const Received answer = peer.receive();
        EXPECT_TRUE(IsIsFirst(answer, true)) << "every key is new";
        outcomes.push_back(Outcome::kUpgraded);
      } else if (response.status == 503) {
        outcomes.push_back(Outcome::kRefused);
      } else if (response.status == 0 && Clock::now() < deadline) {
        outcomes.push_back(Outcome::kClosed);  // end of stream before an answer
      } else {
        ADD_FAILURE() << "unexpected answer: " << response.head;
        outcomes.push_back(Outcome::kHung);
      }
    }
    return outcomes;
  }

  // Whatever became of the first connection, a key of the dead worker now forms a group.
  void ExpectKeysWorkAgain(const std::vector<std::string>& keys,
                           const std::vector<Outcome>& outcomes, std::vector<Peer>& peers) {
    for (size_t i = 0; i < keys.size(); ++i) {
      SCOPED_TRACE("key " + std::to_string(i) + " (" + Describe(outcomes[i]) + ")");
      if (outcomes[i] == Outcome::kUpgraded) {
        Peer joiner = NewPeer();
        ASSERT_NO_FATAL_FAILURE(Join(joiner, keys[i], false));
        ASSERT_TRUE(joiner.send_content(0, "after-kill"));
        uint32_t id = 0;
        ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(peers[i], "after-kill", id));
      } else {
        Peer member, joiner;
        uint32_t id = 0;
        ASSERT_NO_FATAL_FAILURE(FormPair(keys[i], member, joiner, id));
      }
    }
  }

  std::string Summary(const std::vector<Outcome>& outcomes) {
    std::map<std::string, int> counts;
    for (Outcome o : outcomes) ++counts[Describe(o)];
    std::string text;
    for (const auto& [name, n] : counts) text += name + ": " + std::to_string(n) + " ";
    return text;
  }
};

TEST_F(HandoffToKilledWorkerTest, ConnectionsForTheKeysOfAWorkerJustKilledSucceedOrFailCleanly) {
  const int victim = 2;
  const int fds_before = OpenFdCount(server().pid());
  ASSERT_GT(fds_before, 0);
  const pid_t old_pid = KillWorker(victim);
  ASSERT_GT(old_pid, 0);
  const auto start = Clock::now();
  std::vector<std::string> keys;
  std::vector<Peer> peers;
  ASSERT_NO_FATAL_FAILURE(OpenForOwner(victim, keys, peers));
  const std::vector<Outcome> outcomes = Outcomes(peers, start);
  std::cout << "[ info     ] " << Summary(outcomes) << std::endl;

  const pid_t new_pid = WaitForRespawn(victim, old_pid);
  ASSERT_GT(new_pid, 0) << "worker " << victim << " was not restarted";
  EXPECT_FALSE(ProcessAlive(old_pid));
  EXPECT_TRUE(WaitForLogLines("(pid " + std::to_string(old_pid) + ") was killed by SIGKILL", 1));
  ASSERT_NO_FATAL_FAILURE(ExpectKeysWorkAgain(keys, outcomes, peers));
  EXPECT_EQ(ChildPids(server().pid()).size(), static_cast<size_t>(kWorkers));
  EXPECT_EQ(OpenFdCount(server().pid()), fds_before) << "the master leaked descriptors";
}

TEST_F(HandoffToKilledWorkerTest, ConnectionsQueuedForAWorkerThatDiesArePickedUpByItsSuccessor) {
  // The owner is stopped first, so connections accepted elsewhere are certainly waiting in
  // its queue (and those it would accept itself in its listen backlog) when it is killed.
  const int victim = 1;
  const int fds_before = OpenFdCount(server().pid());
  const pid_t old_pid = WorkerPids().at(victim);
  ASSERT_EQ(ParentPid(old_pid), server().pid());
  ASSERT_EQ(::kill(old_pid, SIGSTOP), 0);
  std::vector<std::string> keys;
  std::vector<Peer> peers;
  ASSERT_NO_FATAL_FAILURE(OpenForOwner(victim, keys, peers));
  const std::string to_victim = "handed off a connection to worker " + std::to_string(victim);
  // The connections the other workers accepted (about 3 in 4) all end up in the victim's
  // queue: wait until no more arrive.
  const auto queued_now = [&] { return LinesContaining(server().log_text(), to_victim).size(); };
  EXPECT_TRUE(WaitForLogLines(to_victim, 1, std::chrono::seconds(2)));
  size_t queued = queued_now();
  for (size_t before = 0; before != queued;) {
    before = queued;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    queued = queued_now();
  }
  ASSERT_EQ(KillWorker(victim), old_pid);
  const auto start = Clock::now();
  const std::vector<Outcome> outcomes = Outcomes(peers, start);
  std::cout << "[ info     ] " << queued << " queued for the dead worker; " << Summary(outcomes)
            << std::endl;
  const pid_t new_pid = WaitForRespawn(victim, old_pid);
  ASSERT_GT(new_pid, 0);
  // The successor adopted what its predecessor never read.
  size_t adopted_by_successor = 0;
  for (const LogLine& line :
       LinesContaining(server().log_text(), "adopted a connection from another worker"))
    if (line.pid == new_pid) ++adopted_by_successor;
  EXPECT_GE(adopted_by_successor, queued) << "connections queued for the dead worker were lost";
  EXPECT_GT(std::count(outcomes.begin(), outcomes.end(), Outcome::kUpgraded), 0);
  ASSERT_NO_FATAL_FAILURE(ExpectKeysWorkAgain(keys, outcomes, peers));
  EXPECT_EQ(OpenFdCount(server().pid()), fds_before) << "the master leaked descriptors";
}

}  // namespace
}  // namespace sigver::itest
