#include "master/cli.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace sigver {
namespace {

using Action = CliResult::Action;

// Owns writable copies of the arguments, as main() would receive them.
class Argv {
 public:
  Argv(const char* program, const std::vector<std::string>& args) {
    storage_.emplace_back(program);
    for (const std::string& a : args) storage_.push_back(a);
    for (std::string& s : storage_) pointers_.push_back(s.data());
    pointers_.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(storage_.size()); }
  char** argv() { return pointers_.data(); }

 private:
  std::vector<std::string> storage_;
  std::vector<char*> pointers_;
};

CliResult sigverd(const std::vector<std::string>& args) {
  Argv a("sigverd", args);
  return parse_sigverd_args(a.argc(), a.argv());
}

CliResult sigver(const std::vector<std::string>& args) {
  Argv a("sigver", args);
  return parse_sigver_args(a.argc(), a.argv());
}

// A config file in the test's temporary directory, removed at the end of the test.
class TempConf {
 public:
  explicit TempConf(const std::string& text)
      : path_(::testing::TempDir() + "cli_test_" + std::to_string(getpid()) + "_" +
              std::to_string(counter_++) + ".conf") {
    std::ofstream(path_) << text;
  }
  ~TempConf() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

std::string repo_conf() {
  return (std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "conf" /
          "sigver.conf")
      .string();
}

// ---- sigverd ----

TEST(SigverdCli, NoArgumentsRunsWithBuiltInDefaults) {
  CliResult r = sigverd({});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.listen.host, "0.0.0.0");
  EXPECT_EQ(r.config.listen.port, 8000);
  EXPECT_EQ(r.config.source, "");
  EXPECT_EQ(r.config.worker_processes, 1);
}

TEST(SigverdCli, LoadsTheConfigFile) {
  TempConf conf("[server]\nlisten = 127.0.0.1:9100\nworker_processes = 3\n");
  for (const auto& args : {std::vector<std::string>{"-c", conf.path()},
                           std::vector<std::string>{"--conf", conf.path()},
                           std::vector<std::string>{"--conf=" + conf.path()},
                           std::vector<std::string>{"-c" + conf.path()}}) {
    CliResult r = sigverd(args);
    ASSERT_EQ(r.action, Action::kRun) << r.message;
    EXPECT_EQ(r.config.listen.host, "127.0.0.1");
    EXPECT_EQ(r.config.listen.port, 9100);
    EXPECT_EQ(r.config.worker_processes, 3);
    EXPECT_EQ(r.config.source, conf.path());
  }
}

TEST(SigverdCli, ShippedConfigLoads) {
  CliResult r = sigverd({"-c", repo_conf()});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.listen.port, 8000);
}

