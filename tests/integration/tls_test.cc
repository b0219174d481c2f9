// wss:// end to end through the real binaries: certificates made at test time (root CA ->
// intermediate -> server certificate for localhost/127.0.0.1), clients that trust only the
// root, groups across 4 workers, broken handshakes, HUP with renewed and broken certificates,
// start-up errors, and the seed's `sigver --key --cert --ca` command line.
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "support/harness.h"
#include "support/test_certs.h"
#include "support/tls_client.h"
#include "support/worker_probe.h"

namespace sigver::itest {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Waits until `condition` holds, up to `bound`.
template <typename F>
bool Eventually(F condition, milliseconds bound = milliseconds(5000)) {
  const auto deadline = Clock::now() + bound;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class TlsTest : public SigverTest {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(certs_.create(error)) << error;
  }

  // The [tls] lines; ServerProcess writes them inside its [server] list, so they open their
  // own section before the [protocol] section it writes next.
  std::vector<std::string> TlsSection(const std::string& key = "") const {
    return {"[tls]", "certificate = " + certs_.server_cert(),
            "certificate_key = " + (key.empty() ? certs_.server_key() : key),
            "ca = " + certs_.intermediate()};
  }

  // sigverd with `listen` (plain) and `listen_tls`, and a wss:// proxy for the clients.
  void StartTls(int workers = 1, std::vector<std::string> protocol = {},
                std::vector<std::string> log = {}, int open_files = 0,
                std::vector<std::string> limits = {}) {
    tls_port_ = find_free_port();
    ServerConfig config;
    config.open_files = open_files;
    config.limits = std::move(limits);
    config.protocol = std::move(protocol);
    config.log = std::move(log);
    config.server = {"listen_tls = 127.0.0.1:" + std::to_string(tls_port_),
                     "worker_processes = " + std::to_string(workers)};
    for (const std::string& line : TlsSection()) config.server.push_back(line);
    ASSERT_NO_FATAL_FAILURE(Start(config));
    proxy_ = std::make_unique<TlsProxy>(tls_port_, certs_.ca());
    ASSERT_TRUE(proxy_->ok());
  }

  Peer NewTlsPeer() const { return Peer(proxy_->port()); }

  // member + joiner over wss:// on a fresh key; `id` is the joiner's id at the member.
  void MakeTlsPair(Peer& member, Peer& joiner, uint32_t& id) {
    const std::string key = random_key("tls");
    member = NewTlsPeer();
    joiner = NewTlsPeer();
    ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
    ASSERT_NO_FATAL_FAILURE(Join(joiner, key, false));
    ASSERT_TRUE(joiner.send_content(0, "hello-member")) << joiner.error();
    ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(member, "hello-member", id));
  }

  // One pair per element, each relaying both ways once all are made.
  void MakeTlsPairsAndRelay(std::vector<Peer>& members, std::vector<Peer>& joiners,
                            std::vector<uint32_t>& ids) {
    for (size_t g = 0; g < members.size(); ++g) {
      ASSERT_NO_FATAL_FAILURE(MakeTlsPair(members[g], joiners[g], ids[g])) << "group " << g;
    }
    for (size_t g = 0; g < members.size(); ++g) {
      ASSERT_NO_FATAL_FAILURE(ExpectRelay(members[g], joiners[g], ids[g], std::to_string(g)));
    }
  }

  // Both directions of an existing pair still work.
  void ExpectRelay(Peer& member, Peer& joiner, uint32_t id, const std::string& tag) {
    ASSERT_TRUE(joiner.send_content(0, "up-" + tag)) << joiner.error();
    EXPECT_TRUE(IsContent(member.receive(), id, "up-" + tag));
    ASSERT_TRUE(member.send_content(id, "down-" + tag)) << member.error();
    EXPECT_TRUE(IsContent(joiner.receive(), 0, "down-" + tag));
  }

