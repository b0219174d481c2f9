#include "master/handoff_queues.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace sigver {

bool open_handoff_queues(int count, std::vector<HandoffQueue>& out, std::string& error) {
  std::vector<HandoffQueue> queues;
  for (int i = 0; i < count; ++i) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
      error = std::string("socketpair(SOCK_SEQPACKET) failed: ") + std::strerror(errno);
      return false;
    }
    queues.push_back(HandoffQueue{UniqueFd(fds[0]), UniqueFd(fds[1])});
  }
  out = std::move(queues);
  return true;
}

}  // namespace sigver
