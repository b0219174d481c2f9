#include "core/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace sigver {
namespace {

// The repository root, found from this file's path (tests/unit/config_test.cc).
std::filesystem::path repo_root() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

struct Loaded {
  bool ok;
  Config config;
  std::string error;
};

Loaded load(const std::string& text) {
  Loaded r{false, Config{}, ""};
  r.ok = load_config_string(text, "test.conf", r.config, r.error);
  return r;
}

void expect_defaults(const Config& c) {
  Config d;
  EXPECT_EQ(c.listen.host, "0.0.0.0");
  EXPECT_EQ(c.listen.port, 8000);
  EXPECT_EQ(c.listen.host, d.listen.host);
  EXPECT_FALSE(c.listen_tls.has_value());
  EXPECT_EQ(c.worker_processes, 1);
  EXPECT_EQ(c.pid, "");
  EXPECT_EQ(c.user, "");
  EXPECT_EQ(c.group, "");
  EXPECT_FALSE(c.daemon);
  EXPECT_DOUBLE_EQ(c.heartbeat_interval, 5.0);
  EXPECT_EQ(c.heartbeat_misses, 3);
  EXPECT_EQ(c.max_key_length, 512u);
  EXPECT_EQ(c.max_message_size, 1u << 20);
  EXPECT_DOUBLE_EQ(c.handshake_timeout, 10.0);
  EXPECT_EQ(c.max_outbound, 4u << 20);
  EXPECT_EQ(c.max_header_size, 8192u);
  EXPECT_DOUBLE_EQ(c.close_timeout, 2.0);
  EXPECT_EQ(c.tls_certificate, "");
  EXPECT_EQ(c.tls_certificate_key, "");
  EXPECT_EQ(c.tls_ca, "");
  EXPECT_EQ(c.error_log, "stderr");
  EXPECT_EQ(c.log_level, "info");
}

TEST(Config, BuiltInDefaults) {
  Config c;
  expect_defaults(c);
  EXPECT_EQ(c.source, "");
  std::string error;
  EXPECT_TRUE(validate_config(c, error)) << error;
}

TEST(Config, ShippedConfigFileLoadsToTheDefaults) {
  std::string path = (repo_root() / "conf" / "sigver.conf").string();
  Config c;
  std::string error;
  ASSERT_TRUE(load_config_file(path, c, error)) << error;
  expect_defaults(c);
  EXPECT_EQ(c.source, path);
  EXPECT_TRUE(validate_config(c, error)) << error;
}

TEST(Config, EmptyTextKeepsDefaults) {
  Loaded r = load("; nothing here\n# nor here\n\n");
  ASSERT_TRUE(r.ok) << r.error;
  expect_defaults(r.config);
  EXPECT_EQ(r.config.source, "test.conf");
}

TEST(Config, EverySettingIsParsed) {
  Loaded r = load(
      "[server]\n"
      "listen = 127.0.0.1:9000\n"
      "listen_tls = [::1]:9443\n"
      "worker_processes = 4\n"
      "pid = /tmp/sigverd.pid\n"
      "user = nobody\n"
      "group = nogroup\n"
      "daemon = on\n"
      "[protocol]\n"
      "heartbeat_interval = 0.25\n"
      "heartbeat_misses = 7\n"
      "max_key_length = 100\n"
      "max_message_size = 64K\n"
      "handshake_timeout = 1.5\n"
      "max_outbound = 2m\n"
      "max_header_size = 16k\n"
      "close_timeout = 0.5\n"
      "[tls]\n"
      "certificate = /etc/cert.pem\n"
      "certificate_key = /etc/key.pem\n"
      "ca = /etc/ca.pem\n"
      "[log]\n"
      "error_log = /var/log/sigverd.log\n"
      "log_level = debug\n");
  ASSERT_TRUE(r.ok) << r.error;
  const Config& c = r.config;
  EXPECT_EQ(c.listen.host, "127.0.0.1");
  EXPECT_EQ(c.listen.port, 9000);
  ASSERT_TRUE(c.listen_tls.has_value());
  EXPECT_EQ(c.listen_tls->host, "::1");
  EXPECT_EQ(c.listen_tls->port, 9443);
  EXPECT_EQ(c.worker_processes, 4);
  EXPECT_EQ(c.pid, "/tmp/sigverd.pid");
  EXPECT_EQ(c.user, "nobody");
  EXPECT_EQ(c.group, "nogroup");
  EXPECT_TRUE(c.daemon);
  EXPECT_DOUBLE_EQ(c.heartbeat_interval, 0.25);
  EXPECT_EQ(c.heartbeat_misses, 7);
  EXPECT_EQ(c.max_key_length, 100u);
  EXPECT_EQ(c.max_message_size, 64u * 1024);
  EXPECT_DOUBLE_EQ(c.handshake_timeout, 1.5);
  EXPECT_EQ(c.max_outbound, 2u << 20);
  EXPECT_EQ(c.max_header_size, 16u * 1024);
  EXPECT_DOUBLE_EQ(c.close_timeout, 0.5);
  EXPECT_EQ(c.tls_certificate, "/etc/cert.pem");
  EXPECT_EQ(c.tls_certificate_key, "/etc/key.pem");
  EXPECT_EQ(c.tls_ca, "/etc/ca.pem");
  EXPECT_EQ(c.error_log, "/var/log/sigverd.log");
  EXPECT_EQ(c.log_level, "debug");
  std::string error;
  EXPECT_TRUE(validate_config(c, error)) << error;
}

TEST(Config, WorkerProcessesAutoIsTheCpuCount) {
  Loaded r = load("[server]\nworker_processes = auto\n");
  ASSERT_TRUE(r.ok) << r.error;
  int cpus = static_cast<int>(std::thread::hardware_concurrency());
  EXPECT_EQ(r.config.worker_processes, std::clamp(cpus, 1, 64));
}

TEST(Config, IndentedLinesAndSpacesAroundValuesAreAccepted) {
  Loaded r = load("[protocol]\n  heartbeat_misses   =   9  \n\theartbeat_interval=2\n");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.config.heartbeat_misses, 9);
  EXPECT_DOUBLE_EQ(r.config.heartbeat_interval, 2.0);
}