  // The organization of the certificate a brand new wss:// connection gets.
  std::string NewConnectionOrganization() {
    const size_t index = proxy_->session_count();
    WsClient probe;
    if (!probe.connect(proxy_->port())) return "(no connection)";
    TlsSession s = proxy_->wait_session(index);
    return s.handshake_ok ? s.peer_organization : "(handshake failed: " + s.error + ")";
  }

  testcerts::TestCerts certs_;
  uint16_t tls_port_ = 0;
  std::unique_ptr<TlsProxy> proxy_;
};

TEST_F(TlsTest, ClientTrustingOnlyTheRootVerifiesTheChainAndRelays) {
  ASSERT_NO_FATAL_FAILURE(StartTls());
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakeTlsPair(member, joiner, id));
  const TlsSession s = proxy_->last_session();
  EXPECT_TRUE(s.handshake_ok) << s.error;
  EXPECT_TRUE(s.verified);
  EXPECT_EQ(s.chain_length, 2) << "server certificate + intermediate";
  EXPECT_EQ(s.protocol, "TLSv1.3");
  EXPECT_EQ(s.peer_organization, "first");
  ExpectRelay(member, joiner, id, "1");
  // A message larger than any TLS record and any single read on the way.
  const std::string big(600 * 1024, 'b');
  ASSERT_TRUE(joiner.send_content(0, big)) << joiner.error();
  EXPECT_TRUE(IsContent(member.receive(milliseconds(10000)), id, big));
  EXPECT_TRUE(IsClose(joiner.close_cleanly(), 1000));
}

TEST_F(TlsTest, PlainAndTlsPeersShareAGroup) {
  ASSERT_NO_FATAL_FAILURE(StartTls());
  const std::string key = random_key("mix");
  Peer plain = NewPeer();
  Peer secure = NewTlsPeer();
  ASSERT_NO_FATAL_FAILURE(Join(plain, key, true));
  ASSERT_NO_FATAL_FAILURE(Join(secure, key, false));
  ASSERT_TRUE(secure.send_content(0, "from-wss")) << secure.error();
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(plain, "from-wss", id));
  ASSERT_TRUE(plain.send_content(id, "from-ws")) << plain.error();
  EXPECT_TRUE(IsContent(secure.receive(), 0, "from-ws"));
}

TEST_F(TlsTest, GroupsFormAndRelayAcrossFourWorkers) {
  ASSERT_NO_FATAL_FAILURE(StartTls(4));
  constexpr int kGroups = 12;
  std::vector<Peer> members(kGroups), joiners(kGroups);
  std::vector<uint32_t> ids(kGroups);
  ASSERT_NO_FATAL_FAILURE(MakeTlsPairsAndRelay(members, joiners, ids));
  // With 4 workers most keys belong to another worker than the one the kernel picked: the
  // plain ends of those TLS connections were handed off.
  const std::string log = server().log_text();
  EXPECT_GT(Count(log, "handed off a connection"), 0u) << "no handoff happened";
  EXPECT_GT(Count(log, "TLS handshake done"), 2u * kGroups - 1);
}

