// The TLS side in one process: a TlsTerminator on a real event loop, a blocking OpenSSL
// client in a thread on one end of a socketpair. Each established connection is either
// turned into a relay at once (as for a key another worker owns), whose plain end the test
// reads and writes like the owner's plain path would, or kept as a Transport that the test
// serves directly, as the worker does for the keys it owns.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>  // std::jthread

#include "../integration/support/test_certs.h"
#include "worker/tls_terminator.h"
#include "worker/transport.h"

namespace sigver {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string pattern(size_t size, unsigned seed) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + seed) % 251);
  return s;
}

// Waits (bounded) for the test to let a client thread go on.
void WaitFor(const std::atomic<bool>& flag) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!flag && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(5));
}

// A blocking TLS client; every call is bounded by the socket timeouts.
class Client {
 public:
  explicit Client(int fd) : fd_(fd) {
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  bool Handshake(SSL_CTX* ctx) {
    ssl_.reset(SSL_new(ctx));
    SSL_set_fd(ssl_.get(), fd_.get());
    SSL_set1_host(ssl_.get(), "localhost");
    return SSL_connect(ssl_.get()) == 1;
  }
  bool Write(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      int n = SSL_write(ssl_.get(), data.data() + done, static_cast<int>(data.size() - done));
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads exactly `size` bytes; fewer on EOF or error.
  std::string Read(size_t size) {
    std::string out;
    char buf[16384];
    while (out.size() < size) {
      int n = SSL_read(ssl_.get(), buf, static_cast<int>(std::min(sizeof buf, size - out.size())));
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // True when the next read is the server's close_notify.
  bool ReadsCloseNotify() {
    char c;
    int n = SSL_read(ssl_.get(), &c, 1);
    return n == 0 && SSL_get_error(ssl_.get(), n) == SSL_ERROR_ZERO_RETURN;
  }
  std::string PeerOrganization() {
    X509* cert = SSL_get0_peer_certificate(ssl_.get());
    if (!cert) return "";
    char name[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_organizationName, name, sizeof name);
    return name;
  }
  SSL* ssl() { return ssl_.get(); }
  int fd() { return fd_.get(); }
  void Close() {
    ssl_.reset();
    fd_.reset();
  }

 private:
  UniqueFd fd_;
  SslPtr ssl_;
};

class TlsRelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);  // as in the worker: OpenSSL writes with write(2)
    std::string error;
    ASSERT_TRUE(certs_.create(error)) << error;
    ASSERT_TRUE(Material(material_, error)) << error;
    terminator_ =
        std::make_unique<TlsTerminator>(loop_, [this](UniqueFd tcp, SslPtr ssl, uint32_t client) {
          if (direct_) {
            served_.emplace_back(std::move(tcp), std::move(ssl));
            return;
          }
          UniqueFd plain = terminator_->start_relay(tcp, ssl, client, unsent_);
          EXPECT_TRUE(plain) << std::strerror(errno);
          plain_.push_back(std::move(plain));
        });
    terminator_->set_timeouts(5, 1);
    ASSERT_TRUE(terminator_->start(material_, error)) << error;
    client_ctx_.reset(SSL_CTX_new(TLS_client_method()));
    ASSERT_EQ(SSL_CTX_load_verify_locations(client_ctx_.get(), certs_.ca().c_str(), nullptr), 1);
    SSL_CTX_set_verify(client_ctx_.get(), SSL_VERIFY_PEER, nullptr);
  }
  bool Material(TlsMaterial& out, std::string& error) {
    Config config;
    config.tls_certificate = certs_.server_cert();
    config.tls_certificate_key = certs_.server_key();
    config.tls_ca = certs_.intermediate();
    return read_tls_material(config, out, error);
  }

  // A connection: the server end goes to the terminator, the client end is returned.
  int Connect() {
    int pair[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    ::fcntl(pair[0], F_SETFL, O_NONBLOCK);  // as accept4(SOCK_NONBLOCK) gives the worker
    loop_.update_time();                    // the worker's loop is always current when it accepts
    terminator_->accept(pair[0]);
    return pair[1];
  }

  // Runs `body` in a thread with a client on a new connection and sets `done` when it ends.
  // Declare the result after everything the body uses: it joins when the test ends.
  std::jthread StartClient(std::function<void(Client&)> body, std::atomic<bool>& done) {
    const int fd = Connect();
    return std::jthread([fd, body, &done] {
      Client client(fd);
      body(client);
      done = true;
    });
  }

  // Runs the worker side until `condition` holds; false after `bound`.
  bool RunUntil(const std::function<bool()>& condition, milliseconds bound = milliseconds(8000)) {
    const auto deadline = Clock::now() + bound;
    while (!condition()) {
      if (Clock::now() >= deadline) return false;
      loop_.poll(terminator_->next_deadline_ms() <= loop_.now_ms() ? 0 : 5);
      terminator_->run_timers(loop_.now_ms());
      terminator_->end_iteration();
    }
    return true;
  }

  // Non-blocking read of whatever the plain end has; false on EOF.
  static bool Drain(int fd, std::string& into) {
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        into.append(buf, static_cast<size_t>(n));
        continue;
      }
      return n != 0;
    }
  }

