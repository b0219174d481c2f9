// TLS session resumption through the real binary with 2 workers: a ticket from a full
// handshake resumes whichever worker the kernel gives the next connection to (TLS 1.3 and
// 1.2), /metrics counts the resumptions per worker, a HUP rotates the ticket key while old
// tickets still resume, and session_tickets = off + HUP stops issuing tickets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "core/tls_context.h"
#include "core/unique_fd.h"
#include "support/harness.h"
#include "support/test_certs.h"

namespace sigver::itest {
namespace {

using std::chrono::milliseconds;

struct SessionFree {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;

struct Visit {
  bool ok = false;
  bool resumed = false;
  SessionPtr session;  // what the client keeps for next time
  bool has_ticket() const { return session && SSL_SESSION_has_ticket(session.get()); }
  // The first 16 bytes of a ticket name the key that sealed it.
  std::string key_name() const {
    const unsigned char* ticket = nullptr;
    size_t size = 0;
    if (!has_ticket()) return "";
    SSL_SESSION_get0_ticket(session.get(), &ticket, &size);
    return std::string(reinterpret_cast<const char*>(ticket), std::min<size_t>(size, 16));
  }
};

UniqueFd ConnectTcp(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  timeval tv{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

class TlsResumeTest : public SigverTest {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(certs_.create(error)) << error;
    client_ctx_.reset(SSL_CTX_new(TLS_client_method()));
    ASSERT_TRUE(client_ctx_);
    ASSERT_EQ(SSL_CTX_load_verify_locations(client_ctx_.get(), certs_.ca().c_str(), nullptr), 1);
    SSL_CTX_set_verify(client_ctx_.get(), SSL_VERIFY_PEER, nullptr);
  }

  void StartServer(int workers) {
    tls_port_ = find_free_port();
    status_port_ = find_free_port();
    ServerConfig config;
    config.server = {"listen_tls = 127.0.0.1:" + std::to_string(tls_port_),
                     "worker_processes = " + std::to_string(workers),
                     "status_listen = 127.0.0.1:" + std::to_string(status_port_),
                     "[tls]",
                     "certificate = " + certs_.server_cert(),
                     "certificate_key = " + certs_.server_key(),
                     "ca = " + certs_.intermediate(),
                     "session_tickets = on",
                     "session_ticket_lifetime = 3600"};
    ASSERT_NO_FATAL_FAILURE(Start(config));
  }

  // One wss:// connection: TLS handshake (offering `offer` if given), a plain GET that the
  // server refuses (its answer brings the TLS 1.3 ticket along), close_notify.
  Visit Connect(SSL_SESSION* offer = nullptr, int version = TLS1_3_VERSION) {
    Visit v;
    UniqueFd fd = ConnectTcp(tls_port_);
    if (!fd) return v;
    SslPtr ssl(SSL_new(client_ctx_.get()));
    SSL_set_min_proto_version(ssl.get(), version);
    SSL_set_max_proto_version(ssl.get(), version);
    SSL_set_fd(ssl.get(), fd.get());
    SSL_set_tlsext_host_name(ssl.get(), "localhost");
    SSL_set1_host(ssl.get(), "localhost");
    if (offer) SSL_set_session(ssl.get(), offer);
    if (SSL_connect(ssl.get()) != 1) return v;
    const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) <= 0) return v;
    char buf[4096];
    std::string answer;
    for (int n; (n = SSL_read(ssl.get(), buf, sizeof buf)) > 0;) answer.append(buf, n);
    v.ok = answer.starts_with("HTTP/1.1 4");
    v.resumed = SSL_session_reused(ssl.get()) == 1;
    v.session.reset(SSL_get1_session(ssl.get()));
    SSL_shutdown(ssl.get());  // without it OpenSSL marks the session as not resumable
    return v;
  }

  // sigverd_<name>_total by worker, from /metrics.
  std::map<int, uint64_t> Metric(const std::string& name) {
    std::map<int, uint64_t> out;
    UniqueFd fd = ConnectTcp(status_port_);
    if (!fd) return out;
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) < 0) return out;
    std::string text;
    char buf[8192];
    for (ssize_t n; (n = ::recv(fd.get(), buf, sizeof buf, 0)) > 0;) {
      text.append(buf, static_cast<size_t>(n));
    }
    const std::string prefix = name + "{worker=\"";
    for (size_t at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
      const size_t worker_at = at + prefix.size();
      const int worker = std::stoi(text.substr(worker_at));
      const size_t value_at = text.find("} ", worker_at);
      out[worker] = std::stoull(text.substr(value_at + 2));
    }
    return out;
  }

  uint64_t Sum(const std::map<int, uint64_t>& by_worker) {
    uint64_t sum = 0;
    for (auto [worker, n] : by_worker) sum += n;
    return sum;
  }

  // Counters are published once per loop iteration; waits until `name` sums to `want`.
  std::map<int, uint64_t> WaitMetric(const std::string& name, uint64_t want) {
    std::map<int, uint64_t> m;
    for (int i = 0; i < 100 && Sum(m = Metric(name)) < want; ++i) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    return m;
  }