// With one worker every key is its own: each wss peer is served on its TLS socket, one
// descriptor per peer (a relay would add both ends of a socketpair), and the error log
// names the client's real address.
TEST_F(TlsTest, OneWorkerServesWssPeersDirectlyOnTheirTlsSockets) {
  const std::string access_log = "/tmp/sigver-tls-access-" + std::to_string(::getpid()) + ".log";
  ASSERT_NO_FATAL_FAILURE(StartTls(1, {}, {"access_log = " + access_log}));
  const std::vector<pid_t> workers = ChildPids(server().pid());
  ASSERT_EQ(workers.size(), 1u);
  const int before = OpenFdCount(workers[0]);
  ASSERT_GT(before, 0);
  constexpr int kGroups = 20;
  std::vector<Peer> members(kGroups), joiners(kGroups);
  std::vector<uint32_t> ids(kGroups);
  ASSERT_NO_FATAL_FAILURE(MakeTlsPairsAndRelay(members, joiners, ids));
  const int held = OpenFdCount(workers[0]) - before;
  EXPECT_GE(held, 2 * kGroups);
  EXPECT_LT(held, 2 * kGroups + 5) << "more than one descriptor per wss peer: relayed?";
  // A refused upgrade over TLS is logged with the client's address, not the relay's.
  WsClient probe;
  ASSERT_TRUE(probe.connect(proxy_->port()));
  ASSERT_TRUE(probe.send_raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(WaitForLog("rejected upgrade request"));
  const std::string log = server().log_text();
  const size_t at = log.find("rejected upgrade request");
  const std::string line = log.substr(at, log.find('\n', at) - at);
  EXPECT_NE(line.find("client: 127.0.0.1:"), std::string::npos) << line;
  EXPECT_EQ(Count(log, "handed off a connection"), 0u);
  // And so is every connection's access-log line, marked as TLS.
  members.clear();
  joiners.clear();
  std::string access;
  ASSERT_TRUE(Eventually([&] {
    std::ifstream in(access_log);
    access.assign(std::istreambuf_iterator<char>(in), {});
    return Count(access, "\n") >= 2u * kGroups;
  })) << access;
  std::remove(access_log.c_str());
  EXPECT_GE(Count(access, "tls=yes"), 2u * kGroups) << access;
  EXPECT_EQ(Count(access, "remote=-"), 0u) << access;
  EXPECT_GE(Count(access, "remote=127.0.0.1:"), 2u * kGroups) << access;
}

// One descriptor per wss peer also means a worker holds as many wss peers as plain ones:
// under an open-file limit of 256, 150 wss peers (3 descriptors each through a relay: 450).
TEST_F(TlsTest, WssPeersFitTheOpenFileLimitOnePerDescriptor) {
  ASSERT_NO_FATAL_FAILURE(StartTls(1, {}, {}, 256));
  constexpr int kGroups = 75;
  std::vector<Peer> members(kGroups), joiners(kGroups);
  std::vector<uint32_t> ids(kGroups);
  ASSERT_NO_FATAL_FAILURE(MakeTlsPairsAndRelay(members, joiners, ids));
  EXPECT_EQ(Count(server().log_text(), "descriptors in use"), 0u) << server().log_text();
}

// Out of descriptors, a TLS client is closed before any TLS work (its handshake fails at
// once), the worker pauses accepting, and wss peers are served again once some leave.
TEST_F(TlsTest, OutOfDescriptorsRefusesTlsBeforeTheHandshake) {
  // A long heartbeat: on a loaded machine the joins below may take longer than the default
  // allows a silent peer, and peers closed for it would free their descriptors.
  ASSERT_NO_FATAL_FAILURE(
      StartTls(1, {"heartbeat_interval = 60"}, {}, 96, {"max_connections = 1000"}));
  std::vector<Peer> peers;
  for (int i = 0; i < 120; ++i) {
    Peer p = NewTlsPeer();
    bool first = false;
    if (!p.join(random_key("fd"), first)) break;
    peers.push_back(std::move(p));
  }
  EXPECT_GT(peers.size(), 30u);
  EXPECT_LT(peers.size(), 96u) << "more wss peers than descriptors";
  // Logged as limit max_connections (the limit log folds repeats into one line per 10 s).
  ASSERT_TRUE(WaitForLog("limit max_connections")) << [&] {
    std::string out = std::to_string(peers.size()) + " peers\n";
    for (const LogLine& l : ParseLog(server().log_text())) {
      if (l.level != "debug" && l.text.find("protocol closes") == std::string::npos) {
        out += l.level + " " + l.text + "\n";
      }
    }
    return out;
  }();
  const TlsSession refused = proxy_->last_session();
  EXPECT_TRUE(refused.connected);
  EXPECT_FALSE(refused.handshake_ok) << "a TLS handshake done for a client that cannot stay";
  peers.resize(peers.size() / 2);  // half of them leave
  bool joined = false;
  ASSERT_TRUE(Eventually([&] {
    Peer p = NewTlsPeer();
    bool first = false;
    joined = p.join(random_key("fd-again"), first) && first;
    if (joined) peers.push_back(std::move(p));
    return joined;
  }));
}

// A wss peer served on its TLS socket that stops reading: once its queue passes
// max_outbound it is closed (or, with a TLS record half sent, dropped) and its binding
// ends; the flooder and a bystander pair are untouched.
TEST_F(TlsTest, SlowWssReaderIsClosedAndOthersStay) {
  ASSERT_NO_FATAL_FAILURE(StartTls(1, {"max_outbound = 256k", "heartbeat_interval = 60"}));
  const std::string key = random_key("tls-slow");
  Peer slow = NewTlsPeer(), flooder = NewTlsPeer();
  slow.ws().set_receive_buffer(4096);
  ASSERT_NO_FATAL_FAILURE(Join(slow, key, true));
  ASSERT_NO_FATAL_FAILURE(Join(flooder, key, false));
  Peer other_member, other_joiner;
  uint32_t other_id = 0;
  ASSERT_NO_FATAL_FAILURE(MakeTlsPair(other_member, other_joiner, other_id));
  size_t sent = 0;
  const Received notice = FloodUntilAnswered(flooder, sent);
  ASSERT_NE(notice.kind, Received::Kind::kTimeout) << "not dropped after " << sent << " bytes";
  EXPECT_TRUE(IsFlags(notice, 0, false, true)) << "after " << sent << " bytes";
  const CloseResult closed = slow.ws().wait_close(Millis(20000));
  EXPECT_TRUE(closed.status != ReadStatus::kTimeout) << closed.describe();
  ASSERT_NO_FATAL_FAILURE(ExpectRelay(other_member, other_joiner, other_id, "after"));
  EXPECT_TRUE(ServerHealthy());
}

// A smaller worker count retires workers, but the TLS sessions they terminate cannot move:
// they keep relaying them while their groups move to the remaining workers.
TEST_F(TlsTest, FewerWorkersKeepWssPeersRelaying) {
  // Short timeouts: a retired worker that gave up on its TLS clients after them would have
  // dropped them by the time they relay again.
  ASSERT_NO_FATAL_FAILURE(StartTls(4, {"handshake_timeout = 0.3", "close_timeout = 0.3"}));
  constexpr int kGroups = 12;
  std::vector<Peer> members(kGroups), joiners(kGroups);
  std::vector<uint32_t> ids(kGroups);
  for (int g = 0; g < kGroups; ++g) {
    ASSERT_NO_FATAL_FAILURE(MakeTlsPair(members[g], joiners[g], ids[g])) << "group " << g;
  }
  ASSERT_NO_FATAL_FAILURE(RewriteConfigAndReload("worker_processes = 4", "worker_processes = 1"));
  ASSERT_TRUE(WaitForLog("worker count 4 -> 1,", 4)) << server().log_text();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (int g = 0; g < kGroups; ++g) {
    ASSERT_NO_FATAL_FAILURE(ExpectRelay(members[g], joiners[g], ids[g], std::to_string(g)));
  }
  // A new wss peer still joins an old group through its member.
  Peer late = NewTlsPeer();
  bool first = true;
  ASSERT_TRUE(late.join(random_key("tls-late"), first)) << late.error();
  EXPECT_TRUE(first);
}

TEST_F(TlsTest, PlainTextClientOnTheTlsPortGetsNoWebSocket) {
  ASSERT_NO_FATAL_FAILURE(StartTls());
  WsClient client;
  ASSERT_TRUE(client.connect(tls_port_)) << client.last_error();
  ASSERT_TRUE(client.send_raw(WsClient::upgrade_request("/plain")));
  const HttpResponse response = client.read_http_response();
  EXPECT_EQ(response.status, 400) << response.head;
  EXPECT_NE(client.read_until_eof().find("wss://"), std::string::npos);
  // And a WebSocket handshake never succeeds there.
  WsClient again;
  EXPECT_FALSE(again.open(tls_port_, "/plain"));
}

TEST_F(TlsTest, BrokenHandshakesDoNotDisturbOtherPeers) {
  ASSERT_NO_FATAL_FAILURE(StartTls(2));
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakeTlsPair(member, joiner, id));

  const std::string hello = client_hello_bytes();
  ASSERT_GT(hello.size(), 100u);
  std::vector<WsClient> bad(5);
  for (auto& c : bad) ASSERT_TRUE(c.connect(tls_port_)) << c.last_error();
  ASSERT_TRUE(bad[0].send_raw(std::string(2000, '\x16')));          // garbage records
  ASSERT_TRUE(bad[1].send_raw(hello.substr(0, hello.size() / 2)));  // truncated, kept open
  ASSERT_TRUE(bad[2].send_raw(hello));                              // then silence
  std::string corrupt = hello;
  corrupt[corrupt.size() / 2] ^= 0x5a;
  corrupt[9] ^= 0x7f;
  ASSERT_TRUE(bad[3].send_raw(corrupt));  // damaged ClientHello
  ASSERT_TRUE(bad[4].send_raw(hello));
  bad[4].close();  // gone mid-handshake
  EXPECT_TRUE(bad[0].wait_eof()) << "garbage was not refused";

  ExpectRelay(member, joiner, id, "after-garbage");
  Peer m2, j2;
  uint32_t id2 = 0;
  ASSERT_NO_FATAL_FAILURE(MakeTlsPair(m2, j2, id2));
  ExpectRelay(m2, j2, id2, "new-pair");
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(TlsTest, HupWithRenewedCertificateReachesNewClientsWhileOldOnesRelay) {
  ASSERT_NO_FATAL_FAILURE(StartTls(2));
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakeTlsPair(member, joiner, id));
  EXPECT_EQ(proxy_->last_session().peer_organization, "first");

  std::string error;
  ASSERT_TRUE(certs_.issue_server("server.crt", "server.key", "renewed", error)) << error;
  ASSERT_TRUE(server().send_signal(SIGHUP));
  // Every worker must serve it: try enough new connections to land on each.
  ASSERT_TRUE(Eventually([&] { return Count(server().log_text(), "TLS certificate loaded") >= 2; }))
      << server().log_text();
  for (int i = 0; i < 8; ++i) EXPECT_EQ(NewConnectionOrganization(), "renewed") << i;

  ExpectRelay(member, joiner, id, "after-hup");  // the old sessions carry on
  Peer m2, j2;
  uint32_t id2 = 0;
  ASSERT_NO_FATAL_FAILURE(MakeTlsPair(m2, j2, id2));
  ExpectRelay(m2, j2, id2, "renewed");
}

