// The [limits] section and allowed_origins through the real binary: what a client sees at
// each limit (HTTP status, close code, a connection that waits), that the others are not
// harmed, that HUP changes a limit in place, and that the log says so.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"

namespace sigver::itest {
namespace {

using Clock = std::chrono::steady_clock;

// A TCP connection to 127.0.0.1:port from `source` (another loopback address, which the
// server sees as another client).
UniqueFd connect_from(const char* source, uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source, &local.sin_addr);
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return {};
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(port);
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&server), sizeof server) != 0) return {};
  return fd;
}

// The head of the HTTP answer on `fd` (through the blank line), "" if none came within
// `timeout`.
std::string read_response_head(int fd, Millis timeout) {
  std::string head;
  const auto until = Clock::now() + timeout;
  while (head.find("\r\n\r\n") == std::string::npos) {
    const auto left = std::chrono::duration_cast<Millis>(until - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return "";
    char c;
    if (::recv(fd, &c, 1, 0) != 1) return "";  // one byte at a time: leave the frames alone
    head += c;
  }
  return head;
}

int status_of(const std::string& head) {
  return head.size() > 12 && head.starts_with("HTTP/1.1 ") ? std::atoi(head.c_str() + 9) : 0;
}

// Sends an upgrade request for `path` on `fd`; returns the answer's status (0: none came
// within `timeout`) and, in `head`, the whole head.
int upgrade_status(int fd, std::string_view path, std::string_view extra_headers = {},
                   Millis timeout = kDefaultTimeout, std::string* head = nullptr) {
  const std::string request = WsClient::upgrade_request(path, extra_headers);
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return -1;
  }
  std::string got = read_response_head(fd, timeout);
  if (head) *head = got;
  return status_of(got);
}

class LimitsTest : public SigverTest {
 protected:
  // Closes `peers` and waits until the server has uncounted them (a new connection from
  // this address is upgraded again), so that the end-of-test health check is admitted.
  void LeaveAndWaitUncounted(std::vector<Peer>& peers) {
    for (Peer& peer : peers) peer.close_cleanly();
    peers.clear();
    bool admitted = false;
    for (auto until = Clock::now() + std::chrono::seconds(10); !admitted && Clock::now() < until;) {
      UniqueFd probe = connect_loopback(port());
      admitted = probe && upgrade_status(probe.get(), "/" + random_key("probe")) == 101;
      if (!admitted) std::this_thread::sleep_for(Millis(50));
    }
    EXPECT_TRUE(admitted) << "closed connections were never uncounted";
  }
};

TEST_F(LimitsTest, PerAddressLimitCountsAcrossWorkersAndAnswers503) {
  Start({.server = {"worker_processes = 4"}, .limits = {"max_connections_per_ip = 3"}});
  // Different keys: the kernel spreads the connections over the workers and most are handed
  // off to their key's owner, which counts them from then on.
  // The harness's start-up probe is counted until its worker has read its close: until then
  // a third peer may be refused, so the three are opened again until they all get in.
  std::vector<Peer> peers;
  std::string last_error;
  for (auto until = Clock::now() + std::chrono::seconds(10);
       peers.size() < 3 && Clock::now() < until;) {
    peers.emplace_back(port());
    if (peers.back().open(random_key("ip"))) continue;
    last_error = peers.back().error();
    peers.clear();
    std::this_thread::sleep_for(Millis(50));
  }
  ASSERT_EQ(peers.size(), 3u) << last_error;
  UniqueFd fourth = connect_loopback(port());
  ASSERT_TRUE(fourth);
  std::string refused;
  EXPECT_EQ(upgrade_status(fourth.get(), "/" + random_key("ip"), {}, kDefaultTimeout, &refused),
            503);
  EXPECT_NE(refused.find("\r\nRetry-After: 10\r\n"), std::string::npos) << refused;
  // Another address is another client.
  UniqueFd other = connect_from("127.0.0.2", port());
  ASSERT_TRUE(other) << "cannot bind 127.0.0.2";
  EXPECT_EQ(upgrade_status(other.get(), "/" + random_key("ip")), 101);
  EXPECT_TRUE(WaitForLog("limit max_connections_per_ip"));

  // Once one leaves, this address may connect again (the owner uncounts it when it sees the
  // close, which may take a moment).
  EXPECT_EQ(peers.front().close_cleanly().status, ReadStatus::kFrame);
  peers.erase(peers.begin());
  bool admitted = false;
  for (auto until = Clock::now() + std::chrono::seconds(10); !admitted && Clock::now() < until;) {
    Peer again(port());
    admitted = again.open(random_key("ip"));
    if (admitted) peers.push_back(std::move(again));
    if (!admitted) std::this_thread::sleep_for(Millis(50));
  }
  EXPECT_TRUE(admitted) << "a closed connection was never uncounted";
  LeaveAndWaitUncounted(peers);
}

