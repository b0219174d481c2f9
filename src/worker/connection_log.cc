#include "worker/connection_log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdarg>
#include <cstdio>

namespace sigver {
namespace {

// "10.0.0.5:53211", "[2001:db8::1]:443", or "tls" for the plain end of a TLS relay (the
// relay's own lines name the client), "-" once the socket is gone.
void format_client(int fd, char* out, size_t size) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (fd < 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::snprintf(out, size, "-");
    return;
  }
  char host[INET6_ADDRSTRLEN] = "?";
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    ::inet_ntop(AF_INET, &v4.sin_addr, host, sizeof host);
    std::snprintf(out, size, "%s:%u", host, ntohs(v4.sin_port));
  } else if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, host, sizeof host);
    std::snprintf(out, size, "[%s]:%u", host, ntohs(v6.sin6_port));
  } else {
    std::snprintf(out, size, "tls");
  }
}

}  // namespace

void log_connection(log::Level level, const Connection& c, const char* fmt, ...) {
  char message[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(message, sizeof message, fmt, args);
  va_end(args);
  char client[INET6_ADDRSTRLEN + 16];
  format_client(c.transport.fd(), client, sizeof client);
  log::write(level, "%s, *%u client: %s", message, c.number, client);
}

}  // namespace sigver