  testcerts::TestCerts certs_;
  TlsMaterial material_;
  EventLoop loop_;
  std::unique_ptr<TlsTerminator> terminator_;
  std::vector<UniqueFd> plain_;    // relays' plain ends
  bool direct_ = false;            // keep established connections as transports instead
  std::vector<Transport> served_;  // ... here
  std::string unsent_;             // what a new relay writes first
  SslCtxPtr client_ctx_;
};

TEST_F(TlsRelayTest, RelaysBothWaysAfterTheHandshake) {
  std::atomic<bool> done{false};
  std::atomic<bool> verified{false};
  std::string reply;
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        if (!c.Handshake(client_ctx_.get())) return;
        verified = SSL_get_verify_result(c.ssl()) == X509_V_OK;
        c.Write("GET /key HTTP/1.1\r\n\r\n");
        reply = c.Read(4);
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return plain_.size() == 1; }));
  std::string got;
  ASSERT_TRUE(RunUntil([&] {
    Drain(plain_[0].get(), got);
    return got.size() >= 21;
  }));
  EXPECT_EQ(got, "GET /key HTTP/1.1\r\n\r\n");
  ASSERT_EQ(::send(plain_[0].get(), "pong", 4, 0), 4);
  ASSERT_TRUE(RunUntil([&] { return done.load(); }));
  EXPECT_TRUE(verified);
  EXPECT_EQ(reply, "pong");
  EXPECT_EQ(terminator_->size(), 1u);
}

TEST_F(TlsRelayTest, Tls12ClientsAreServedToo) {
  SSL_CTX_set_max_proto_version(client_ctx_.get(), TLS1_2_VERSION);
  std::atomic<bool> done{false};
  std::string version, cipher, reply;
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        if (!c.Handshake(client_ctx_.get())) return;
        version = SSL_get_version(c.ssl());
        cipher = SSL_get_cipher_name(c.ssl());
        c.Write("twelve");
        reply = c.Read(2);
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return plain_.size() == 1; }));
  std::string got;
  ASSERT_TRUE(RunUntil([&] {
    Drain(plain_[0].get(), got);
    return got == "twelve";
  }));
  ASSERT_EQ(::send(plain_[0].get(), "ok", 2, 0), 2);
  ASSERT_TRUE(RunUntil([&] { return done.load(); }));
  EXPECT_EQ(version, "TLSv1.2");
  EXPECT_EQ(cipher.rfind("ECDHE-", 0), 0u) << cipher;  // forward secrecy by default
  EXPECT_EQ(reply, "ok");
}