TEST_F(LimitsTest, PerAddressLimitChangesOnReload) {
  Start({.limits = {"max_connections_per_ip = 0"}});
  std::vector<Peer> peers;
  for (int i = 0; i < 3; ++i) {
    peers.emplace_back(port());
    bool is_first = false;
    ASSERT_TRUE(peers.back().join(random_key("ip"), is_first));
  }
  RewriteConfigAndReload("max_connections_per_ip = 0", "max_connections_per_ip = 2");
  ASSERT_TRUE(WaitForLog("configuration reloaded"));
  // Connections open before the reload were counted all along.
  UniqueFd over = connect_loopback(port());
  EXPECT_EQ(upgrade_status(over.get(), "/k"), 503);
  for (auto& peer : peers) EXPECT_TRUE(ReceivedNothing(peer.sync())) << "open peers stay";
  LeaveAndWaitUncounted(peers);
  // Off again, so the end-of-test health check is not counted against the probe.
  RewriteConfigAndReload("max_connections_per_ip = 2", "max_connections_per_ip = 0");
  ASSERT_TRUE(WaitForLog("configuration reloaded", 2));
}

TEST_F(LimitsTest, OriginsOutsideTheListGet403) {
  Start({.server = {"allowed_origins = https://good.example *.example.org"}});
  auto status_with = [&](std::string_view headers) {
    UniqueFd fd = connect_loopback(port());
    return upgrade_status(fd.get(), "/" + random_key("o"), headers);
  };
  EXPECT_EQ(status_with("Origin: https://evil.example\r\n"), 403);
  EXPECT_EQ(status_with("Origin: https://app.example.org.evil.example\r\n"), 403);
  EXPECT_EQ(status_with("Origin: null\r\n"), 403);
  EXPECT_EQ(status_with("Origin: https://good.example\r\n"), 101);
  EXPECT_EQ(status_with("Origin: http://app.example.org\r\n"), 101);
  EXPECT_EQ(status_with(""), 101) << "no Origin: not a browser, allowed";
  EXPECT_TRUE(WaitForLog("limit allowed_origins: refused a page from origin"));

  RewriteConfigAndReload("allowed_origins = https://good.example *.example.org",
                         "allowed_origins =");
  ASSERT_TRUE(WaitForLog("configuration reloaded"));
  EXPECT_EQ(status_with("Origin: https://evil.example\r\n"), 101) << "empty list: any origin";
}

