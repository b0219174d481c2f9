#include "master/listeners.h"

#include <linux/filter.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace sigver {
namespace {

// Enough for a burst of connections while a worker is busy or being respawned; the kernel
// caps it at net.core.somaxconn anyway.
constexpr int kBacklog = 4096;

bool resolve(const ListenAddress& address, sockaddr_storage& out, socklen_t& out_len,
             std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  std::string port = std::to_string(address.port);
  int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &result);
  if (rc != 0) {
    error = "cannot resolve listen address " + format_listen_address(address) + ": " +
            ::gai_strerror(rc);
    return false;
  }
  std::memcpy(&out, result->ai_addr, result->ai_addrlen);
  out_len = result->ai_addrlen;
  ::freeaddrinfo(result);
  return true;
}

void set_port(sockaddr_storage& addr, uint16_t port) {
  if (addr.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6&>(addr).sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in&>(addr).sin_port = htons(port);
  }
}

uint16_t get_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6&>(addr).sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in&>(addr).sin_port);
}

bool fail(const char* call, const ListenAddress& address, std::string& error) {
  error = std::string(call) + "() for " + format_listen_address(address) +
          " failed: " + std::strerror(errno);
  return false;
}

}  // namespace

std::string format_listen_address(const ListenAddress& address) {
  bool v6 = address.host.find(':') != std::string::npos;
  return (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

bool open_listeners(const ListenAddress& address, int count, std::vector<UniqueFd>& out,
                    uint16_t& bound_port, std::string& error) {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  if (!resolve(address, addr, addr_len, error)) return false;
  std::vector<UniqueFd> sockets;
  // Workers never exec, so CLOEXEC does not hide the socket from them; it only keeps it out
  // of any program a worker might exec.
  for (int i = 0; i < count; ++i) {
    UniqueFd fd(::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return fail("socket", address, error);
    int on = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0)
      return fail("setsockopt(SO_REUSEADDR)", address, error);
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
      return fail("setsockopt(SO_REUSEPORT)", address, error);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), addr_len) != 0)
      return fail("bind", address, error);
    if (::listen(fd.get(), kBacklog) != 0) return fail("listen", address, error);
    // With port 0 the first socket picks the port; the others must join its group.
    if (i == 0) {
      bound_port = get_port(fd.get());
      set_port(addr, bound_port);
    }
    sockets.push_back(std::move(fd));
  }
  out = std::move(sockets);
  return true;
}

bool steer_new_connections(const std::vector<UniqueFd>& sockets, int count, std::string& error) {
  if (sockets.empty() || count < 1) return true;
  // A = random; A %= count; return A (an index into the group).
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_RANDOM)),
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, static_cast<uint32_t>(count)),
      BPF_STMT(BPF_RET | BPF_A, 0),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(code)), code};
  if (::setsockopt(sockets.front().get(), SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program,
                   sizeof program) != 0) {
    error = std::string("setsockopt(SO_ATTACH_REUSEPORT_CBPF) failed: ") + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace sigver
