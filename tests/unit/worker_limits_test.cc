// The limits' logic without sockets: burst logging, the message rate, the derived connection
// limit, origins, per-address counts, buffer accounting and the frame walk that lets a queue
// be cut at a frame boundary.
#include "worker/worker_limits.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/client_counts.h"
#include "worker/limits.h"
#include "ws/frame.h"
#include "ws/origin.h"

namespace sigver {
namespace {

TEST(LimitLog, CountsEveryHitAndSummarisesABurst) {
  LimitLog log;
  EXPECT_EQ(log.next_deadline_ms(), UINT64_MAX);
  log.hit(Limit::kConnectionsPerIp, 1000, "first");  // logged at once
  EXPECT_EQ(log.next_deadline_ms(), UINT64_MAX) << "nothing left to say";
  for (int i = 0; i < 99; ++i) log.hit(Limit::kConnectionsPerIp, 1000 + i, "more");
  EXPECT_EQ(log.total(Limit::kConnectionsPerIp), 100u);
  EXPECT_EQ(log.next_deadline_ms(), 1000 + LimitLog::kPeriodMs) << "one summary, a period later";
  log.tick(5000);
  EXPECT_EQ(log.next_deadline_ms(), 1000 + LimitLog::kPeriodMs) << "not due yet";
  log.tick(1000 + LimitLog::kPeriodMs);
  EXPECT_EQ(log.next_deadline_ms(), UINT64_MAX) << "summary written";
  EXPECT_EQ(log.total(Limit::kOrigin), 0u) << "limits are counted apart";
}

TEST(LimitLog, AQuietPeriodStartsANewBurst) {
  LimitLog log;
  log.hit(Limit::kMessageRate, 1, "a");
  log.hit(Limit::kMessageRate, 1 + LimitLog::kPeriodMs, "b");  // a period later: logged at once
  EXPECT_EQ(log.next_deadline_ms(), UINT64_MAX);
  EXPECT_EQ(log.total(Limit::kMessageRate), 2u);
}

TEST(LimitNames, AreTheSettingNames) {
  EXPECT_STREQ(limit_name(Limit::kOutboundTotal), "max_outbound_total");
  EXPECT_STREQ(limit_name(Limit::kConnectionsPerIp), "max_connections_per_ip");
  EXPECT_STREQ(limit_name(Limit::kOrigin), "allowed_origins");
}

TEST(MessageRate, AllowsTheBurstThenTheRate) {
  MessageRate rate;
  rate.configure(10, 5);  // 10 per second, 5 more at once
  uint64_t due = 0;
  uint64_t now = 1'000'000'000;
  int allowed = 0;
  while (rate.allow(due, now)) ++allowed;
  EXPECT_EQ(allowed, 6) << "the burst, and the one the rate allows now";
  EXPECT_FALSE(rate.allow(due, now + 50'000)) << "half an interval later";
  EXPECT_TRUE(rate.allow(due, now + 100'000)) << "one interval later";
  // A peer that keeps to the rate is never refused.
  now += 10'000'000;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(rate.allow(due, now + i * 100'000)) << i;
}

TEST(MessageRate, ZeroIsOff) {
  MessageRate rate;
  rate.configure(0, 1);
  EXPECT_FALSE(rate.enabled());
  uint64_t due = 0;
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(rate.allow(due, 5));
}

TEST(DerivedMaxConnections, LeavesRoomForHandoffsAndTls) {
  // With TLS too: a wss peer served by its key's worker holds one descriptor, and a relay
  // counts twice in held_connections.
  EXPECT_EQ(derived_max_connections(20000), 20000 - 64 - 20000 / 16);
  EXPECT_EQ(derived_max_connections(1024), 1024 - 64 - 64);
  EXPECT_EQ(derived_max_connections(50), 16u) << "a tiny limit still serves a few";
}

TEST(Origins, EmptyListAllowsAny) { EXPECT_TRUE(ws::origin_allowed("https://x.y", {})); }

TEST(Origins, ExactOriginsCompareWholeAndIgnoreCase) {
  const std::vector<std::string> allowed{"https://example.org", "http://localhost:8080"};
  EXPECT_TRUE(ws::origin_allowed("https://example.org", allowed));
  EXPECT_TRUE(ws::origin_allowed("HTTPS://Example.ORG", allowed));
  EXPECT_TRUE(ws::origin_allowed("http://localhost:8080", allowed));
  EXPECT_FALSE(ws::origin_allowed("http://example.org", allowed)) << "other scheme";
  EXPECT_FALSE(ws::origin_allowed("https://example.org:8443", allowed)) << "other port";
  EXPECT_FALSE(ws::origin_allowed("http://localhost", allowed));
  EXPECT_FALSE(ws::origin_allowed("https://example.org.evil.net", allowed));
  EXPECT_FALSE(ws::origin_allowed("null", allowed));
  EXPECT_FALSE(ws::origin_allowed("", allowed));
}

TEST(Origins, WildcardsMatchSubdomainsOnly) {
  const std::vector<std::string> any_scheme{"*.example.org"};
  EXPECT_TRUE(ws::origin_allowed("https://app.example.org", any_scheme));
  EXPECT_TRUE(ws::origin_allowed("http://a.b.example.org", any_scheme));
  EXPECT_FALSE(ws::origin_allowed("https://example.org", any_scheme)) << "not the domain itself";
  EXPECT_FALSE(ws::origin_allowed("https://badexample.org", any_scheme));
  EXPECT_FALSE(ws::origin_allowed("https://app.example.org:444", any_scheme)) << "port";
  EXPECT_FALSE(ws::origin_allowed("https://app.example.org.evil.net", any_scheme));
  const std::vector<std::string> https_only{"https://*.example.org", "https://*.example.net:8443"};
  EXPECT_TRUE(ws::origin_allowed("https://app.example.org", https_only));
  EXPECT_FALSE(ws::origin_allowed("http://app.example.org", https_only));
  EXPECT_TRUE(ws::origin_allowed("https://x.example.net:8443", https_only));
  EXPECT_FALSE(ws::origin_allowed("https://x.example.net", https_only));
}

sockaddr_in v4(const char* text) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, text, &a.sin_addr);
  return a;
}

sockaddr_in6 v6(const char* text) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  inet_pton(AF_INET6, text, &a.sin6_addr);
  return a;
}

const sockaddr* as_sockaddr(const void* p) { return static_cast<const sockaddr*>(p); }

TEST(ClientCounts, CountsAcrossWorkersAndClearsAWorker) {
  ClientCounts counts;
  ASSERT_TRUE(counts.ok());
  counts.note_worker(0);
  counts.note_worker(3);
  const sockaddr_in a = v4("192.0.2.1");
  const sockaddr_in b = v4("192.0.2.2");
  const auto ta = counts.ticket(as_sockaddr(&a));
  const auto tb = counts.ticket(as_sockaddr(&b));
  ASSERT_NE(ta, ClientCounts::kNotCounted);
  counts.add(0, ta);
  counts.add(3, ta);
  counts.add(3, ta);
  counts.add(0, tb);
  EXPECT_EQ(counts.count(ta), 3u);
  EXPECT_EQ(counts.count(tb), 1u);
  counts.remove(3, ta);
  EXPECT_EQ(counts.count(ta), 2u);
  counts.clear(3);  // worker 3 died: its connections are gone
  EXPECT_EQ(counts.count(ta), 1u);
  counts.remove(3, ta);  // a late release after the clear never goes below zero
  EXPECT_EQ(counts.count(ta), 1u);
  counts.remove(0, ta);
  EXPECT_EQ(counts.count(ta), 0u);
}

TEST(ClientCounts, Ipv6CountsPer64AndMappedIpv4IsIpv4) {
  ClientCounts counts;
  counts.note_worker(0);
  const sockaddr_in6 one = v6("2001:db8:1:2::1");
  const sockaddr_in6 same_64 = v6("2001:db8:1:2:ffff::9");
  const sockaddr_in6 other_64 = v6("2001:db8:1:3::1");
  EXPECT_EQ(counts.ticket(as_sockaddr(&one)), counts.ticket(as_sockaddr(&same_64)));
  EXPECT_NE(counts.ticket(as_sockaddr(&one)), counts.ticket(as_sockaddr(&other_64)));
  const sockaddr_in plain = v4("198.51.100.7");
  const sockaddr_in6 mapped = v6("::ffff:198.51.100.7");
  EXPECT_EQ(counts.ticket(as_sockaddr(&plain)), counts.ticket(as_sockaddr(&mapped)));
  sockaddr_un local{};
  local.sun_family = AF_UNIX;
  EXPECT_EQ(counts.ticket(as_sockaddr(&local)), ClientCounts::kNotCounted)
      << "the plain end of a TLS relay is not a client address";
  EXPECT_EQ(counts.count(ClientCounts::kNotCounted), 0u);
}

TEST(ClientCounts, ManyOtherAddressesDoNotCrowdOneOut) {
  // A count is over the truth only if both buckets of an address are crowded: 20,000 other
  // addresses with 2 connections each leave one address's count exact or nearly.
  ClientCounts counts;
  counts.note_worker(0);
  for (uint32_t i = 0; i < 20000; ++i) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x0a000000 + i);
    const auto t = counts.ticket(as_sockaddr(&a));
    counts.add(0, t);
    counts.add(0, t);
  }
  const sockaddr_in mine = v4("203.0.113.5");
  const auto t = counts.ticket(as_sockaddr(&mine));
  counts.add(0, t);
  EXPECT_LT(counts.count(t), 1u + 40) << "far below any sensible max_connections_per_ip";
}

TEST(BufferAccount, TracksCapacityThroughGrowthMovesAndRelease) {
  const auto out = Buffer::Account::kOutbound;
  const size_t before = Buffer::total(out);
  {
    Buffer b(out);
    b.append(std::string(1000, 'x'));
    EXPECT_EQ(Buffer::total(out), before + b.capacity());
    b.append(std::string(5000, 'y'));
    EXPECT_EQ(Buffer::total(out), before + b.capacity());
    Buffer moved(std::move(b));
    EXPECT_EQ(Buffer::total(out), before + moved.capacity());
    EXPECT_EQ(b.capacity(), 0u);
    moved.truncate(10);
    EXPECT_EQ(moved.capacity(), 10u);
    EXPECT_EQ(moved.view(), std::string(10, 'x'));
    EXPECT_EQ(Buffer::total(out), before + 10);
    Buffer other(out);
    other.append("abc");
    other = std::move(moved);
    EXPECT_EQ(Buffer::total(out), before + 10);
    other.consume(10);  // empty: memory released
    EXPECT_EQ(Buffer::total(out), before);
    Buffer dying(out);
    dying.append("z");
  }
  EXPECT_EQ(Buffer::total(out), before) << "destroyed buffers give their memory back";
}

TEST(ServerFrameSize, ReadsEveryLengthForm) {
  for (size_t size : {0u, 1u, 125u, 126u, 65535u, 65536u, 1u << 20}) {
    Buffer b;
    std::string payload(size, 'p');
    ws::append_frame(b, ws::Opcode::kBinary, payload.data(), payload.size());
    EXPECT_EQ(ws::server_frame_size(b.data()), b.size()) << size;
  }
}

}  // namespace
}  // namespace sigver
