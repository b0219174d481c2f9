// Faults under load against sigverd with 4 workers: a worker killed with SIGKILL while 2,000
// peers relay; clients that reset their connection mid-frame, that stop reading and writing,
// or that vanish without a FIN (a veth link deleted under them); a peer flooding invalid
// frames and messages. Every relay between peers not hit by the fault is checked message by
// message (numbered, see support/numbered_relay.h): nothing lost, duplicated or reordered.
#include <arpa/inet.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <thread>

#include "support/multiworker_fixture.h"
#include "support/namespaces.h"
#include "support/numbered_relay.h"

namespace sigver::itest {
namespace {

using Clock = std::chrono::steady_clock;
using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

// Waits for what must come; long, since the machine is shared and may be slow: only a
// broken server makes a test wait this long.
constexpr Millis kWait{20000};

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Millis Until(Clock::time_point deadline) {
  return std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now()));
}

// Joins a thread however the test body is left (a failed ASSERT returns early).
class JoinGuard {
 public:
  explicit JoinGuard(std::thread& thread) : thread_(thread) {}
  ~JoinGuard() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread& thread_;
};

class FaultsTest : public MultiWorkerTest {
 protected:
  void TearDown() override {
    MultiWorkerTest::TearDown();
    // The server lived in the private network: leave it only once the server is gone.
    link_.reset();
    network_.reset();
  }

  // Every worker still runs under the pid it had in `before`.
  void ExpectNoWorkerReplaced(const std::map<int, pid_t>& before) {
    EXPECT_EQ(WorkerPids(), before) << "a worker died and was replaced";
  }

  std::unique_ptr<PrivateNetwork> network_;
  std::unique_ptr<VethLink> link_;
};

// ---- a worker killed with SIGKILL ----

TEST_F(FaultsTest, WorkerKilledWhileTwoThousandPeersRelayLosesNothingElsewhereAndItsPeersRejoin) {
  // Long heartbeats: 2,000 peers need not answer them. A long handshake timeout: the rejoins
  // wait in the dead worker's queue for its replacement, however slow the machine is.
  ASSERT_NO_FATAL_FAILURE(
      StartWorkers({.protocol = {"heartbeat_interval = 60", "handshake_timeout = 30"}}));
  constexpr size_t kPairs = 1000;
  constexpr int kBurst = 3;
  constexpr int kVictim = 2;
  constexpr int kRoundsBeforeKill = 3;
  constexpr int kRoundsAfterRejoin = 5;
  std::vector<NumberedPair> pairs = PairsOnWorkers(kPairs, kWorkers, "n");
  std::vector<NumberedPair*> all = Pointers(pairs);
  const auto setup_start = Clock::now();
  ASSERT_TRUE(JoinPairs(port(), all));
  const double setup_seconds = SecondsSince(setup_start);
  const auto pids_before = WorkerPids();
  std::vector<NumberedPair*> survivors, victims;
  for (NumberedPair* p : all) (p->owner == kVictim ? victims : survivors).push_back(p);

  for (int round = 0; round < kRoundsBeforeKill; ++round)
    ASSERT_TRUE(RelayRound(all, kBurst)) << "round " << round;
  // A burst in flight both ways through every pair when the worker dies.
  for (NumberedPair* p : all) ASSERT_TRUE(SendBurst(*p, kBurst));
  const pid_t old_pid = KillWorker(kVictim);
  ASSERT_GT(old_pid, 0);
  const auto killed_at = Clock::now();

  // The victim's pairs, in a thread of their own while the others relay on: what still
  // arrives continues the streams in order, then the connections end; then they join again
  // at once, on the keys of the dead worker, which its replacement serves.
  AssertionResult rejoin_result = AssertionSuccess();
  std::atomic<bool> rejoin_done{false};
  double ended_seconds = 0, rejoined_seconds = 0;
  std::thread rejoin([&] {
    const auto deadline = killed_at + std::chrono::seconds(45);
    for (NumberedPair* p : victims) {
      if (auto ok = ExpectStreamsEnd(*p, Until(deadline)); !ok) {
        rejoin_result = ok;
        rejoin_done = true;
        return;
      }
    }
    ended_seconds = SecondsSince(killed_at);
    rejoin_result = JoinPairs(port(), victims, Until(deadline));
    rejoined_seconds = SecondsSince(killed_at);
    rejoin_done = true;
  });
  JoinGuard guard(rejoin);
  AssertionResult relay_result = AssertionSuccess();
  for (NumberedPair* p : survivors) {
    relay_result = ReceiveBurst(*p, kBurst);
    if (!relay_result) break;
  }
  // On until the victims are back, and for a second at least.
  int rounds_meanwhile = 0;
  const auto relay_deadline = killed_at + std::chrono::seconds(50);
  while (relay_result && (!rejoin_done || SecondsSince(killed_at) < 1.0) &&
         Clock::now() < relay_deadline) {
    relay_result = RelayRound(survivors, kBurst);
    ++rounds_meanwhile;
  }
  rejoin.join();
  ASSERT_TRUE(relay_result) << "between the other workers' peers, after the kill";
  ASSERT_TRUE(rejoin_result) << "the dead worker's peers";

  const pid_t new_pid = WaitForRespawn(kVictim, old_pid, std::chrono::seconds(30));
  ASSERT_GT(new_pid, 0) << "worker " << kVictim << " was not replaced";
  EXPECT_FALSE(ProcessAlive(old_pid));
  for (const auto& [index, pid] : WorkerPids())
    if (index != kVictim) {
      EXPECT_EQ(pid, pids_before.at(index)) << "worker " << index;
    }

  // Everybody relays again, the rejoined pairs through the replacement.
  for (int round = 0; round < kRoundsAfterRejoin; ++round)
    ASSERT_TRUE(RelayRound(all, kBurst)) << "round " << round << " after the rejoin";
  for (NumberedPair* p : all) ASSERT_TRUE(ExpectNothingMore(*p));
  for (NumberedPair* p : survivors) {
    ASSERT_EQ(p->up_received, p->up_sent);
    ASSERT_EQ(p->down_received, p->down_sent);
  }
  std::cout << "[ info     ] " << 2 * kPairs << " peers joined in " << setup_seconds << " s; "
            << 2 * victims.size() << " on the killed worker saw their connection end "
            << ended_seconds << " s after the kill and were back " << rejoined_seconds
            << " s after it; the others relayed " << rounds_meanwhile << " rounds meanwhile"
            << std::endl;
}