TEST_F(TlsTest, HupWithBrokenCertificateKeepsTheOldOne) {
  ASSERT_NO_FATAL_FAILURE(StartTls(2));
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakeTlsPair(member, joiner, id));

  // A renewal that went wrong: the new certificate with the old key.
  std::string error;
  ASSERT_TRUE(certs_.run("cp server.key server.key.old", error)) << error;
  ASSERT_TRUE(certs_.issue_server("server.crt", "server.key", "renewed", error)) << error;
  ASSERT_TRUE(certs_.run("cp server.key.old server.key", error)) << error;
  ASSERT_TRUE(server().send_signal(SIGHUP));
  ASSERT_TRUE(Eventually([&] {
    return server().log_text().find("TLS certificate not reloaded") != std::string::npos;
  }));
  EXPECT_NE(server().log_text().find("does not match the certificate"), std::string::npos);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(NewConnectionOrganization(), "first") << i;
  ExpectRelay(member, joiner, id, "after-bad-hup");

  // Garbage in the certificate file is refused the same way.
  ASSERT_TRUE(certs_.run("echo garbage > server.crt", error)) << error;
  ASSERT_TRUE(server().send_signal(SIGHUP));
  ASSERT_TRUE(
      Eventually([&] { return Count(server().log_text(), "TLS certificate not reloaded") >= 2; }));
  EXPECT_EQ(NewConnectionOrganization(), "first");

  // Fixed files are picked up by the next HUP.
  ASSERT_TRUE(certs_.issue_server("server.crt", "server.key", "fixed", error)) << error;
  ASSERT_TRUE(server().send_signal(SIGHUP));
  ASSERT_TRUE(Eventually([&] { return NewConnectionOrganization() == "fixed"; }));
  ExpectRelay(member, joiner, id, "after-fix");
}