TEST(Config, EmptyListenTlsMeansNone) {
  Config c;
  c.listen_tls = ListenAddress{"::", 443};
  std::string error;
  ASSERT_TRUE(load_config_string("[server]\nlisten_tls =\n", "x", c, error)) << error;
  EXPECT_FALSE(c.listen_tls.has_value());
}

TEST(Config, LoadsOverTheGivenConfig) {
  Config c;
  c.heartbeat_misses = 42;
  std::string error;
  ASSERT_TRUE(load_config_string("[server]\nworker_processes = 2\n", "x", c, error)) << error;
  EXPECT_EQ(c.heartbeat_misses, 42);  // untouched by the file
  EXPECT_EQ(c.worker_processes, 2);
}

TEST(Config, FailedLoadLeavesConfigUntouched) {
  Config c;
  std::string error;
  EXPECT_FALSE(load_config_string("[server]\nworker_processes = 2\nbogus = 1\n", "x", c, error));
  EXPECT_EQ(c.worker_processes, 1);
  EXPECT_EQ(c.source, "");
}

// Each bad value is reported with the file, the line, the setting and its section.
struct BadValue {
  const char* section;
  const char* name;
  const char* value;
};

class ConfigBadValue : public ::testing::TestWithParam<BadValue> {};

TEST_P(ConfigBadValue, IsAnErrorNamingFileLineAndSetting) {
  const BadValue& b = GetParam();
  std::string text =
      std::string("; comment\n[") + b.section + "]\n\n" + b.name + " = " + b.value + "\n";
  Loaded r = load(text);
  ASSERT_FALSE(r.ok) << b.name << " = " << b.value;
  std::string expected = std::string("test.conf:4: invalid value \"") + b.value + "\" for \"" +
                         b.name + "\" in [" + b.section + "]: expected";
  EXPECT_EQ(r.error.substr(0, expected.size()), expected) << r.error;
}