// ---- connections reset by the client, mid-frame or mid-request ----

TEST_F(FaultsTest, ConnectionsResetInTheMiddleOfAFrameOrARequestDisturbNobodyElse) {
  // A long handshake timeout, so that a reset the server missed would show as a descriptor
  // still open at the end rather than be cleaned up by the timeout.
  ASSERT_NO_FATAL_FAILURE(
      StartWorkers({.protocol = {"heartbeat_interval = 60", "handshake_timeout = 60"}}));
  std::vector<NumberedPair> bystanders = PairsOnWorkers(40, kWorkers, "n");
  std::vector<NumberedPair*> relaying = Pointers(bystanders);
  ASSERT_TRUE(JoinPairs(port(), relaying));
  const auto pids_before = WorkerPids();
  std::map<int, int> fds_before;
  for (const auto& [index, pid] : pids_before) fds_before[index] = OpenFdCount(pid);

  const std::string small_frame =
      encode_frame(opcode::kBinary, content_message(0, std::string(3000, 's')).SerializeAsString());
  // Of a message much larger than one read: the server holds the part it got.
  const std::string large_frame = encode_frame(
      opcode::kBinary, content_message(0, std::string(600 * 1024, 'l')).SerializeAsString());
  constexpr int kRounds = 24;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const int owner = round % kWorkers;
    {
      // A joiner resets mid-frame: its member is told that the binding ended.
      Peer member, joiner;
      uint32_t id = 0;
      ASSERT_NO_FATAL_FAILURE(FormPair(KeyOwnedBy(owner, kWorkers, "rj"), member, joiner, id));
      const std::string& frame = round % 2 ? large_frame : small_frame;
      ASSERT_TRUE(joiner.ws().send_raw(std::string_view(frame).substr(0, frame.size() / 2)));
      joiner.ws().reset();
      EXPECT_TRUE(IsFlags(member.receive(kWait), id, false, true));
      EXPECT_TRUE(ReceivedNothing(member.sync(kWait)));
    }
    {
      // A member resets mid-frame, with messages for it still queued: its joiner is told.
      Peer member, joiner;
      uint32_t id = 0;
      ASSERT_NO_FATAL_FAILURE(FormPair(KeyOwnedBy(owner, kWorkers, "rm"), member, joiner, id));
      for (int i = 0; i < 20; ++i) ASSERT_TRUE(joiner.send_content(0, std::string(2000, 'q')));
      const std::string& frame = round % 2 ? small_frame : large_frame;
      ASSERT_TRUE(member.ws().send_raw(std::string_view(frame).substr(0, frame.size() / 3)));
      member.ws().reset();
      EXPECT_TRUE(IsFlags(joiner.receive(kWait), 0, false, true));
      EXPECT_TRUE(ReceivedNothing(joiner.sync(kWait)));
    }
    {
      // A client resets in the middle of its upgrade request, before any worker knows its key.
      const std::string request = WsClient::upgrade_request("/" + random_key("rq"));
      WsClient client;
      ASSERT_TRUE(client.connect(port())) << client.last_error();
      ASSERT_TRUE(client.send_raw(std::string_view(request).substr(0, request.size() / 2)));
      client.reset();
    }
    {
      // A client resets right after its request and half a frame, without waiting for the
      // answer: often while its connection is being handed off to the key's owner.
      WsClient client;
      ASSERT_TRUE(client.connect(port())) << client.last_error();
      ASSERT_TRUE(
          client.send_raw(WsClient::upgrade_request("/" + KeyOwnedBy(owner, kWorkers, "rh")) +
                          small_frame.substr(0, small_frame.size() / 2)));
      client.reset();
    }
    ASSERT_TRUE(RelayRound(relaying, 2));
  }
  for (NumberedPair* p : relaying) ASSERT_TRUE(ExpectNothingMore(*p));
  ExpectNoWorkerReplaced(pids_before);
  // Every reset connection is gone from its worker, the ones nobody else saw included.
  for (const auto& [index, pid] : pids_before) {
    EXPECT_TRUE(
        WaitUntil([&] { return OpenFdCount(pid) <= fds_before[index]; }, std::chrono::seconds(20)))
        << "worker " << index << " holds " << OpenFdCount(pid) << " descriptors, "
        << fds_before[index] << " before the resets";
  }
}