TEST_F(TlsTest, GracefulStopClosesWssPeersWithGoingAway) {
  ASSERT_NO_FATAL_FAILURE(StartTls(2));
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakeTlsPair(member, joiner, id));
  ASSERT_TRUE(server().send_signal(SIGQUIT));
  // (The joiner may first hear that its member left.)
  EXPECT_TRUE(IsClose(member.ws().wait_close(), 1001));
  EXPECT_TRUE(IsClose(joiner.ws().wait_close(), 1001));
  const int status = server().wait_exit(milliseconds(10000));
  ASSERT_NE(status, -1) << "server did not exit";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(TlsTest, KeyOfAnotherCertificateFailsStartUpClearly) {
  ServerConfig config;
  config.server = {"listen_tls = 127.0.0.1:" + std::to_string(find_free_port())};
  for (const std::string& line : TlsSection(certs_.other_key())) config.server.push_back(line);
  ServerProcess server(SigverdBinary(), config);
  EXPECT_FALSE(server.ready());
  const int status = server.wait_exit(milliseconds(5000));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << server.diagnostics();
  const std::string expected = "the private key in " + certs_.other_key() +
                               " does not match the certificate in " + certs_.server_cert();
  EXPECT_NE(server.output_text().find(expected), std::string::npos) << server.diagnostics();
}

