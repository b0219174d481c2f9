#include "core/channel.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace sigver {

int channel_send(int socket, ChannelType type, std::string_view head, std::string_view body,
                 const int* fds, size_t fd_count) {
  if (fd_count > kChannelMaxFds) return EINVAL;
  char type_byte = static_cast<char>(type);
  iovec iov[3] = {{&type_byte, 1},
                  {const_cast<char*>(head.data()), head.size()},
                  {const_cast<char*>(body.data()), body.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = 3;
  // Sized for the maximum; only what is used is passed in msg_controllen.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kChannelMaxFds)];
  if (fd_count > 0) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
    std::memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * fd_count);
  }
  for (;;) {
    if (::sendmsg(socket, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return 0;
    if (errno != EINTR) return errno;
  }
}

int channel_send(int socket, ChannelType type, std::string_view payload, const int* fds,
                 size_t fd_count) {
  return channel_send(socket, type, payload, {}, fds, fd_count);
}

ChannelResult channel_receive(int socket, char* buffer, size_t capacity, ChannelMessage& out) {
  out.fds.clear();
  out.payload = {};
  iovec iov{buffer, capacity};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kChannelMaxFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(socket, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return (errno == EAGAIN || errno == EWOULDBLOCK) ? ChannelResult::kEmpty
                                                     : ChannelResult::kError;
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t k = 0; k < count; ++k) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof fd);
      out.fds.emplace_back(fd);
    }
  }
  if (n == 0 && out.fds.empty() && !(msg.msg_flags & MSG_CTRUNC)) return ChannelResult::kClosed;
  if ((msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || n < 1) {
    out.fds.clear();  // closes them
    return ChannelResult::kMalformed;
  }
  out.type = static_cast<ChannelType>(buffer[0]);
  out.payload = std::string_view(buffer + 1, static_cast<size_t>(n) - 1);
  return ChannelResult::kMessage;
}

}  // namespace sigver
