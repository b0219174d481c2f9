// sigver-bench: load generator for `make bench` (see tools/bench/run.sh, which runs it
// against sigverd and the reference sigver@18.0.0 and prints the comparison).
//   sigver-bench relay|idle|handshake|malformed --port P --server-pid PID[,PID...] [options]
//   sigver-bench free-port
// Options are documented in each scenario's file; all loops are bounded in time.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "scenarios.h"

namespace bench {

bool Args::parse(int argc, char** argv, int first, std::string& error) {
  for (int i = first; i < argc; i += 2) {
    const std::string name = argv[i];
    if (name.rfind("--", 0) != 0 || i + 1 >= argc) {
      error = "expected --name value, got '" + name + "'";
      return false;
    }
    values_[name.substr(2)] = argv[i + 1];
  }
  return true;
}

std::string Args::text(const std::string& name, const std::string& fallback) const {
  const auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

uint64_t Args::number(const std::string& name, uint64_t fallback) const {
  const std::string value = text(name, "");
  uint64_t out = fallback;
  if (!value.empty()) std::from_chars(value.data(), value.data() + value.size(), out);
  return out;
}

double Args::seconds(const std::string& name, double fallback) const {
  const std::string value = text(name, "");
  return value.empty() ? fallback : std::stod(value);
}

std::string Target::source(size_t i) const {
  return "127.0.0." + std::to_string(1 + i % (sources == 0 ? 1 : sources));
}

Target target_from(const Args& args) {
  Target target;
  target.host = args.text("host", "127.0.0.1");
  target.port = static_cast<uint16_t>(args.number("port", 0));
  const std::string pids = args.text("server-pid", "");
  for (size_t at = 0; at < pids.size();) {
    pid_t pid = 0;
    const auto [end, ec] = std::from_chars(pids.data() + at, pids.data() + pids.size(), pid);
    if (ec != std::errc() || pid <= 0) break;
    target.server_pids.push_back(pid);
    at = static_cast<size_t>(end - pids.data()) + 1;  // past the comma
  }
  if (!target.server_pids.empty()) target.server_pid = target.server_pids.front();
  target.sources = static_cast<unsigned>(args.number("sources", 1));
  if (target.sources == 0 || target.sources > 250) target.sources = 1;
  if (args.number("tls", 0) == 1) {
    std::string error;
    target.tls =
        TlsClient::create(args.text("tls-ca", ""), args.number("tls-resume", 0) == 1, error);
    if (!target.tls) {
      std::printf("tls.error=%s\n", error.c_str());
      std::exit(1);
    }
  }
  return target;
}

void print_tls(const char* name, const Target& target) {
  if (!target.tls) return;
  const std::string& negotiated = target.tls->negotiated();
  std::printf("%s.tls=%s\n", name, negotiated.empty() ? "none" : negotiated.c_str());
  std::printf("%s.tls_handshakes=%llu\n%s.tls_resumed=%llu\n", name,
              static_cast<unsigned long long>(target.tls->handshakes()), name,
              static_cast<unsigned long long>(target.tls->resumed()));
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace bench

namespace {

// A TCP port free on 127.0.0.1 right now (the kernel's pick for port 0).
int print_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    std::perror("free-port");
    return 1;
  }
  std::printf("%u\n", ntohs(address.sin_port));
  ::close(fd);
  return 0;
}

int usage() {
  std::fprintf(
      stderr,
      "usage: sigver-bench relay|idle|handshake|malformed --port P --server-pid PID [--name "
      "value]...\n       sigver-bench free-port\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string mode = argv[1];
  if (mode == "free-port") return print_free_port();
  bench::Args args;
  std::string error;
  if (!args.parse(argc, argv, 2, error)) {
    std::fprintf(stderr, "sigver-bench: %s\n", error.c_str());
    return usage();
  }
  if (args.number("port", 0) == 0 || args.number("server-pid", 0) == 0) return usage();
  if (mode == "relay") return bench::run_relay(args);
  if (mode == "idle") return bench::run_idle(args);
  if (mode == "handshake") return bench::run_handshake(args);
  if (mode == "malformed") return bench::run_malformed(args);
  return usage();
}