TEST_F(TlsTest, SigverCommandLineServesWssOnItsOneListener) {
  // The seed's example: sigver --key ./private.key --cert ./primary.crt --ca ./intermediate.crt
  ServerConfig config;
  config.args = {"--key",  certs_.server_key(),
                 "--cert", certs_.server_cert(),
                 "--ca",   certs_.intermediate(),
                 "-h",     "127.0.0.1",
                 "-p",     "{port}"};
  ServerProcess sigver(SigverBinary(), config);
  ASSERT_TRUE(sigver.ready()) << sigver.diagnostics();
  TlsProxy proxy(sigver.port(), certs_.ca());
  const std::string key = random_key("cli");
  Peer member(proxy.port()), joiner(proxy.port());
  ASSERT_NO_FATAL_FAILURE(Join(member, key, true));
  ASSERT_NO_FATAL_FAILURE(Join(joiner, key, false));
  EXPECT_TRUE(proxy.last_session().verified);
  ASSERT_TRUE(joiner.send_content(0, "over-wss"));
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(member, "over-wss", id));
  ASSERT_TRUE(member.send_content(id, "back"));
  EXPECT_TRUE(IsContent(joiner.receive(), 0, "back"));
  WsClient plain;  // no plain WebSocket on that port
  EXPECT_FALSE(plain.open(sigver.port(), "/" + key));
  // `sigver` logs to stderr.
  EXPECT_EQ(sigver.output_text().find("killed by SIG"), std::string::npos);
  EXPECT_NE(sigver.output_text().find("(TLS)"), std::string::npos) << sigver.output_text();
}

}  // namespace
}  // namespace sigver::itest