INSTANTIATE_TEST_SUITE_P(
    All, ConfigBadValue,
    ::testing::Values(
        BadValue{"server", "listen", "0.0.0.0"}, BadValue{"server", "listen", "0.0.0.0:0"},
        BadValue{"server", "listen", "0.0.0.0:65536"}, BadValue{"server", "listen", "host:x"},
        BadValue{"server", "listen", ":8000"}, BadValue{"server", "listen", "::1:8000"},
        BadValue{"server", "listen", "[nothex]:80"}, BadValue{"server", "listen", "999.1.1.1:80"},
        BadValue{"server", "listen", "bad host:80"}, BadValue{"server", "listen", ""},
        BadValue{"server", "listen_tls", "1.2.3.4"}, BadValue{"server", "listen_tls", "[::]:0"},
        BadValue{"server", "worker_processes", "0"}, BadValue{"server", "worker_processes", "65"},
        BadValue{"server", "worker_processes", "many"},
        BadValue{"server", "worker_processes", "-1"}, BadValue{"server", "daemon", "maybe"},
        BadValue{"server", "daemon", ""}, BadValue{"protocol", "heartbeat_interval", "abc"},
        BadValue{"protocol", "heartbeat_interval", "0"},
        BadValue{"protocol", "heartbeat_interval", "-1"},
        BadValue{"protocol", "heartbeat_interval", "3600.5"},
        BadValue{"protocol", "heartbeat_interval", "1e999"},
        BadValue{"protocol", "heartbeat_misses", "0"},
        BadValue{"protocol", "heartbeat_misses", "101"},
        BadValue{"protocol", "heartbeat_misses", "3.5"},
        BadValue{"protocol", "max_key_length", "0"},
        BadValue{"protocol", "max_key_length", "65537"},
        BadValue{"protocol", "max_key_length", "1k"}, BadValue{"protocol", "max_message_size", "0"},
        BadValue{"protocol", "max_message_size", "2g"},
        BadValue{"protocol", "max_message_size", "1mb"},
        BadValue{"protocol", "handshake_timeout", "0"},
        BadValue{"protocol", "handshake_timeout", "soon"},
        BadValue{"protocol", "max_outbound", "1023"}, BadValue{"protocol", "max_outbound", "x"},
        BadValue{"protocol", "max_outbound", "2g"}, BadValue{"protocol", "max_header_size", "1023"},
        BadValue{"protocol", "max_header_size", "65k"},
        BadValue{"protocol", "close_timeout", "0.0"}, BadValue{"protocol", "close_timeout", "nan"},
        BadValue{"log", "log_level", "verbose"}, BadValue{"log", "error_log", ""}));

TEST(Config, BadSecondsUseTheDocumentedMessage) {
  Loaded r = load("[protocol]\nheartbeat_interval = abc\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error,
            "test.conf:2: invalid value \"abc\" for \"heartbeat_interval\" in [protocol]: "
            "expected seconds (e.g. 5 or 0.5)");
}

TEST(Config, UnknownSettingIsAnError) {
  Loaded r = load("[server]\nlisten = 0.0.0.0:8000\nlisten_port = 80\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error, "test.conf:3: unknown setting \"listen_port\" in [server]");
}

TEST(Config, SettingInTheWrongSectionIsUnknown) {
  Loaded r = load("[protocol]\nlisten = 0.0.0.0:8000\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error, "test.conf:2: unknown setting \"listen\" in [protocol]");
}