TEST_F(TlsRelayTest, OlderProtocolsAreRefused) {
  SSL_CTX_set_min_proto_version(client_ctx_.get(), TLS1_VERSION);
  SSL_CTX_set_max_proto_version(client_ctx_.get(), TLS1_1_VERSION);
  SSL_CTX_set_security_level(client_ctx_.get(), 0);  // let the client at least try
  SSL_CTX_set_cipher_list(client_ctx_.get(), "ALL:@SECLEVEL=0");
  std::atomic<bool> done{false};
  std::atomic<bool> connected{true};
  std::jthread client_thread =
      StartClient([&](Client& c) { connected = c.Handshake(client_ctx_.get()); }, done);
  ASSERT_TRUE(RunUntil([&] { return done.load() && terminator_->idle(); }));
  EXPECT_FALSE(connected);
  EXPECT_TRUE(plain_.empty());
}

TEST_F(TlsRelayTest, LargeTransfersBothWaysKeepEveryByte) {
  const std::string up = pattern(3 << 20, 7);
  const std::string down = pattern(3 << 20, 11);
  std::atomic<bool> done{false};
  std::string received;
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        if (!c.Handshake(client_ctx_.get()) || !c.Write(up)) return;
        received = c.Read(down.size());
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return plain_.size() == 1; }));
  const int b = plain_[0].get();
  std::string got;
  size_t sent = 0;
  ASSERT_TRUE(RunUntil(
      [&] {
        Drain(b, got);
        if (sent < down.size()) {
          ssize_t n = ::send(b, down.data() + sent, down.size() - sent, MSG_DONTWAIT);
          if (n > 0) sent += static_cast<size_t>(n);
        }
        return done.load() && got.size() >= up.size();
      },
      milliseconds(30000)));
  EXPECT_TRUE(got == up) << "upstream differs (" << got.size() << " bytes)";
  EXPECT_TRUE(received == down) << "downstream differs (" << received.size() << " bytes)";
}

TEST_F(TlsRelayTest, PlainSideCloseSendsCloseNotifyAndEndsTheRelay) {
  std::atomic<bool> done{false};
  std::atomic<bool> close_notify{false};
  std::string last;
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        if (!c.Handshake(client_ctx_.get())) return;
        c.Write("x");
        last = c.Read(3);
        close_notify = c.ReadsCloseNotify();
        SSL_shutdown(c.ssl());  // answer it, as browsers do
        c.Close();
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return plain_.size() == 1; }));
  std::string got;
  ASSERT_TRUE(RunUntil([&] { return !Drain(plain_[0].get(), got) || got == "x"; }));
  // Like the worker after its close frame: last bytes, then half-close and wait for EOF.
  ASSERT_EQ(::send(plain_[0].get(), "bye", 3, 0), 3);
  ::shutdown(plain_[0].get(), SHUT_WR);
  ASSERT_TRUE(RunUntil([&] { return !Drain(plain_[0].get(), got); })) << "no EOF on B";
  plain_[0].reset();
  ASSERT_TRUE(RunUntil([&] { return done.load() && terminator_->idle(); }));
  EXPECT_EQ(last, "bye");
  EXPECT_TRUE(close_notify);
}

TEST_F(TlsRelayTest, ClientCloseNotifyGivesEofOnThePlainSideWhichCanStillAnswer) {
  std::atomic<bool> done{false};
  std::string late;
  std::atomic<bool> close_notify{false};
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        if (!c.Handshake(client_ctx_.get())) return;
        c.Write("hello");
        SSL_shutdown(c.ssl());  // our close_notify; we may still read
        late = c.Read(4);
        close_notify = c.ReadsCloseNotify();
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return plain_.size() == 1; }));
  std::string got;
  ASSERT_TRUE(RunUntil([&] { return !Drain(plain_[0].get(), got); })) << "no EOF on B";
  EXPECT_EQ(got, "hello");
  ASSERT_EQ(::send(plain_[0].get(), "late", 4, 0), 4);
  plain_[0].reset();
  ASSERT_TRUE(RunUntil([&] { return done.load() && terminator_->idle(); }));
  EXPECT_EQ(late, "late");
  EXPECT_TRUE(close_notify);
}