  // Checks that `ticket` resumes on `rounds` new connections, and then on more (64 at most)
  // until both workers have resumed it. The kernel picks a worker at random per connection,
  // so `rounds` alone lands on one worker now and then (a run of 12 in a row is 1 in 2,048);
  // 64 all on one worker is 1 in 2^63.
  void ExpectResumesEverywhere(SSL_SESSION* ticket, int rounds, int version) {
    const std::map<int, uint64_t> before = Metric("sigverd_tls_resumptions_total");
    const auto workers_resuming = [&](const std::map<int, uint64_t>& after) {
      int n = 0;
      for (auto [worker, count] : after)
        n += count > (before.count(worker) ? before.at(worker) : 0);
      return n;
    };
    int made = 0;
    std::map<int, uint64_t> after;
    for (; made < 64; ++made) {
      if (made >= rounds) {
        after =
            WaitMetric("sigverd_tls_resumptions_total", Sum(before) + static_cast<uint64_t>(made));
        ASSERT_EQ(Sum(after) - Sum(before), static_cast<uint64_t>(made));
        if (workers_resuming(after) == 2) break;
      }
      Visit again = Connect(ticket, version);
      ASSERT_TRUE(again.ok) << "connection " << made;
      EXPECT_TRUE(again.resumed) << "connection " << made;
    }
    EXPECT_EQ(workers_resuming(after), 2) << "64 resumptions all landed on one worker";
    resumed_ += made;
  }

  testcerts::TestCerts certs_;
  SslCtxPtr client_ctx_;
  uint16_t tls_port_ = 0;
  uint16_t status_port_ = 0;
  int resumed_ = 0;  // resumptions ExpectResumesEverywhere made
};

TEST_F(TlsResumeTest, TicketFromOneWorkerResumesOnEveryWorker) {
  ASSERT_NO_FATAL_FAILURE(StartServer(2));
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SCOPED_TRACE(version == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2");
    Visit first = Connect(nullptr, version);
    ASSERT_TRUE(first.ok);
    EXPECT_FALSE(first.resumed);
    ASSERT_TRUE(first.has_ticket());
    EXPECT_EQ(SSL_SESSION_get_ticket_lifetime_hint(first.session.get()), 3600u);
    ASSERT_NO_FATAL_FAILURE(ExpectResumesEverywhere(first.session.get(), 16, version));
  }
  // Every handshake counted, resumed ones among them: 2 full + the resumed ones.
  const auto resumed = static_cast<uint64_t>(resumed_);
  EXPECT_EQ(Sum(WaitMetric("sigverd_tls_handshakes_total", 2 + resumed)), 2 + resumed);
  EXPECT_EQ(Sum(Metric("sigverd_tls_resumptions_total")), resumed);
}

TEST_F(TlsResumeTest, HupRotatesTheKeyAndOldTicketsStillResume) {
  ASSERT_NO_FATAL_FAILURE(StartServer(2));
  Visit first = Connect();
  ASSERT_TRUE(first.ok && first.has_ticket());
  const std::string old_key = first.key_name();
  ASSERT_TRUE(server().send_signal(SIGHUP));
  ASSERT_TRUE(WaitForLog("configuration reloaded", 1, milliseconds(5000)));
  // Once both workers have the new key, every new ticket carries its name.
  bool rotated = false;
  for (int i = 0; i < 100 && !rotated; ++i) {
    rotated = true;
    for (int j = 0; j < 8 && rotated; ++j) rotated = Connect().key_name() != old_key;
    if (!rotated) std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(rotated) << "new tickets still sealed with the key from before the HUP";
  ASSERT_NO_FATAL_FAILURE(ExpectResumesEverywhere(first.session.get(), 12, TLS1_3_VERSION));
  // One more HUP: the key from before the first one is still within its lifetime (and
  // among the 4 kept), so its ticket still resumes.
  ASSERT_TRUE(server().send_signal(SIGHUP));
  ASSERT_TRUE(WaitForLog("configuration reloaded", 2, milliseconds(5000)));
  std::this_thread::sleep_for(milliseconds(200));
  Visit later = Connect(first.session.get());
  EXPECT_TRUE(later.ok && later.resumed);
}

TEST_F(TlsResumeTest, TicketsOffAfterHupIssueNoTicket) {
  ASSERT_NO_FATAL_FAILURE(StartServer(2));
  Visit first = Connect();
  ASSERT_TRUE(first.ok && first.has_ticket());
  ASSERT_NO_FATAL_FAILURE(RewriteConfigAndReload("session_tickets = on", "session_tickets = off"));
  ASSERT_TRUE(WaitForLog("configuration reloaded", 1, milliseconds(5000)));
  bool off = false;
  for (int i = 0; i < 100 && !off; ++i) {
    off = true;
    for (int j = 0; j < 8 && off; ++j) {
      Visit v = Connect();
      off = v.ok && !v.has_ticket() && !Connect(first.session.get()).resumed;
    }
    if (!off) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(off) << "tickets still issued or honoured after session_tickets = off";
  // And on again: tickets come back, with keys never seen before.
  ASSERT_NO_FATAL_FAILURE(RewriteConfigAndReload("session_tickets = off", "session_tickets = on"));
  ASSERT_TRUE(WaitForLog("configuration reloaded", 2, milliseconds(5000)));
  bool on = false;
  for (int i = 0; i < 100 && !on; ++i) {
    on = true;
    for (int j = 0; j < 8 && on; ++j) on = Connect().has_ticket();
    if (!on) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(on);
  EXPECT_FALSE(Connect(first.session.get()).resumed);
}

}  // namespace
}  // namespace sigver::itest
