// The byte forms two masters exchange on a binary upgrade (core/handover.h): what one
// writes the other reads back, anything else is refused, and another version is recognised
// without being parsed further.
#include "core/handover.h"

#include <gtest/gtest.h>

#include <cstring>

namespace sigver {
namespace {

HandoverEnv sample_env() {
  HandoverEnv env;
  env.version = kHandoverVersion;
  env.control = 9;
  env.listeners = {3, 4, 5, 6};
  env.tls_listeners = {7};
  env.status = -1;
  env.old_queues = {10, 11, 12, 13, 14};
  env.old_count = 4;
  env.listen = "[::1]:8000";
  env.listen_tls = "127.0.0.1:8443";
  env.status_listen = "";
  return env;
}

TEST(HandoverEnv, RoundTrips) {
  const HandoverEnv env = sample_env();
  const std::optional<HandoverEnv> back = decode_handover_env(encode_handover_env(env));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->version, kHandoverVersion);
  EXPECT_EQ(back->control, 9);
  EXPECT_EQ(back->listeners, env.listeners);
  EXPECT_EQ(back->tls_listeners, env.tls_listeners);
  EXPECT_EQ(back->status, -1);
  EXPECT_EQ(back->old_queues, env.old_queues);
  EXPECT_EQ(back->old_count, 4);
  EXPECT_EQ(back->listen, "[::1]:8000");
  EXPECT_EQ(back->listen_tls, "127.0.0.1:8443");
  EXPECT_EQ(back->status_listen, "");
}

TEST(HandoverEnv, EmptyListsRoundTrip) {
  HandoverEnv env = sample_env();
  env.tls_listeners.clear();
  env.status = 8;
  env.status_listen = "127.0.0.1:9000";
  const std::optional<HandoverEnv> back = decode_handover_env(encode_handover_env(env));
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->tls_listeners.empty());
  EXPECT_EQ(back->status, 8);
  EXPECT_EQ(back->status_listen, "127.0.0.1:9000");
}

// What every version sends is enough for a new master of another version to take the
// listeners over (and drain); what only our version knows is left alone.
TEST(HandoverEnv, AnotherVersionGivesTheFieldsEveryVersionSends) {
  const std::string text = std::to_string(kHandoverVersion + 1) +
                           ";moves=v2;control=9;plain=3,4;tls=;status=-1;listen=127.0.0.1:8000;"
                           "listen_tls=;status_listen=;queues=10,11;count=whatever";
  const std::optional<HandoverEnv> back = decode_handover_env(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->version, kHandoverVersion + 1);
  EXPECT_FALSE(back->same_version());
  EXPECT_EQ(back->control, 9);
  EXPECT_EQ(back->listeners, (std::vector<int>{3, 4}));
  EXPECT_TRUE(back->tls_listeners.empty());
  EXPECT_EQ(back->listen, "127.0.0.1:8000");
  EXPECT_EQ(back->old_queues, (std::vector<int>{10, 11}));  // to be closed
  EXPECT_EQ(back->old_count, 0);

  // Another version need not send queues or count, nor in our form.
  const std::string bare = std::to_string(kHandoverVersion + 1) +
                           ";control=9;plain=3;tls=;status=-1;listen=:8000;listen_tls=;"
                           "status_listen=;queues=one,two";
  const std::optional<HandoverEnv> other = decode_handover_env(bare);
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->old_queues.empty());

  // ... but what every version sends, it must.
  EXPECT_FALSE(decode_handover_env(std::to_string(kHandoverVersion + 1) + ";whatever=comes"));
  EXPECT_FALSE(decode_handover_env(std::to_string(kHandoverVersion + 1) +
                                   ";control=9;plain=3;tls=;status=-1;listen=:8000"));
}

TEST(HandoverEnv, FieldsOurVersionDoesNotKnowAreIgnored) {
  const std::optional<HandoverEnv> back =
      decode_handover_env(encode_handover_env(sample_env()) + ";later=1");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->old_count, 4);
}

TEST(HandoverEnv, RefusesMalformedText) {
  const std::string good = encode_handover_env(sample_env());
  for (const std::string& bad : {
           std::string(""),
           std::string("x;control=1"),
           std::to_string(kHandoverVersion),
           good.substr(0, good.size() / 2),
           good + ";plain=8",  // a field twice
           good + ";noequals",
           // our version without the fields only it sends
           good.substr(0, good.find(";queues=")) + good.substr(good.find(";listen=")),
           // a field missing, renamed, or with a bad number
           std::to_string(kHandoverVersion) + ";plain=3",
           [&] {
             std::string s = good;
             s.replace(s.find("control="), 8, "kontrol=");
             return s;
           }(),
           [&] {
             std::string s = good;
             s.replace(s.find("plain=3"), 7, "plain=x");
             return s;
           }(),
           [&] {
             std::string s = good;
             s.replace(s.find("plain=3"), 7, "plain=3,");
             return s;
           }(),
           [&] {
             std::string s = good;
             s.replace(s.find("count=4"), 7, "count=9");
             return s;
           }(),
           [&] {
             std::string s = good;
             s.replace(s.find("count=4"), 7, "count=0");
             return s;
           }(),
           [&] {
             std::string s = good;
             s.replace(s.find("control=9"), 9, "control=-1");
             return s;
           }(),
       }) {
    EXPECT_FALSE(decode_handover_env(bad)) << bad;
  }
}

TEST(HandoverHello, RoundTripsAndKnowsOtherVersions) {
  HandoverHello hello;
  hello.version = kHandoverVersion;
  hello.workers = 4;
  const std::optional<HandoverHello> back = decode_hello(encode_hello(hello));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->version, kHandoverVersion);
  EXPECT_EQ(back->workers, 4u);

  // A later version may say more after the fixed part: only its version is read.
  std::string later = encode_hello(hello);
  const uint32_t next = kHandoverVersion + 1;
  std::memcpy(later.data() + 4, &next, sizeof next);
  later += "more fields";
  const std::optional<HandoverHello> other = decode_hello(later);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->version, next);
}

TEST(HandoverHello, RefusesWhatIsNotAHello) {
  HandoverHello hello;
  hello.version = kHandoverVersion;
  hello.workers = 2;
  const std::string good = encode_hello(hello);
  EXPECT_FALSE(decode_hello(""));
  EXPECT_FALSE(decode_hello(good.substr(0, 7)));
  EXPECT_FALSE(decode_hello(good + "x"));  // our version has no more fields
  std::string magic = good;
  magic[0] ^= 1;
  EXPECT_FALSE(decode_hello(magic));
  hello.workers = 0;
  EXPECT_FALSE(decode_hello(encode_hello(hello)));
}

TEST(HandoverUpgrade, CarriesTheNewCount) {
  EXPECT_EQ(decode_upgrade(encode_upgrade(3)), 3u);
  EXPECT_FALSE(decode_upgrade(encode_upgrade(0)));
  EXPECT_FALSE(decode_upgrade(encode_upgrade(3).substr(1)));
  std::string other = encode_upgrade(3);
  other[0] ^= 0x40;  // another version's
  EXPECT_FALSE(decode_upgrade(other));
}

}  // namespace
}  // namespace sigver