TEST_F(TlsRelayTest, ClientVanishingEndsThePlainSide) {
  std::atomic<bool> done{false};
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        if (c.Handshake(client_ctx_.get())) c.Write("bytes");
        c.Close();  // no close_notify
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return plain_.size() == 1; }));
  std::string got;
  ASSERT_TRUE(RunUntil([&] { return !Drain(plain_[0].get(), got); }));
  EXPECT_EQ(got, "bytes");
  plain_[0].reset();
  ASSERT_TRUE(RunUntil([&] { return terminator_->idle(); }));
}

TEST_F(TlsRelayTest, GarbageHandshakeIsClosedAndNeverReachesThePlainPath) {
  std::atomic<bool> done{false};
  std::atomic<bool> eof{false};
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        const std::string junk = pattern(3000, 3);
        ::send(c.fd(), junk.data(), junk.size(), MSG_NOSIGNAL);
        char buf[64];
        ssize_t n;
        while ((n = ::recv(c.fd(), buf, sizeof buf, 0)) > 0) {
        }
        eof = n == 0 || errno == ECONNRESET;
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return done.load() && terminator_->idle(); }));
  EXPECT_TRUE(eof);
  EXPECT_TRUE(plain_.empty());
}

TEST_F(TlsRelayTest, PlainHttpOnTheTlsPortGetsA400InClear) {
  std::atomic<bool> done{false};
  std::string answer;
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        const std::string request = "GET /key HTTP/1.1\r\nHost: x\r\n\r\n";
        ::send(c.fd(), request.data(), request.size(), MSG_NOSIGNAL);
        char buf[512];
        ssize_t n;
        while ((n = ::recv(c.fd(), buf, sizeof buf, 0)) > 0) answer.append(buf, size_t(n));
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return done.load() && terminator_->idle(); }));
  EXPECT_EQ(answer.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << answer;
  EXPECT_TRUE(plain_.empty());
}

TEST_F(TlsRelayTest, UnfinishedHandshakeTimesOut) {
  terminator_->set_timeouts(0.2, 1);
  UniqueFd client(Connect());
  ::send(client.get(), "\x16\x03\x01", 3, MSG_NOSIGNAL);  // the start of a record, no more
  EXPECT_FALSE(RunUntil([&] { return terminator_->idle(); }, milliseconds(50)));
  EXPECT_EQ(terminator_->size(), 1u);  // waiting for the rest of the handshake
  ASSERT_TRUE(RunUntil([&] { return terminator_->idle(); }, milliseconds(3000)));
  char c;
  EXPECT_LE(::recv(client.get(), &c, 1, MSG_DONTWAIT), 0);
  EXPECT_TRUE(plain_.empty());
}

TEST_F(TlsRelayTest, SlowClientPushesBackOnThePlainSide) {
  std::atomic<bool> done{false};
  std::atomic<bool> read_now{false};
  size_t client_got = 0;
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        if (!c.Handshake(client_ctx_.get())) return;
        c.Write("go");
        WaitFor(read_now);
        char buf[16384];
        int n;
        while ((n = SSL_read(c.ssl(), buf, sizeof buf)) > 0) client_got += size_t(n);
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return plain_.size() == 1; }));
  const int b = plain_[0].get();
  std::string got;
  ASSERT_TRUE(RunUntil([&] { return Drain(b, got) && got == "go"; }));
  // Write until B stays full while the loop keeps running: the relay must stop reading.
  const std::string chunk(64 * 1024, 'z');
  size_t written = 0;
  auto full_since = Clock::now();
  bool full = false;
  ASSERT_TRUE(RunUntil(
      [&] {
        ssize_t n = ::send(b, chunk.data(), chunk.size(), MSG_DONTWAIT);
        if (n > 0) {
          written += static_cast<size_t>(n);
          full = false;
        } else if (!full) {
          full = true;
          full_since = Clock::now();
        }
        return (full && Clock::now() - full_since > milliseconds(300)) || written > (64u << 20);
      },
      milliseconds(20000)));
  // Bounded by socket buffers plus the relay's one read, far below what we tried.
  EXPECT_LT(written, 16u << 20) << "the relay kept reading from a plain side it cannot forward";
  read_now = true;
  ::shutdown(b, SHUT_WR);
  ASSERT_TRUE(RunUntil([&] { return !Drain(b, got); }));
  plain_[0].reset();
  ASSERT_TRUE(RunUntil([&] { return done.load() && terminator_->idle(); }, milliseconds(20000)));
  EXPECT_EQ(client_got, written);  // nothing lost on the way
}