TEST(Config, UnknownSectionIsAnErrorEvenWhenEmpty) {
  Loaded r = load("[server]\n\n[http]\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error, "test.conf:3: unknown section [http]");
}

TEST(Config, SettingOutsideAnySectionIsAnError) {
  Loaded r = load("listen = 0.0.0.0:8000\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error, "test.conf:1: setting \"listen\" outside of any section");
}

TEST(Config, DuplicateSettingIsAnError) {
  Loaded r = load("[server]\ndaemon = on\ndaemon = off\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error, "test.conf:3: duplicate setting \"daemon\" in [server]");
}

TEST(Config, LineWithoutEqualsIsASyntaxError) {
  Loaded r = load("[server]\ndaemon = on\n\nworker_processes 4\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error.rfind("test.conf:4: syntax error", 0), 0u) << r.error;
}

TEST(Config, UnclosedSectionIsASyntaxError) {
  Loaded r = load("[server\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error.rfind("test.conf:1: syntax error", 0), 0u) << r.error;
}

TEST(Config, FirstErrorWinsWhetherSyntaxOrValue) {
  Loaded syntax_first = load("[server]\noops\ndaemon = maybe\n");
  ASSERT_FALSE(syntax_first.ok);
  EXPECT_EQ(syntax_first.error.rfind("test.conf:2: syntax error", 0), 0u) << syntax_first.error;
  Loaded value_first = load("[server]\ndaemon = maybe\noops\n");
  ASSERT_FALSE(value_first.ok);
  EXPECT_EQ(value_first.error.rfind("test.conf:2: invalid value \"maybe\"", 0), 0u)
      << value_first.error;
}

TEST(Config, OverlongLineIsAnError) {
  Loaded r = load("[server]\npid = /" + std::string(400, 'p') + "\n");
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error.rfind("test.conf:2: line too long", 0), 0u) << r.error;
}

TEST(Config, MissingFileNamesTheFile) {
  Config c;
  std::string error;
  EXPECT_FALSE(load_config_file("/nonexistent/sigver.conf", c, error));
  EXPECT_EQ(error, "/nonexistent/sigver.conf: cannot open: No such file or directory");
}

TEST(Config, FileErrorsNameThePath) {
  std::string path = ::testing::TempDir() + "config_test_" + std::to_string(getpid()) + ".conf";
  {
    std::ofstream out(path);
    out << "[protocol]\nmax_outbound = 12\n";
  }
  Config c;
  std::string error;
  EXPECT_FALSE(load_config_file(path, c, error));
  std::remove(path.c_str());
  EXPECT_EQ(error.rfind(path + ":2: invalid value \"12\" for \"max_outbound\"", 0), 0u) << error;
}

TEST(ParseListen, Forms) {
  ListenAddress a;
  ASSERT_TRUE(parse_listen("10.0.0.1:80", a));
  EXPECT_EQ(a.host, "10.0.0.1");
  EXPECT_EQ(a.port, 80);
  ASSERT_TRUE(parse_listen("[::]:8000", a));
  EXPECT_EQ(a.host, "::");
  EXPECT_EQ(a.port, 8000);
  ASSERT_TRUE(parse_listen("[2001:db8::1]:65535", a));
  EXPECT_EQ(a.host, "2001:db8::1");
  EXPECT_EQ(a.port, 65535);
  ASSERT_TRUE(parse_listen("localhost:1", a));
  EXPECT_EQ(a.host, "localhost");
  EXPECT_EQ(a.port, 1);
  ASSERT_TRUE(parse_listen("*:81", a));
  EXPECT_EQ(a.host, "0.0.0.0");
  EXPECT_FALSE(parse_listen("localhost", a));
  EXPECT_FALSE(parse_listen("[::1]", a));
  EXPECT_FALSE(parse_listen("1.2.3.4:+80", a));
  EXPECT_FALSE(parse_listen("1.2.3.4:99999999999999999999999", a));
  EXPECT_FALSE(parse_listen("-bad:80", a));
}

TEST(ParseSize, SuffixesAndRejections) {
  uint64_t n = 0;
  ASSERT_TRUE(parse_size("4096", n));
  EXPECT_EQ(n, 4096u);
  ASSERT_TRUE(parse_size("64k", n));
  EXPECT_EQ(n, 65536u);
  ASSERT_TRUE(parse_size("64K", n));
  EXPECT_EQ(n, 65536u);
  ASSERT_TRUE(parse_size("1m", n));
  EXPECT_EQ(n, 1u << 20);
  ASSERT_TRUE(parse_size("3M", n));
  EXPECT_EQ(n, 3u << 20);
  ASSERT_TRUE(parse_size("1g", n));
  EXPECT_EQ(n, 1ull << 30);
  ASSERT_TRUE(parse_size("2G", n));
  EXPECT_EQ(n, 2ull << 30);
  ASSERT_TRUE(parse_size("0", n));
  EXPECT_EQ(n, 0u);
  for (const char* bad : {"", "k", "-1", "-1k", "+5", "1.5m", "12x", "1kb", " 1", "1 k", "0x10",
                          "18446744073709551616", "17179869184g"}) {
    EXPECT_FALSE(parse_size(bad, n)) << bad;
  }
}

TEST(ParseSeconds, DecimalsAndRejections) {
  double s = -1;
  ASSERT_TRUE(parse_seconds("5", s));
  EXPECT_DOUBLE_EQ(s, 5);
  ASSERT_TRUE(parse_seconds("0.25", s));
  EXPECT_DOUBLE_EQ(s, 0.25);
  ASSERT_TRUE(parse_seconds("1.5", s));
  EXPECT_DOUBLE_EQ(s, 1.5);
  ASSERT_TRUE(parse_seconds(".5", s));
  EXPECT_DOUBLE_EQ(s, 0.5);
  ASSERT_TRUE(parse_seconds("0", s));
  EXPECT_DOUBLE_EQ(s, 0);
  const std::string huge(400, '9');  // beyond the range of a double
  for (const char* bad : {"abc", "", ".", "1e999", "1e3", "-1", "+1", "nan", "inf", "1.2.3", "1s",
                          " 1", "0x1", huge.c_str()}) {
    EXPECT_FALSE(parse_seconds(bad, s)) << bad;
  }
}

TEST(ParseBool, AllSpellings) {
  bool b = false;
  for (const char* yes : {"on", "true", "yes", "1", "ON", "True"}) {
    b = false;
    ASSERT_TRUE(parse_bool(yes, b)) << yes;
    EXPECT_TRUE(b) << yes;
  }
  for (const char* no : {"off", "false", "no", "0", "Off"}) {
    b = true;
    ASSERT_TRUE(parse_bool(no, b)) << no;
    EXPECT_FALSE(b) << no;
  }
  for (const char* bad : {"", "2", "onn", "enabled"}) EXPECT_FALSE(parse_bool(bad, b)) << bad;
}

TEST(ValidateConfig, TlsFilesMustComeInPairs) {
  std::string error;
  Config cert_only;
  cert_only.tls_certificate = "c.pem";
  EXPECT_FALSE(validate_config(cert_only, error));
  EXPECT_NE(error.find("certificate_key"), std::string::npos) << error;

  Config key_only;
  key_only.tls_certificate_key = "k.pem";
  key_only.source = "my.conf";
  EXPECT_FALSE(validate_config(key_only, error));
  EXPECT_EQ(error, "my.conf: [tls] certificate_key is set but certificate is not");

  Config ca_only;
  ca_only.tls_ca = "ca.pem";
  EXPECT_FALSE(validate_config(ca_only, error));

  Config both = cert_only;
  both.tls_certificate_key = "k.pem";
  EXPECT_TRUE(validate_config(both, error)) << error;
}

TEST(ValidateConfig, ListenTlsNeedsACertificateAndItsOwnAddress) {
  std::string error;
  Config c;
  c.listen_tls = ListenAddress{"0.0.0.0", 8443};
  EXPECT_FALSE(validate_config(c, error));
  EXPECT_NE(error.find("listen_tls"), std::string::npos) << error;
  c.tls_certificate = "c.pem";
  c.tls_certificate_key = "k.pem";
  EXPECT_TRUE(validate_config(c, error)) << error;
  c.listen_tls = c.listen;
  EXPECT_FALSE(validate_config(c, error));
}

}  // namespace
}  // namespace sigver