// ---- clients that go silent, or vanish without a FIN ----

constexpr double kHeartbeatSeconds = 0.3;
constexpr int kMisses = 3;
// What a noisy shared machine may add to the heartbeat_interval x heartbeat_misses bound.
constexpr double kSlackSeconds = 4.0;
constexpr Millis kKeepAlivePeriod{100};

// A peer whose partner the fault hits: it must learn that its binding ended, from a
// content{isError} (`id` of the partner at a member, 0 at a joiner).
struct Watched {
  Peer* peer = nullptr;
  uint32_t id = 0;
  double notified_after = -1;  // seconds after the fault; -1 = not yet
};

// Relays through `relaying` and keeps every watched peer alive until each one was told its
// binding ended (or `bound` passed); records when.
AssertionResult RelayUntilNotified(const std::vector<NumberedPair*>& relaying,
                                   std::vector<Watched>& watched, Clock::time_point fault,
                                   Millis bound) {
  const auto deadline = fault + bound;
  auto last_keepalive = Clock::now();
  for (;;) {
    if (auto ok = RelayRound(relaying, 1, kKeepAlivePeriod); !ok) return ok;
    const bool keepalive = Clock::now() - last_keepalive >= kKeepAlivePeriod;
    if (keepalive) last_keepalive = Clock::now();
    size_t pending = 0;
    for (Watched& w : watched) {
      if (w.notified_after >= 0) continue;
      if (keepalive && !w.peer->send(heartbeat_message())) return AssertionFailure() << "send";
      const Received got = w.peer->receive(Millis(0));
      if (got.kind == Received::Kind::kTimeout) {
        ++pending;
        continue;
      }
      if (auto ok = IsFlags(got, w.id, false, true); !ok) return ok;
      w.notified_after = SecondsSince(fault);
    }
    if (pending == 0) return AssertionSuccess();
    if (Clock::now() >= deadline)
      return AssertionFailure() << pending << " peers were never told that their partner left";
    std::this_thread::sleep_for(Millis(5));
  }
}