TEST(SigverdCli, HostAndPortOverrideTheFileWhateverTheOrder) {
  TempConf conf("[server]\nlisten = 127.0.0.1:9100\n");
  CliResult r = sigverd({"--port", "9200", "--host", "10.1.2.3", "-c", conf.path()});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.listen.host, "10.1.2.3");
  EXPECT_EQ(r.config.listen.port, 9200);

  r = sigverd({"-c", conf.path(), "-p", "9300"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.listen.host, "127.0.0.1");  // from the file
  EXPECT_EQ(r.config.listen.port, 9300);

  r = sigverd({"--port=9400", "--host=::1"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.listen.host, "::1");
  EXPECT_EQ(r.config.listen.port, 9400);

  r = sigverd({"--host", "[::]"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.listen.host, "::");
}

TEST(SigverdCli, TestConfig) {
  TempConf conf("[protocol]\nheartbeat_misses = 5\n");
  CliResult r = sigverd({"-t", "-c", conf.path()});
  ASSERT_EQ(r.action, Action::kTestConfig) << r.message;
  EXPECT_EQ(r.config.heartbeat_misses, 5);
}

TEST(SigverdCli, TestConfigReportsABadFile) {
  TempConf conf("[protocol]\n\nheartbeat_misses = lots\n");
  CliResult r = sigverd({"-t", "-c", conf.path()});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_EQ(r.message.rfind("sigverd: " + conf.path() + ":3: invalid value \"lots\"", 0), 0u)
      << r.message;
}

TEST(SigverdCli, MissingConfigFile) {
  CliResult r = sigverd({"-c", "/nonexistent/x.conf"});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_EQ(r.message, "sigverd: /nonexistent/x.conf: cannot open: No such file or directory");
}

TEST(SigverdCli, Signals) {
  TempConf conf("[server]\npid = /tmp/some.pid\n");
  for (const char* signal : {"reload", "quit", "stop", "reopen", "upgrade"}) {
    CliResult r = sigverd({"-c", conf.path(), "-s", signal});
    ASSERT_EQ(r.action, Action::kSignal) << r.message;
    EXPECT_EQ(r.signal, signal);
    EXPECT_EQ(r.config.pid, "/tmp/some.pid");  // needed to find the master
  }
  CliResult r = sigverd({"-s", "restart"});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_EQ(r.message,
            "sigverd: invalid signal \"restart\" (expected reload, quit, stop, reopen or upgrade)");
  EXPECT_EQ(sigverd({"-s"}).action, Action::kError);
  EXPECT_EQ(sigverd({"-t", "-s", "stop"}).action, Action::kError);
}

TEST(SigverdCli, VersionAndHelp) {
  for (const char* flag : {"-V", "--version"}) {
    CliResult r = sigverd({flag});
    ASSERT_EQ(r.action, Action::kVersion);
    EXPECT_EQ(r.message.substr(0, r.message.find('\n')), "sigverd version 0.1.0");
    EXPECT_NE(r.message.find("built with OpenSSL 3."), std::string::npos) << r.message;
    EXPECT_NE(r.message.find(", protobuf 3."), std::string::npos) << r.message;
    EXPECT_NE(r.message.find(", llhttp 8."), std::string::npos) << r.message;
  }
  CliResult r = sigverd({"--help"});
  ASSERT_EQ(r.action, Action::kHelp);
  EXPECT_EQ(r.message.rfind("Usage: sigverd [options]\n", 0), 0u);
  for (const char* option : {"--conf", "--host", "--port", "-t", "-s <signal>", "--version"}) {
    EXPECT_NE(r.message.find(option), std::string::npos) << option;
  }
  // -h is not help for sigverd (it is --host for sigver): it is simply unknown.
  EXPECT_EQ(sigverd({"-h"}).action, Action::kError);
}

TEST(SigverdCli, Errors) {
  CliResult r = sigverd({"-p", "x"});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_EQ(r.message, "sigverd: invalid port \"x\" (expected 1..65535)");
  EXPECT_EQ(sigverd({"--port=0"}).message, "sigverd: invalid port \"0\" (expected 1..65535)");
  EXPECT_EQ(sigverd({"--port", "65536"}).action, Action::kError);
  EXPECT_EQ(sigverd({"--port", "-1"}).action, Action::kError);

  r = sigverd({"--host", "not a host"});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_EQ(r.message.rfind("sigverd: invalid host \"not a host\"", 0), 0u) << r.message;

  r = sigverd({"--bogus"});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_EQ(r.message, "sigverd: unknown option \"--bogus\"");
  r = sigverd({"-x"});
  EXPECT_EQ(r.message, "sigverd: unknown option \"-x\"");
  r = sigverd({"--port"});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_EQ(r.message, "sigverd: option \"--port\" needs a value");
  r = sigverd({"stray"});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_EQ(r.message, "sigverd: unexpected argument \"stray\"");
  EXPECT_EQ(sigverd({"--help=yes"}).action, Action::kError);
  EXPECT_EQ(sigverd({"-tV"}).action, Action::kError);
}

TEST(SigverdCli, ValidatesTheResult) {
  TempConf conf("[tls]\ncertificate = /x/cert.pem\n");
  CliResult r = sigverd({"-c", conf.path()});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_NE(r.message.find("certificate_key"), std::string::npos) << r.message;
}

// ---- sigver (the seed's command line) ----

TEST(SigverCli, Defaults) {
  CliResult r = sigver({});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.listen.host, "0.0.0.0");
  EXPECT_EQ(r.config.listen.port, 8000);
  EXPECT_EQ(r.config.tls_certificate, "");
}

TEST(SigverCli, HostAndPort) {
  CliResult r = sigver({"-h", "192.168.0.1", "-p", "80"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.listen.host, "192.168.0.1");
  EXPECT_EQ(r.config.listen.port, 80);

  r = sigver({"--host=127.0.0.1", "--port=8080"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.listen.host, "127.0.0.1");
  EXPECT_EQ(r.config.listen.port, 8080);

  r = sigver({"--host", "127.0.0.2", "--port", "8081"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.listen.host, "127.0.0.2");
  EXPECT_EQ(r.config.listen.port, 8081);
}

TEST(SigverCli, TlsFiles) {
  CliResult r = sigver({"--key", "./private.key", "--cert", "./primary.crt", "--ca",
                        "./intermediate.crt", "--port", "443"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.tls_certificate_key, "./private.key");
  EXPECT_EQ(r.config.tls_certificate, "./primary.crt");
  EXPECT_EQ(r.config.tls_ca, "./intermediate.crt");
  EXPECT_EQ(r.config.listen.port, 443);
  EXPECT_FALSE(r.config.listen_tls.has_value());  // the one listener becomes TLS

  r = sigver({"-k", "k.pem", "-c", "c.pem", "-a", "ca.pem"});
  ASSERT_EQ(r.action, Action::kRun) << r.message;
  EXPECT_EQ(r.config.tls_certificate_key, "k.pem");
  EXPECT_EQ(r.config.tls_certificate, "c.pem");
  EXPECT_EQ(r.config.tls_ca, "ca.pem");
}

TEST(SigverCli, TlsFilesMustComeTogether) {
  CliResult r = sigver({"--key", "k.pem"});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_EQ(r.message, "sigver: --key and --cert must be given together");
  EXPECT_EQ(sigver({"--cert", "c.pem"}).action, Action::kError);
  EXPECT_EQ(sigver({"--ca", "ca.pem"}).action, Action::kError);
}

TEST(SigverCli, VersionAndHelp) {
  for (const char* flag : {"-V", "--version"}) {
    CliResult r = sigver({flag});
    ASSERT_EQ(r.action, Action::kVersion);
    EXPECT_EQ(r.message, "0.1.0");
  }
  CliResult r = sigver({"--help"});
  ASSERT_EQ(r.action, Action::kHelp);
  EXPECT_EQ(r.message.rfind("Usage: server [options]\n\nSignaling server for WebRTC.", 0), 0u);
  for (const char* line :
       {"  -h, --host <ip>         Select host address to bind to. (default: 0.0.0.0)\n",
        "  -p, --port <number>     Select port to use. (default: 8000)\n",
        "  -k, --key <file path>   Private key for the certificate\n",
        "  -c, --cert <file path>  The server certificate\n", "Examples:\n",
        "   $ sigver -h 192.168.0.1 -p 80  # Server is listening on ws://192.168.0.1:80\n",
        "--port 443  # Server is listening on wss://0.0.0.0:443"}) {
    EXPECT_NE(r.message.find(line), std::string::npos) << line;
  }
}

TEST(SigverCli, Errors) {
  CliResult r = sigver({"-p", "abc"});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_EQ(r.message, "sigver: invalid port \"abc\" (expected 1..65535)");
  r = sigver({"-h"});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_EQ(r.message, "sigver: option \"-h\" needs a value");
  r = sigver({"-t"});
  ASSERT_EQ(r.action, Action::kError);
  EXPECT_EQ(r.message, "sigver: unknown option \"-t\"");
  EXPECT_EQ(sigver({"--conf", "x"}).action, Action::kError);
}

}  // namespace
}  // namespace sigver
