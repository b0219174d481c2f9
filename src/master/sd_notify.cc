#include "master/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "core/unique_fd.h"

namespace sigver {

bool sd_notify_send(std::string_view state, std::string& error) {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr || env[0] == '\0') return true;
  std::string_view name(env);

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // Only absolute paths and abstract names: systemd hands out nothing else over AF_UNIX
  // (newer versions also know "vsock:", for virtual machines, which a master never runs in
  // as a service), and a relative path would depend on our working directory.
  if (name[0] != '/' && name[0] != '@') {
    error = "NOTIFY_SOCKET \"" + std::string(name) + "\" is neither a path nor an abstract name";
    return false;
  }
  // An abstract name has no terminating NUL, so it may use all of sun_path; a path needs one.
  size_t room = sizeof addr.sun_path - (name[0] == '@' ? 0 : 1);
  if (name.size() > room) {
    error = "NOTIFY_SOCKET \"" + std::string(name) + "\" is too long for a socket address";
    return false;
  }
  std::memcpy(addr.sun_path, name.data(), name.size());
  // '@' stands for the leading NUL of the abstract namespace; the address length then says
  // where the name ends (bytes after it would be part of the name).
  if (name[0] == '@') addr.sun_path[0] = '\0';
  socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                              (name[0] == '@' ? 0 : 1));

  // The socket lives for this call only; CLOEXEC all the same, like every descriptor of the
  // master, so that nothing exec'd while it is open (a new master) inherits it.
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    error = std::string("cannot create a socket for NOTIFY_SOCKET: ") + std::strerror(errno);
    return false;
  }
  // MSG_DONTWAIT: a stuck or full systemd receive queue must not stall the master's loop; the
  // message is lost then, and the error says so. MSG_NOSIGNAL for symmetry with every other
  // send of the master (a datagram socket raises no SIGPIPE, but it costs nothing). The
  // kernel attaches our credentials, which is how systemd knows the sender's pid.
  ssize_t sent;
  do {
    sent = ::sendto(fd.get(), state.data(), state.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                    reinterpret_cast<const sockaddr*>(&addr), addr_len);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    error = "cannot notify systemd at \"" + std::string(name) + "\": " + std::strerror(errno);
    return false;
  }
  // A datagram goes whole or not at all; a short count would mean a truncated message.
  if (static_cast<size_t>(sent) != state.size()) {
    error = "cannot notify systemd at \"" + std::string(name) + "\": short send";
    return false;
  }
  return true;
}

}  // namespace sigver