TEST_F(LimitsTest, PeerOverMaxPeersPerKeyIsUpgradedThenClosedWith1013) {
  Start({.limits = {"max_peers_per_key = 2"}});
  const std::string key = random_key("full");
  Peer first = NewPeer(), second = NewPeer(), third = NewPeer();
  bool is_first = false;
  ASSERT_TRUE(first.join(key, is_first));
  ASSERT_TRUE(second.join(key, is_first));
  ASSERT_TRUE(third.open(key)) << "the upgrade completes";
  const Received got = third.receive();
  EXPECT_TRUE(IsClose(got, 1013));
  EXPECT_FALSE(got.close.reason.empty());
  EXPECT_TRUE(ReceivedNothing(first.sync())) << "the group is untouched";
  Peer elsewhere = NewPeer();
  ASSERT_TRUE(elsewhere.join(random_key("free"), is_first));
  EXPECT_TRUE(is_first);
  EXPECT_TRUE(WaitForLog("limit max_peers_per_key"));

  RewriteConfigAndReload("max_peers_per_key = 2", "max_peers_per_key = 3");
  ASSERT_TRUE(WaitForLog("configuration reloaded"));
  Peer fourth = NewPeer();
  ASSERT_TRUE(fourth.join(key, is_first));
  EXPECT_FALSE(is_first) << "joins the group now";
}

TEST_F(LimitsTest, PeerOverTheMessageRateIsClosedWith1008OthersAreNot) {
  Start({.limits = {"max_messages_per_second = 20", "messages_burst = 10"}});
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  Peer calm_member, calm_joiner;
  uint32_t calm_id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(calm_member, calm_joiner, calm_id));

  for (int i = 0; i < 100; ++i) {
    if (!joiner.send(heartbeat_message())) break;  // closed meanwhile
  }
  const CloseResult closed = joiner.ws().wait_close(Millis(5000));
  EXPECT_TRUE(IsClose(closed, 1008));
  EXPECT_EQ(closed.close.reason, "too many messages");
  EXPECT_TRUE(IsFlags(member.receive(), id, false, true)) << "its member is told";

  // 10 messages per second for 2 s stays under 20 per second.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(calm_joiner.send_content(0, "calm " + std::to_string(i)));
    std::this_thread::sleep_for(Millis(100));
  }
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(IsContent(calm_member.receive(), calm_id, "calm " + std::to_string(i)));
  }
  EXPECT_TRUE(ReceivedNothing(calm_joiner.sync()));
  EXPECT_TRUE(WaitForLog("limit max_messages_per_second"));
}

TEST_F(LimitsTest, OldestPendingHandshakeIsDroppedPastTheLimit) {
  Start({.protocol = {"handshake_timeout = 60"}, .limits = {"max_pending_handshakes = 3"}});
  std::vector<WsClient> silent(3);
  for (auto& c : silent) ASSERT_TRUE(c.connect(port()));
  // Let the server accept them in order before the fourth arrives.
  std::this_thread::sleep_for(Millis(200));
  WsClient newest;
  ASSERT_TRUE(newest.connect(port()));
  EXPECT_TRUE(silent[0].wait_eof(Millis(10000))) << "the oldest is dropped, long before 60 s";
  EXPECT_TRUE(newest.handshake("/" + random_key("p"))) << "the newest is served";
  EXPECT_TRUE(WaitForLog("limit max_pending_handshakes"));
}

TEST_F(LimitsTest, AcceptingPausesAtMaxConnectionsAndResumes) {
  Start({.limits = {"max_connections = 4"}});
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  Peer third = NewPeer(), fourth = NewPeer();
  ASSERT_TRUE(third.open(random_key("c")));
  ASSERT_TRUE(fourth.open(random_key("c")));

  // The fifth is not refused: its TCP connection waits in the backlog, unanswered.
  UniqueFd fifth = connect_loopback(port());
  ASSERT_TRUE(fifth);
  EXPECT_EQ(upgrade_status(fifth.get(), "/" + random_key("c"), {}, Millis(700)), 0)
      << "answered past the limit";

  // Those already in keep relaying.
  ASSERT_TRUE(joiner.send_content(0, "still relaying"));
  EXPECT_TRUE(IsContent(member.receive(), id, "still relaying"));
  EXPECT_TRUE(WaitForLog("limit max_connections"));

  // One leaves: the fifth is accepted and upgraded.
  EXPECT_EQ(third.close_cleanly().status, ReadStatus::kFrame);
  EXPECT_EQ(status_of(read_response_head(fifth.get(), Millis(10000))), 101);
}