TEST_F(FaultsTest, ClientThatStopsReadingAndWritingIsClosedWith4002ByTheHeartbeat) {
  ASSERT_NO_FATAL_FAILURE(
      StartWorkers({.protocol = {"heartbeat_interval = 0.3", "heartbeat_misses = 3"}}));
  std::vector<NumberedPair> bystanders = PairsOnWorkers(20, kWorkers, "n");
  std::vector<NumberedPair*> relaying = Pointers(bystanders);
  ASSERT_TRUE(JoinPairs(port(), relaying));
  const auto pids_before = WorkerPids();

  // On every worker a silent joiner and a silent member, each with a partner that answers.
  std::vector<Peer> silent(2 * kWorkers), partners(2 * kWorkers);
  std::vector<Watched> watched;
  std::vector<std::string> keys;
  for (int w = 0; w < kWorkers; ++w) {
    uint32_t id = 0;
    keys.push_back(KeyOwnedBy(w, kWorkers, "sj"));
    ASSERT_NO_FATAL_FAILURE(FormPair(keys.back(), partners[2 * w], silent[2 * w], id));
    watched.push_back({&partners[2 * w], id});
    keys.push_back(KeyOwnedBy(w, kWorkers, "sm"));
    ASSERT_NO_FATAL_FAILURE(FormPair(keys.back(), silent[2 * w + 1], partners[2 * w + 1], id));
    watched.push_back({&partners[2 * w + 1], 0});
  }
  // From here on the silent peers neither read nor write. The last of them spoke just now.
  const auto silent_since = Clock::now();
  ASSERT_TRUE(RelayUntilNotified(relaying, watched, silent_since, Millis(30000)));
  const double bound = kHeartbeatSeconds * kMisses + kSlackSeconds;
  for (size_t i = 0; i < watched.size(); ++i)
    EXPECT_LE(watched[i].notified_after, bound) << "partner " << i;
  // When the silent peers read at last: the heartbeats they missed (not closed before the
  // misses allowed), then 4002, then the end.
  for (size_t i = 0; i < silent.size(); ++i) {
    EXPECT_TRUE(IsClose(NextClose(silent[i], kWait), 4002)) << "silent peer " << i;
    EXPECT_GE(silent[i].heartbeats_seen(), kMisses - 1) << "silent peer " << i;
    EXPECT_TRUE(silent[i].ws().wait_eof(kWait)) << "silent peer " << i;
  }
  // The partners go on: a member gets a new joiner, a joiner tries another member.
  for (int w = 0; w < kWorkers; ++w) {
    Peer joiner = NewPeer();
    ASSERT_NO_FATAL_FAILURE(Join(joiner, keys[2 * w], false));
    ASSERT_TRUE(joiner.send_content(0, "next"));
    uint32_t id = 0;
    ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(partners[2 * w], "next", id));
    ASSERT_TRUE(partners[2 * w + 1].send(try_another_message()));
    EXPECT_TRUE(IsIsFirst(partners[2 * w + 1].receive(kWait), true)) << "worker " << w;
  }
  ASSERT_TRUE(RelayRound(relaying, 2, kKeepAlivePeriod));
  for (NumberedPair* p : relaying) ASSERT_TRUE(ExpectNothingMore(*p));
  ExpectNoWorkerReplaced(pids_before);
}

// /proc/net/tcp states of the server's sockets connected to `remote_address` (our network
// namespace's view): "01" established, "04" FIN_WAIT1 and so on.
std::vector<std::string> ServerSocketStates(uint16_t port, const char* remote_address) {
  in_addr local{}, remote{};
  ::inet_pton(AF_INET, VethLink::kNearAddress, &local);
  ::inet_pton(AF_INET, remote_address, &remote);
  char local_text[32], remote_prefix[16];
  // The kernel prints the address as the 32-bit number it stores (network byte order).
  std::snprintf(local_text, sizeof local_text, "%08X:%04X", local.s_addr, port);
  std::snprintf(remote_prefix, sizeof remote_prefix, "%08X:", remote.s_addr);
  std::vector<std::string> states;
  std::istringstream table(read_file_text("/proc/net/tcp"));
  std::string line;
  std::getline(table, line);  // header
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local_field, remote_field, state;
    fields >> slot >> local_field >> remote_field >> state;
    if (local_field == local_text && remote_field.starts_with(remote_prefix))
      states.push_back(state);
  }
  return states;
}

