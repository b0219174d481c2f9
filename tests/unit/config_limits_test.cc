// The [limits] section and allowed_origins: defaults, accepted forms, and errors that name
// the line and the setting.
#include <gtest/gtest.h>

#include <string>

#include "core/config.h"

namespace sigver {
namespace {

bool load(const std::string& text, Config& config, std::string& error) {
  return load_config_string(text, "test.conf", config, error);
}

TEST(ConfigLimits, Defaults) {
  Config c;
  EXPECT_EQ(c.max_outbound_total, 256u << 20);
  EXPECT_EQ(c.max_inbound_total, 256u << 20);
  EXPECT_EQ(c.max_connections, 0u) << "auto";
  EXPECT_EQ(c.max_connections_per_ip, 256u);
  EXPECT_EQ(c.max_peers_per_key, 1024u);
  EXPECT_GT(c.max_messages_per_second, 0);
  EXPECT_TRUE(c.allowed_origins.empty());
}

TEST(ConfigLimits, EverySettingLoads) {
  Config c;
  std::string error;
  ASSERT_TRUE(
      load("[limits]\nmax_outbound_total = 64m\nmax_inbound_total = 2g\n"
           "max_connections = 5000\nmax_connections_per_ip = 0\n"
           "max_pending_handshakes = 10\nmax_peers_per_key = 3\n"
           "max_messages_per_second = 2.5\nmessages_burst = 7\n"
           "[server]\nallowed_origins = https://Example.org, *.example.net "
           "http://[::1]:8080\n",
           c, error))
      << error;
  EXPECT_EQ(c.max_outbound_total, 64u << 20);
  EXPECT_EQ(c.max_inbound_total, 2ull << 30);
  EXPECT_EQ(c.max_connections, 5000u);
  EXPECT_EQ(c.max_connections_per_ip, 0u);
  EXPECT_EQ(c.max_pending_handshakes, 10u);
  EXPECT_EQ(c.max_peers_per_key, 3u);
  EXPECT_DOUBLE_EQ(c.max_messages_per_second, 2.5);
  EXPECT_EQ(c.messages_burst, 7u);
  ASSERT_EQ(c.allowed_origins.size(), 3u);
  EXPECT_EQ(c.allowed_origins[0], "https://example.org") << "kept in lower case";
  EXPECT_EQ(c.allowed_origins[1], "*.example.net");
  EXPECT_EQ(c.allowed_origins[2], "http://[::1]:8080");
  ASSERT_TRUE(load("[limits]\nmax_connections = auto\n[server]\nallowed_origins =\n", c, error));
  EXPECT_EQ(c.max_connections, 0u);
  EXPECT_TRUE(c.allowed_origins.empty());
}

TEST(ConfigLimits, BadValuesNameTheLineAndSetting) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const Case cases[] = {
      {"[limits]\n\nmax_outbound_total = 10k\n",
       "test.conf:3: invalid value \"10k\" for "
       "\"max_outbound_total\" in [limits]"},
      {"[limits]\nmax_connections = lots\n", "test.conf:2: invalid value \"lots\""},
      {"[limits]\nmax_connections_per_ip = -1\n", "\"max_connections_per_ip\" in [limits]"},
      {"[limits]\nmax_peers_per_key = 0\n", "expected a number from 1"},
      {"[limits]\nmax_messages_per_second = fast\n", "\"max_messages_per_second\" in [limits]"},
      {"[limits]\nmessages_burst = 0\n", "\"messages_burst\" in [limits]"},
      {"[server]\nallowed_origins = example.org\n", "is not an origin"},
      {"[server]\nallowed_origins = https://example.org/\n", "is not an origin"},
      {"[server]\nallowed_origins = https://*.\n", "is not an origin"},
      {"[server]\nallowed_origins = https://a.b:99999\n", "is not an origin"},
      {"[limits]\nmax_sockets = 3\n", "unknown setting \"max_sockets\" in [limits]"},
  };
  for (const Case& c : cases) {
    Config config;
    std::string error;
    EXPECT_FALSE(load(c.text, config, error)) << c.text;
    EXPECT_NE(error.find(c.expected), std::string::npos) << c.text << " -> " << error;
  }
}

}  // namespace
}  // namespace sigver
