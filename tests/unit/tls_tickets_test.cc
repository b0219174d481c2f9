// Session tickets shared by workers: the master's key ring (rotation on a schedule and on
// HUP keeps the previous key for one lifetime, off forgets every key), the encoding sent to
// workers, and real in-memory handshakes against two server contexts standing for two
// workers with the same keys: a ticket from one resumes on the other, a ticket sealed with
// a key the server does not hold gets a full handshake, off issues no ticket.
#include "core/tls_tickets.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <string>

#include "../integration/support/test_certs.h"
#include "core/tls_context.h"
#include "core/tls_material.h"

namespace sigver {
namespace {

constexpr uint64_t kLifetimeMs = 3600 * 1000;

std::string Names(const TicketKeySet& set) {
  std::string out;
  for (const TicketKey& k : set.keys) out.append(reinterpret_cast<const char*>(k.name.data()), 16);
  return out;
}

TEST(TicketKeyRing, OffHasNoKeysAndNoSchedule) {
  TicketKeyRing ring;
  ring.configure(false, 3600);
  EXPECT_TRUE(ring.rotate(1000));
  EXPECT_TRUE(ring.keys().keys.empty());
  EXPECT_FALSE(ring.keys().enabled);
  EXPECT_EQ(ring.next_rotation_ms(), UINT64_MAX);
}

TEST(TicketKeyRing, ScheduledRotationKeepsThePreviousKeyForOneLifetime) {
  TicketKeyRing ring;
  ring.configure(true, 3600);
  ASSERT_TRUE(ring.rotate(1000));
  ASSERT_EQ(ring.keys().keys.size(), 1u);
  const std::string first = Names(ring.keys());
  EXPECT_EQ(ring.next_rotation_ms(), 1000 + kLifetimeMs);
  EXPECT_FALSE(ring.due(1000 + kLifetimeMs - 1));
  EXPECT_TRUE(ring.due(1000 + kLifetimeMs));

  ASSERT_TRUE(ring.rotate(1000 + kLifetimeMs));
  ASSERT_EQ(ring.keys().keys.size(), 2u);
  // The new key seals (first); the old one still opens what it sealed.
  EXPECT_NE(Names(ring.keys()).substr(0, 16), first);
  EXPECT_EQ(Names(ring.keys()).substr(16), first);

  // One lifetime after it retired, the first key is forgotten.
  const std::string second = Names(ring.keys()).substr(0, 16);
  ASSERT_TRUE(ring.rotate(1000 + 2 * kLifetimeMs));
  ASSERT_EQ(ring.keys().keys.size(), 2u);
  EXPECT_EQ(Names(ring.keys()).substr(16), second);
  EXPECT_EQ(Names(ring.keys()).find(first), std::string::npos);
}

TEST(TicketKeyRing, HupRotatesAndKeepsTheOldKeysUpToTheCap) {
  TicketKeyRing ring;
  ring.configure(true, 3600);
  ASSERT_TRUE(ring.rotate(1000));
  const std::string first = Names(ring.keys());
  // A HUP a minute later: a new sealing key, and the schedule starts again from it.
  ASSERT_TRUE(ring.rotate(61'000));
  ASSERT_EQ(ring.keys().keys.size(), 2u);
  EXPECT_EQ(Names(ring.keys()).substr(16), first);
  EXPECT_EQ(ring.next_rotation_ms(), 61'000 + kLifetimeMs);
  // Many HUPs within one lifetime: at most kMaxKeys, newest first, the oldest dropped.
  for (uint64_t t = 62'000; t < 70'000; t += 1000) ASSERT_TRUE(ring.rotate(t));
  EXPECT_EQ(ring.keys().keys.size(), TicketKeyRing::kMaxKeys);
  EXPECT_EQ(Names(ring.keys()).find(first), std::string::npos);
}

TEST(TicketKeyRing, TurningOffForgetsEveryKey) {
  TicketKeyRing ring;
  ring.configure(true, 60);
  ASSERT_TRUE(ring.rotate(1000));
  ASSERT_TRUE(ring.rotate(2000));
  ring.configure(false, 60);
  EXPECT_TRUE(ring.keys().keys.empty());
  EXPECT_EQ(ring.next_rotation_ms(), UINT64_MAX);
  // On again: a fresh key, nothing from before.
  ring.configure(true, 60);
  ASSERT_TRUE(ring.rotate(3000));
  EXPECT_EQ(ring.keys().keys.size(), 1u);
}

TEST(TicketKeys, EncodingRoundTripsAndRejectsDamage) {
  TicketKeyRing ring;
  ring.configure(true, 1234);
  ASSERT_TRUE(ring.rotate(1));
  ASSERT_TRUE(ring.rotate(2));
  const std::string bytes = encode_ticket_keys(ring.keys());
  TicketKeySet back;
  ASSERT_TRUE(decode_ticket_keys(bytes, back));
  EXPECT_TRUE(back.enabled);
  EXPECT_EQ(back.lifetime_s, 1234u);
  EXPECT_EQ(Names(back), Names(ring.keys()));
  EXPECT_EQ(back.keys[1].aes, ring.keys().keys[1].aes);
  EXPECT_EQ(back.keys[1].hmac, ring.keys().keys[1].hmac);
  EXPECT_FALSE(decode_ticket_keys(bytes.substr(0, bytes.size() - 1), back));
  EXPECT_FALSE(decode_ticket_keys(bytes + "x", back));
  EXPECT_FALSE(decode_ticket_keys("", back));
  std::string bad_flag = bytes;
  bad_flag[0] = 7;
  EXPECT_FALSE(decode_ticket_keys(bad_flag, back));
}

// ---- handshakes in memory ----

struct SessionFree {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionFree>;

class TicketHandshakeTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(certs_.create(error)) << error;
    Config config;
    config.tls_certificate = certs_.server_cert();
    config.tls_certificate_key = certs_.server_key();
    ASSERT_TRUE(read_tls_material(config, material_, error)) << error;
    ring_.configure(true, 3600);
    ASSERT_TRUE(ring_.rotate(1000));
    client_ctx_.reset(SSL_CTX_new(TLS_client_method()));
    ASSERT_TRUE(client_ctx_);
    SSL_CTX_set_min_proto_version(client_ctx_.get(), GetParam());
    SSL_CTX_set_max_proto_version(client_ctx_.get(), GetParam());
  }

  // A server context ("a worker") with `table`'s keys.
  SslCtxPtr Server(TicketKeyTable& table) {
    std::string error;
    SslCtxPtr ctx = create_tls_context(material_, error);
    EXPECT_TRUE(ctx) << error;
    if (ctx) table.apply(ctx.get());
    return ctx;
  }

  // One connection: handshake, one byte each way (which brings TLS 1.3 tickets), and the
  // session the client kept. `offered`: a session to resume. `resumed` says if it was.
  SessionPtr Connect(SSL_CTX* server_ctx, SSL_SESSION* offered, bool& resumed) {
    SslPtr client(SSL_new(client_ctx_.get()));
    SslPtr server(SSL_new(server_ctx));
    BIO* client_bio = nullptr;
    BIO* server_bio = nullptr;
    EXPECT_EQ(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0), 1);
    SSL_set_bio(client.get(), client_bio, client_bio);
    SSL_set_bio(server.get(), server_bio, server_bio);
    SSL_set_connect_state(client.get());
    SSL_set_accept_state(server.get());
    if (offered) SSL_set_session(client.get(), offered);
    bool client_done = false, server_done = false;
    for (int i = 0; i < 100 && !(client_done && server_done); ++i) {
      if (!client_done) {
        const int rc = SSL_do_handshake(client.get());
        client_done = rc == 1;
        if (rc <= 0) {
          EXPECT_EQ(SSL_get_error(client.get(), rc), SSL_ERROR_WANT_READ);
        }
      }
      if (!server_done) {
        const int rc = SSL_do_handshake(server.get());
        server_done = rc == 1;
        if (rc <= 0) {
          EXPECT_EQ(SSL_get_error(server.get(), rc), SSL_ERROR_WANT_READ);
        }
      }
    }
    EXPECT_TRUE(client_done && server_done) << take_openssl_error();
    char byte = 'x';
    EXPECT_EQ(SSL_write(server.get(), &byte, 1), 1);
    EXPECT_EQ(SSL_read(client.get(), &byte, 1), 1);
    resumed = SSL_session_reused(server.get()) == 1;
    EXPECT_EQ(resumed, SSL_session_reused(client.get()) == 1);
    SessionPtr session(SSL_get1_session(client.get()));
    // A client SSL freed without close_notify marks its session as not resumable.
    SSL_shutdown(client.get());
    SSL_shutdown(server.get());
    return session;
  }

  // A full handshake on `ctx` and the ticket it gave.
  SessionPtr FirstTicket(SSL_CTX* ctx) {
    bool resumed = true;
    SessionPtr session = Connect(ctx, nullptr, resumed);
    EXPECT_FALSE(resumed);
    EXPECT_TRUE(session && SSL_SESSION_has_ticket(session.get()));
    return session;
  }

  testcerts::TestCerts certs_;
  TlsMaterial material_;
  TicketKeyRing ring_;
  SslCtxPtr client_ctx_;
};

TEST_P(TicketHandshakeTest, TicketFromOneWorkerResumesOnAnother) {
  TicketKeyTable worker0, worker1;
  worker0.install(ring_.keys());
  worker1.install(ring_.keys());
  SslCtxPtr a = Server(worker0);
  SslCtxPtr b = Server(worker1);
  bool resumed = true;
  SessionPtr session = Connect(a.get(), nullptr, resumed);
  EXPECT_FALSE(resumed);
  ASSERT_TRUE(session);
  ASSERT_TRUE(SSL_SESSION_has_ticket(session.get()));
  EXPECT_EQ(SSL_SESSION_get_ticket_lifetime_hint(session.get()), 3600u);
  SessionPtr next = Connect(b.get(), session.get(), resumed);
  EXPECT_TRUE(resumed);
  // The resumed handshake hands out a ticket of its own, which resumes back on the first.
  ASSERT_TRUE(next && SSL_SESSION_has_ticket(next.get()));
  Connect(a.get(), next.get(), resumed);
  EXPECT_TRUE(resumed);
}

TEST_P(TicketHandshakeTest, RotationKeepsOldTicketsResuming) {
  TicketKeyTable worker;
  worker.install(ring_.keys());
  SslCtxPtr ctx = Server(worker);
  SessionPtr old_ticket = FirstTicket(ctx.get());
  ASSERT_TRUE(old_ticket);
  bool resumed = false;
  // A HUP: the master rotates and the worker installs the new set on its live context.
  ASSERT_TRUE(ring_.rotate(2000));
  worker.install(ring_.keys());
  worker.apply(ctx.get());
  SessionPtr renewed = Connect(ctx.get(), old_ticket.get(), resumed);
  EXPECT_TRUE(resumed);
  // Another rotation one lifetime later forgets the first key: its ticket gets a full
  // handshake (which still succeeds), while the renewed ticket resumes.
  ASSERT_TRUE(ring_.rotate(2000 + kLifetimeMs));
  worker.install(ring_.keys());
  Connect(ctx.get(), old_ticket.get(), resumed);
  EXPECT_FALSE(resumed);
  ASSERT_TRUE(renewed && SSL_SESSION_has_ticket(renewed.get()));
  Connect(ctx.get(), renewed.get(), resumed);
  EXPECT_TRUE(resumed);
}

TEST_P(TicketHandshakeTest, UnknownKeyNameGetsAFullHandshake) {
  TicketKeyRing other_master;
  other_master.configure(true, 3600);
  ASSERT_TRUE(other_master.rotate(1000));
  TicketKeyTable ours, theirs;
  ours.install(ring_.keys());
  theirs.install(other_master.keys());
  SslCtxPtr a = Server(ours);
  SslCtxPtr b = Server(theirs);
  SessionPtr session = FirstTicket(a.get());
  ASSERT_TRUE(session);
  bool resumed = true;
  Connect(b.get(), session.get(), resumed);
  EXPECT_FALSE(resumed);
}

TEST_P(TicketHandshakeTest, OffIssuesNoTicket) {
  TicketKeyTable worker;
  worker.install(ring_.keys());
  SslCtxPtr ctx = Server(worker);
  SessionPtr session = FirstTicket(ctx.get());
  ASSERT_TRUE(session);
  ring_.configure(false, 3600);
  bool resumed = true;
  worker.install(ring_.keys());
  worker.apply(ctx.get());
  SessionPtr none = Connect(ctx.get(), nullptr, resumed);
  EXPECT_FALSE(none && SSL_SESSION_has_ticket(none.get()));
  // And a ticket from before is not honoured: no key opens it any more.
  Connect(ctx.get(), session.get(), resumed);
  EXPECT_FALSE(resumed);
}

INSTANTIATE_TEST_SUITE_P(Versions, TicketHandshakeTest,
                         ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION),
                         [](const ::testing::TestParamInfo<int>& version) {
                           return version.param == TLS1_3_VERSION ? "TLSv13" : "TLSv12";
                         });

}  // namespace
}  // namespace sigver