TEST_F(FaultsTest, ClientsThatVanishWithoutAFinAreClosedByTheHeartbeatAndOthersRelayOn) {
  network_ = std::make_unique<PrivateNetwork>();
  if (!network_->ok()) GTEST_SKIP() << "no private network namespace: " << network_->error();
  link_ = std::make_unique<VethLink>();
  if (!link_->create()) GTEST_SKIP() << "no veth link to a second namespace: " << link_->error();
  // 0.0.0.0 inside our own namespace: loopback for the others, the veth for the far side.
  ASSERT_NO_FATAL_FAILURE(
      StartWorkers({.protocol = {"heartbeat_interval = 0.3", "heartbeat_misses = 3"},
                    .listen_address = "0.0.0.0"}));
  std::vector<NumberedPair> bystanders = PairsOnWorkers(20, kWorkers, "n");
  std::vector<NumberedPair*> relaying = Pointers(bystanders);
  ASSERT_TRUE(JoinPairs(port(), relaying));
  const auto pids_before = WorkerPids();

  // On every worker a far joiner and a far member (over the veth), each with a near partner.
  std::vector<Peer> far(2 * kWorkers), near(2 * kWorkers);
  std::vector<Watched> watched;
  for (int w = 0; w < kWorkers; ++w) {
    for (int role = 0; role < 2; ++role) {
      const bool far_is_member = role == 1;
      const std::string key = KeyOwnedBy(w, kWorkers, far_is_member ? "vm" : "vj");
      Peer& far_peer = far[2 * w + role];
      Peer& near_peer = near[2 * w + role];
      far_peer = NewPeer();
      near_peer = NewPeer();
      UniqueFd socket = link_->connect_from_far_side(port(), Millis(10000));
      ASSERT_TRUE(socket) << link_->error();
      far_peer.ws().adopt(std::move(socket));
      if (!far_is_member) {
        ASSERT_NO_FATAL_FAILURE(Join(near_peer, key, true));
      }
      ASSERT_TRUE(far_peer.ws().handshake("/" + key)) << far_peer.ws().last_error();
      // Speaking first makes it generation 1 at once: the bystanders' heartbeats (0.9 s)
      // would not outlast a detection timeout per far peer.
      ASSERT_TRUE(far_peer.send(heartbeat_message())) << far_peer.error();
      ASSERT_TRUE(IsIsFirst(far_peer.receive(kWait), far_is_member));
      if (far_is_member) {
        ASSERT_NO_FATAL_FAILURE(Join(near_peer, key, false));
      }
      Peer& joiner = far_is_member ? near_peer : far_peer;
      Peer& member = far_is_member ? far_peer : near_peer;
      ASSERT_TRUE(joiner.send_content(0, "over the veth"));
      uint32_t id = 0;
      ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(member, "over the veth", id));
      ASSERT_TRUE(member.send_content(id, "and back"));
      ASSERT_TRUE(IsContent(joiner.receive(kWait), 0, "and back"));
      watched.push_back({&near_peer, far_is_member ? 0 : id});
    }
  }
  // Everybody answers heartbeats for a few intervals, the far peers too.
  const auto warm_until = Clock::now() + Millis(1000);
  while (Clock::now() < warm_until) {
    ASSERT_TRUE(RelayRound(relaying, 1, kKeepAlivePeriod));
    for (std::vector<Peer>* side : {&far, &near})
      for (Peer& p : *side) ASSERT_TRUE(p.send(heartbeat_message())) << p.error();
    std::this_thread::sleep_for(kKeepAlivePeriod);
  }
  ASSERT_EQ(ServerSocketStates(port(), VethLink::kFarAddress),
            std::vector<std::string>(far.size(), "01"));
  for (Watched& w : watched) ASSERT_TRUE(ReceivedNothing(w.peer->sync()));
  for (Peer& p : far) ASSERT_TRUE(ReceivedNothing(p.sync(kWait))) << "a far peer";
  // A last heartbeat from everybody, so that the server counts its misses from the cut.
  for (std::vector<Peer>* side : {&far, &near})
    for (Peer& p : *side) ASSERT_TRUE(p.send(heartbeat_message())) << p.error();

  // The far side vanishes: its packets, and the server's to it, go nowhere from now on.
  ASSERT_TRUE(link_->cut()) << link_->error();
  const auto cut_at = Clock::now();
  ASSERT_TRUE(RelayUntilNotified(relaying, watched, cut_at, Millis(30000)));
  const double bound = kHeartbeatSeconds * kMisses + kSlackSeconds;
  for (size_t i = 0; i < watched.size(); ++i)
    EXPECT_LE(watched[i].notified_after, bound) << "near partner " << i;
  // The server closed its side of every far connection by itself (close frame, FIN, and
  // after close_timeout the socket), nothing ever came from the far side.
  EXPECT_TRUE(WaitUntil(
      [&] {
        for (const std::string& state : ServerSocketStates(port(), VethLink::kFarAddress))
          if (state == "01") return false;
        return true;
      },
      std::chrono::seconds(20)))
      << "server sockets to the vanished clients are still established";
  // The far side never learnt: no close frame, no end of stream (only a heartbeat the
  // server sent just before the cut may be there, and receive() skips it).
  for (size_t i = 0; i < far.size(); ++i) {
    const Received got = far[i].receive(Millis(0));
    EXPECT_EQ(got.kind, Received::Kind::kTimeout)
        << "far peer " << i << ": crossed the deleted link: " << got.describe();
  }
  // The near partners go on.
  for (int w = 0; w < kWorkers; ++w) {
    ASSERT_TRUE(near[2 * w + 1].send(try_another_message()));
    EXPECT_TRUE(IsIsFirst(near[2 * w + 1].receive(kWait), true)) << "worker " << w;
  }
  ASSERT_TRUE(RelayRound(relaying, 2, kKeepAlivePeriod));
  for (NumberedPair* p : relaying) ASSERT_TRUE(ExpectNothingMore(*p));
  ExpectNoWorkerReplaced(pids_before);
}