TEST_F(TlsRelayTest, NewCertificateForNewConnectionsOnly) {
  std::atomic<bool> first_done{false};
  std::atomic<bool> go_on{false};
  std::string first_org, first_echo;
  std::jthread first_client = StartClient(
      [&](Client& c) {
        if (!c.Handshake(client_ctx_.get())) return;
        first_org = c.PeerOrganization();
        WaitFor(go_on);
        c.Write("still");
        first_echo = c.Read(5);
      },
      first_done);
  ASSERT_TRUE(RunUntil([&] { return plain_.size() == 1; }));

  std::string error;
  ASSERT_TRUE(certs_.issue_server("server.crt", "server.key", "renewed", error)) << error;
  TlsMaterial renewed;
  ASSERT_TRUE(Material(renewed, error)) << error;
  terminator_->update(encode_tls_material(renewed));

  // A broken one afterwards is refused and the renewed one kept.
  TlsMaterial broken = renewed;
  broken.key_pem = "garbage";
  terminator_->update(broken);
  terminator_->update(std::string_view("not an encoding"));

  std::atomic<bool> second_done{false};
  std::string second_org;
  std::jthread second_client = StartClient(
      [&](Client& c) {
        if (c.Handshake(client_ctx_.get())) second_org = c.PeerOrganization();
      },
      second_done);
  ASSERT_TRUE(RunUntil([&] { return second_done.load(); }));
  EXPECT_EQ(second_org, "renewed");

  go_on = true;  // the first connection still relays on its old session
  std::string got;
  ASSERT_TRUE(RunUntil([&] {
    Drain(plain_[0].get(), got);
    return got == "still";
  }));
  ::send(plain_[0].get(), got.data(), got.size(), 0);
  ASSERT_TRUE(RunUntil([&] { return first_done.load(); }));
  EXPECT_EQ(first_org, "first");
  EXPECT_EQ(first_echo, "still");
}

TEST_F(TlsRelayTest, StopDropsOnlyHandshakingClients) {
  std::atomic<bool> done{false};
  std::atomic<bool> go_on{false};
  std::string echo;
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        if (!c.Handshake(client_ctx_.get())) return;
        WaitFor(go_on);
        c.Write("ok");
        echo = c.Read(2);
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return plain_.size() == 1; }));
  UniqueFd idle_client(Connect());
  ASSERT_TRUE(RunUntil([&] { return terminator_->size() == 2; }));
  terminator_->begin_stop();
  ASSERT_TRUE(RunUntil([&] { return terminator_->size() == 1; }));
  go_on = true;
  std::string got;
  ASSERT_TRUE(RunUntil([&] {
    Drain(plain_[0].get(), got);
    return got == "ok";
  }));
  ::send(plain_[0].get(), "ok", 2, 0);
  ASSERT_TRUE(RunUntil([&] { return done.load(); }));
  EXPECT_EQ(echo, "ok");
  plain_[0].reset();
  ASSERT_TRUE(RunUntil([&] { return terminator_->idle(); }));
}