TEST_F(LimitsTest, OutboundTotalClosesPeersThatDoNotReadLargestFirst) {
  // Per peer the bound is high, so only the worker total can act.
  Start({.protocol = {"max_outbound = 64m", "close_timeout = 30"},
         .limits = {"max_outbound_total = 4m"}});
  Peer reader_member, reader_joiner;
  uint32_t reader_id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(reader_member, reader_joiner, reader_id));

  constexpr int kPairs = 6;
  std::vector<Peer> deaf(kPairs), flooders(kPairs);
  for (int i = 0; i < kPairs; ++i) {
    deaf[i] = NewPeer();
    deaf[i].ws().set_receive_buffer(4096);
    flooders[i] = NewPeer();
    uint32_t id = 0;
    ASSERT_NO_FATAL_FAILURE(MakePair(deaf[i], flooders[i], id));
  }
  // Each flooder sends 8 MiB its member never reads, while a pair that reads keeps
  // exchanging. The kernel takes up to 4 MiB per socket (tcp_wmem); 24 MiB or more is left
  // for the server to queue, against a 4 MiB total.
  const std::string chunk(32 * 1024, 'f');
  int notices = 0;
  for (int round = 0; round < 256; ++round) {
    for (int i = 0; i < kPairs; ++i) {
      if (!flooders[i].send_content(0, chunk)) continue;
    }
    ASSERT_TRUE(reader_joiner.send_content(0, "round " + std::to_string(round)));
    ASSERT_TRUE(IsContent(reader_member.receive(), reader_id, "round " + std::to_string(round)));
  }
  for (int i = 0; i < kPairs; ++i) {
    for (const Received& r : flooders[i].sync()) notices += IsFlags(r, 0, false, true) ? 1 : 0;
  }
  EXPECT_GE(notices, 2) << "members that do not read were closed";
  EXPECT_LT(notices, kPairs + 1);
  EXPECT_TRUE(WaitForLog("limit max_outbound_total"));
  EXPECT_TRUE(ReceivedNothing(reader_member.sync())) << "the reading pair is untouched";
  EXPECT_TRUE(ReceivedNothing(reader_joiner.sync()));

  // A closed member that reads at last finds the messages before the cut, then a 1008.
  int closed_with_1008 = 0;
  for (int i = 0; i < kPairs; ++i) {
    const CloseResult r = deaf[i].ws().wait_close(Millis(3000));
    if (r.status == ReadStatus::kFrame && r.close.code == 1008) ++closed_with_1008;
  }
  EXPECT_EQ(closed_with_1008, notices);
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(LimitsTest, InboundTotalClosesPeersHoldingTheMostUnfinishedInput) {
  Start({.protocol = {"max_message_size = 1m"}, .limits = {"max_inbound_total = 1m"}});
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  // Four peers each start a 900 KiB message and send 400 KiB of it, then stall.
  constexpr int kStallers = 4;
  std::vector<Peer> stallers;
  for (int i = 0; i < kStallers; ++i) {
    stallers.emplace_back(port());
    ASSERT_TRUE(stallers.back().open(random_key("in")));
    std::string frame = encode_frame(opcode::kBinary, std::string(900 * 1024, 'i'));
    ASSERT_TRUE(stallers.back().ws().send_raw(std::string_view(frame).substr(0, 400 * 1024)));
  }
  int closed = 0;
  for (auto& s : stallers) {
    const CloseResult r = s.ws().wait_close(Millis(2000));
    if (r.status == ReadStatus::kFrame) {
      EXPECT_EQ(r.close.code, 1008);
      ++closed;
    }
  }
  EXPECT_GE(closed, 2) << "4 x 400 KiB against 1 MiB";
  EXPECT_LT(closed, kStallers);
  ASSERT_TRUE(joiner.send_content(0, "fine"));
  EXPECT_TRUE(IsContent(member.receive(), id, "fine"));
  EXPECT_TRUE(WaitForLog("limit max_inbound_total"));
}

}  // namespace
}  // namespace sigver::itest