// ---- a peer flooding invalid frames and messages ----

struct BadInput {
  const char* name;
  std::string bytes;  // sent after the upgrade, in one write
  int expected;       // close code, or the HTTP status when `before_upgrade`
  bool before_upgrade = false;
};

std::string MaskedHeader(uint8_t first_byte, uint64_t length) {
  std::string header(1, static_cast<char>(first_byte));
  header.push_back(static_cast<char>(0x80 | 127));
  for (int shift = 56; shift >= 0; shift -= 8)
    header.push_back(static_cast<char>((length >> shift) & 0xFF));
  header += std::string("\x11\x22\x33\x44", 4);
  return header;
}

std::vector<BadInput> BadInputs() {
  const std::string heartbeat = heartbeat_message().SerializeAsString();
  return {
      {"reserved opcode", encode_frame(0x3, "x"), 1002},
      {"reserved control opcode", encode_frame(0xB, "x"), 1002},
      {"unmasked frame", encode_frame(opcode::kBinary, heartbeat, {.masked = false}), 1002},
      {"RSV bits", encode_frame(opcode::kBinary, heartbeat, {.rsv = 2}), 1002},
      {"oversized ping", encode_frame(opcode::kPing, std::string(126, 'p')), 1002},
      {"fragmented ping", encode_frame(opcode::kPing, "p", {.fin = false}), 1002},
      {"orphan continuation", encode_frame(opcode::kContinuation, "c"), 1002},
      {"close code 1005", encode_frame(opcode::kClose, close_payload(1005, "")), 1002},
      {"close reason not UTF-8", encode_frame(opcode::kClose, close_payload(1000, "\xc3\x28")),
       1007},
      {"length with the top bit set", MaskedHeader(0x82, uint64_t{1} << 63) + "xxxx", 1002},
      {"length of a terabyte", MaskedHeader(0x82, uint64_t{1} << 40) + "xxxx", 1009},
      {"fragments over the limit",
       encode_frame(opcode::kBinary, std::string(600 * 1024, 'f'), {.fin = false}) +
           encode_frame(opcode::kContinuation, std::string(600 * 1024, 'f')),
       1009},
      {"garbage protobuf", encode_frame(opcode::kBinary, std::string("\xff\xff\xff\xff\x0f", 5)),
       4003},
      {"truncated protobuf", encode_frame(opcode::kBinary, std::string("\x0a\x0a\x12\x00", 4)),
       4003},
      {"text message", encode_frame(opcode::kText, "hello"), 4003},
      {"empty message", encode_frame(opcode::kBinary, ""), 4003},
      {"isFirst from a peer",
       encode_frame(opcode::kBinary, is_first_message(true).SerializeAsString()), 4003},
      {"garbage request", "\x16\x03\x01 not http at all\r\n\r\n", 400, true},
      {"header over the limit",
       "GET /k HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(16 * 1024, 'h') + "\r\n\r\n", 431,
       true},
  };
}

