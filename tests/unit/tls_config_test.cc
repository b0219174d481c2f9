// The [tls] settings added for wss://: defaults, parsing, file:line errors, the shipped file,
// and the `sigver` command line making its one listener speak TLS.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "master/cli.h"

namespace sigver {
namespace {

TEST(TlsConfig, Defaults) {
  Config c;
  EXPECT_EQ(c.tls_protocols, "TLSv1.2 TLSv1.3");
  EXPECT_EQ(c.tls_ciphers, "ECDHE+AESGCM:ECDHE+CHACHA20");
  EXPECT_EQ(c.tls_ciphersuites,
            "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256");
  EXPECT_FALSE(c.listen_speaks_tls);
}

TEST(TlsConfig, ShippedFileStatesTheDefaults) {
  const auto path = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() /
                    "conf" / "sigver.conf";
  Config c;
  c.tls_protocols = c.tls_ciphers = c.tls_ciphersuites = "changed";
  std::string error;
  ASSERT_TRUE(load_config_file(path.string(), c, error)) << error;
  const Config d;
  EXPECT_EQ(c.tls_protocols, d.tls_protocols);
  EXPECT_EQ(c.tls_ciphers, d.tls_ciphers);
  EXPECT_EQ(c.tls_ciphersuites, d.tls_ciphersuites);
}

TEST(TlsConfig, SettingsAreParsed) {
  Config c;
  std::string error;
  ASSERT_TRUE(
      load_config_string("[server]\nlisten_tls = 127.0.0.1:8443\n"
                         "[tls]\ncertificate = c.pem\ncertificate_key = k.pem\n"
                         "ca = i.pem\nprotocols = TLSv1.3\nciphers = HIGH:!aNULL\n"
                         "ciphersuites = TLS_AES_128_GCM_SHA256\n",
                         "t.conf", c, error))
      << error;
  EXPECT_EQ(c.tls_protocols, "TLSv1.3");
  EXPECT_EQ(c.tls_ciphers, "HIGH:!aNULL");
  EXPECT_EQ(c.tls_ciphersuites, "TLS_AES_128_GCM_SHA256");
  EXPECT_TRUE(validate_config(c, error)) << error;
}

TEST(TlsConfig, BadValuesNameFileLineAndSetting) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"[tls]\nprotocols = TLSv1.1\n", "t.conf:2: invalid value \"TLSv1.1\" for \"protocols\""},
      {"[tls]\n\nprotocols = TLSv1.2 TLSv1.2\n", "t.conf:3: invalid value"},
      {"[tls]\nprotocols =\n", "t.conf:2: invalid value \"\" for \"protocols\""},
      {"[tls]\nciphers =\n",
       "t.conf:2: invalid value \"\" for \"ciphers\" in [tls]: expected an "
       "OpenSSL cipher list"},
      {"[tls]\nciphersuites =\n", "t.conf:2: invalid value \"\" for \"ciphersuites\""},
  };
  for (const Case& k : cases) {
    Config c;
    std::string error;
    EXPECT_FALSE(load_config_string(k.text, "t.conf", c, error)) << k.text;
    EXPECT_EQ(error.rfind(k.expected, 0), 0u) << "got: " << error;
  }
}

TEST(TlsConfig, ProtocolList) {
  TlsProtocols p;
  ASSERT_TRUE(parse_tls_protocols("TLSv1.2 TLSv1.3", p));
  EXPECT_TRUE(p.tls1_2 && p.tls1_3);
  ASSERT_TRUE(parse_tls_protocols("  TLSv1.3 ", p));
  EXPECT_TRUE(!p.tls1_2 && p.tls1_3);
  ASSERT_TRUE(parse_tls_protocols("TLSv1.2", p));
  EXPECT_TRUE(p.tls1_2 && !p.tls1_3);
  for (const char* bad :
       {"", " ", "TLSv1", "TLSv1.1 TLSv1.2", "tlsv1.2", "TLSv1.3,TLSv1.2", "TLSv1.3 TLSv1.3"}) {
    EXPECT_FALSE(parse_tls_protocols(bad, p)) << bad;
  }
}

TEST(TlsConfig, TlsOnTheListenAddressNeedsACertificate) {
  Config c;
  c.listen_speaks_tls = true;
  std::string error;
  EXPECT_FALSE(validate_config(c, error));
  c.tls_certificate = "c.pem";
  c.tls_certificate_key = "k.pem";
  EXPECT_TRUE(validate_config(c, error)) << error;
}

CliResult sigver(std::vector<std::string> args) {
  args.insert(args.begin(), "sigver");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_sigver_args(static_cast<int>(argv.size()), argv.data());
}

TEST(TlsConfig, SigverWithKeyAndCertServesWssOnItsOneListener) {
  CliResult r = sigver({"--key", "./private.key", "--cert", "./primary.crt", "--ca",
                        "./intermediate.crt", "--port", "443"});
  ASSERT_EQ(r.action, CliResult::Action::kRun) << r.message;
  EXPECT_TRUE(r.config.listen_speaks_tls);
  EXPECT_FALSE(r.config.listen_tls.has_value());
  EXPECT_EQ(r.config.listen.port, 443);

  r = sigver({"-p", "8000"});
  ASSERT_EQ(r.action, CliResult::Action::kRun) << r.message;
  EXPECT_FALSE(r.config.listen_speaks_tls);
}

}  // namespace
}  // namespace sigver