TEST_F(TlsRelayTest, EstablishedConnectionIsServedDirectlyOnItsTlsSocket) {
  direct_ = true;
  std::atomic<bool> done{false};
  std::string reply;
  bool close_notify = false;
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        if (!c.Handshake(client_ctx_.get())) return;
        c.Write("GET /key HTTP/1.1\r\n\r\n");
        reply = c.Read(5);
        close_notify = c.ReadsCloseNotify();
        c.Write("after");  // reading stays open after our close_notify
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return served_.size() == 1; }));
  EXPECT_EQ(terminator_->size(), 0u) << "nothing of the connection is left in the terminator";
  EXPECT_EQ(terminator_->handshakes(), 1u);
  Transport& t = served_[0];
  EXPECT_TRUE(t.tls());
  std::string got;
  char buf[256];
  ASSERT_TRUE(RunUntil([&] {
    const Transport::Result r = t.read(buf, sizeof buf);
    got.append(buf, r.bytes);
    return got.size() >= 21 || r.status == Transport::Status::kError;
  }));
  EXPECT_EQ(got, "GET /key HTTP/1.1\r\n\r\n");
  const Transport::Result w = t.write("hello", 5);
  EXPECT_EQ(w.bytes, 5u);
  EXPECT_EQ(w.status, Transport::Status::kOk);
  t.shutdown_write();
  got.clear();
  Transport::Status last = Transport::Status::kOk;
  ASSERT_TRUE(RunUntil([&] {
    const Transport::Result r = t.read(buf, sizeof buf);
    got.append(buf, r.bytes);
    last = r.status;
    return last == Transport::Status::kEof || last == Transport::Status::kError;
  }));
  EXPECT_EQ(got, "after");
  EXPECT_EQ(last, Transport::Status::kEof);
  ASSERT_TRUE(RunUntil([&] { return done.load(); }));
  EXPECT_EQ(reply, "hello");
  EXPECT_TRUE(close_notify);
}

TEST_F(TlsRelayTest, RelayOfAnEstablishedConnectionWritesWhatWasUnsentFirst) {
  unsent_ = "queued before the move;";
  std::atomic<bool> done{false};
  std::string reply;
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        if (!c.Handshake(client_ctx_.get())) return;
        reply = c.Read(unsent_.size() + 5);
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return plain_.size() == 1; }));
  ASSERT_EQ(::send(plain_[0].get(), "after", 5, 0), 5);
  ASSERT_TRUE(RunUntil([&] { return done.load(); }));
  EXPECT_EQ(reply, "queued before the move;after");
  EXPECT_EQ(terminator_->descriptors(), 2u);  // the client's socket and end A
  plain_[0].reset();
  ASSERT_TRUE(RunUntil([&] { return terminator_->idle(); }));
}

TEST_F(TlsRelayTest, DirectTlsWriteThatBlocksIsFinishedWithTheSameBytes) {
  direct_ = true;
  const std::string data = pattern(4 << 20, 7);
  std::atomic<bool> done{false};
  std::atomic<bool> read_now{false};
  std::string got;
  std::jthread client_thread = StartClient(
      [&](Client& c) {
        if (!c.Handshake(client_ctx_.get())) return;
        WaitFor(read_now);
        got = c.Read(data.size());
      },
      done);
  ASSERT_TRUE(RunUntil([&] { return served_.size() == 1; }));
  Transport& t = served_[0];
  // The client does not read: the kernel's buffers fill and a record is left half sent.
  size_t sent = 0;
  Transport::Result r;
  ASSERT_TRUE(RunUntil([&] {
    r = t.write(data.data() + sent, data.size() - sent);
    sent += r.bytes;
    return r.status != Transport::Status::kOk || sent == data.size();
  }));
  ASSERT_EQ(r.status, Transport::Status::kWouldBlock);
  EXPECT_TRUE(t.write_blocked());
  EXPECT_LT(sent, data.size());
  read_now = true;
  // The rest, offered again from the same place, as the worker's queue does.
  ASSERT_TRUE(RunUntil(
      [&] {
        r = t.write(data.data() + sent, data.size() - sent);
        sent += r.bytes;
        return r.status == Transport::Status::kError || sent == data.size();
      },
      milliseconds(20000)));
  EXPECT_EQ(sent, data.size());
  EXPECT_FALSE(t.write_blocked());
  ASSERT_TRUE(RunUntil([&] { return done.load(); }, milliseconds(20000)));
  EXPECT_TRUE(got == data) << "the client got " << got.size() << " bytes, not the same";
}

}  // namespace
}  // namespace sigver