// Opens a connection for a fresh key of `owner`, sends `input` and checks that the server
// ends it as the spec says; the bad frames ride along with the request every other time, so
// they reach the owner inside a handoff.
AssertionResult SendBadInput(uint16_t port, const BadInput& input, int owner, int workers,
                             bool with_request) {
  WsClient ws;
  if (!ws.connect(port)) return AssertionFailure() << ws.last_error();
  const std::string key = KeyOwnedBy(owner, workers, "f");
  if (input.before_upgrade) {
    if (!ws.send_raw(input.bytes)) return AssertionFailure() << ws.last_error();
    const HttpResponse response = ws.read_http_response(kWait);
    if (response.status != input.expected)
      return AssertionFailure() << "expected HTTP " << input.expected << ", got "
                                << (response.status ? response.head : "no answer");
  } else {
    const std::string request = WsClient::upgrade_request("/" + key);
    if (!ws.send_raw(with_request ? request + input.bytes : request))
      return AssertionFailure() << ws.last_error();
    if (ws.read_http_response(kWait).status != 101) return AssertionFailure() << "no 101";
    if (!with_request && !ws.send_raw(input.bytes)) return AssertionFailure() << ws.last_error();
    const CloseResult closed = ws.wait_close(kWait);
    if (auto ok = IsClose(closed, static_cast<uint16_t>(input.expected)); !ok) return ok;
  }
  if (!ws.wait_eof(kWait)) return AssertionFailure() << "the server did not end the connection";
  return AssertionSuccess();
}

TEST_F(FaultsTest, PeerFloodingInvalidFramesAndMessagesOnConnectionAfterConnectionHurtsNoOther) {
  ASSERT_NO_FATAL_FAILURE(StartWorkers({.protocol = {"heartbeat_interval = 60"}}));
  std::vector<NumberedPair> pairs = PairsOnWorkers(40, kWorkers, "n");
  std::vector<NumberedPair*> relaying = Pointers(pairs);
  ASSERT_TRUE(JoinPairs(port(), relaying));
  const auto pids_before = WorkerPids();

  const std::vector<BadInput> inputs = BadInputs();
  constexpr int kConnections = 600;
  std::atomic<bool> flood_done{false};
  AssertionResult flood_result = AssertionSuccess();
  int flooded = 0;
  std::thread flooder([&] {
    const auto deadline = Clock::now() + std::chrono::seconds(45);
    for (; flooded < kConnections && Clock::now() < deadline; ++flooded) {
      const BadInput& input = inputs[static_cast<size_t>(flooded) % inputs.size()];
      const int owner = (flooded / static_cast<int>(inputs.size())) % kWorkers;
      if (auto ok = SendBadInput(port(), input, owner, kWorkers, (flooded / 2) % 2 == 1); !ok) {
        flood_result = AssertionFailure()
                       << "connection " << flooded << " (" << input.name << "): " << ok.message();
        break;
      }
    }
    flood_done = true;
  });
  JoinGuard guard(flooder);
  AssertionResult relay_result = AssertionSuccess();
  int rounds = 0;
  while (relay_result && !flood_done) {
    relay_result = RelayRound(relaying, 4);
    ++rounds;
  }
  flooder.join();
  ASSERT_TRUE(relay_result) << "round " << rounds << " while the flood went on";
  ASSERT_TRUE(flood_result);
  ASSERT_EQ(flooded, kConnections) << "the flood did not finish in time";
  ASSERT_TRUE(RelayRound(relaying, 4));
  for (NumberedPair* p : relaying) ASSERT_TRUE(ExpectNothingMore(*p));
  ExpectNoWorkerReplaced(pids_before);
  std::cout << "[ info     ] " << rounds << " relay rounds through " << pairs.size()
            << " pairs during " << flooded << " invalid connections" << std::endl;
}

}  // namespace
}  // namespace sigver::itest
