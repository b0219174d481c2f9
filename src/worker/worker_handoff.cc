// Passing connections between workers. The accepting worker sends the socket and every byte
// it has read from it as one SOCK_SEQPACKET message (SCM_RIGHTS) to the owner's queue; the
// owner parses the same bytes again, so nothing the client sent is lost or reordered. Only
// the fd and raw bytes cross processes.
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "worker/worker_loop.h"

namespace sigver {
namespace {

// Large enough for the biggest request (max_header_size <= 64 KiB) plus the frames read
// with it (one 16 KiB read).
constexpr size_t kHandoffMax = 128 * 1024;

constexpr std::string_view kUnavailable =
    "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    "Content-Length: 32\r\n\r\nserver busy, please retry later\n";

}  // namespace

void Worker::hand_off(Connection& c, int owner) {
  const int queue =
      owner < static_cast<int>(setup_.outboxes.size()) ? setup_.outboxes[owner] : -1;
  iovec iov{c.in.data(), c.in.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  const int fd = c.fd.get();
  std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  if (queue >= 0 && c.in.size() <= kHandoffMax &&
      ::sendmsg(queue, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
    ++handoffs_sent_;
    LOG_DEBUG("handed off a connection to worker %d (%zu bytes)", owner, c.in.size());
    destroy(c);  // the owner has its own copy of the socket now
    return;
  }
  // The owner's queue is full or gone: tell the client plainly rather than hang.
  LOG_WARN("cannot hand a connection off to worker %d: %s; answering 503", owner,
           queue < 0 ? "no queue" : std::strerror(errno));
  c.out.append(kUnavailable);
  begin_closing(c);
}

void Worker::receive_handoffs() {
  if (!inbox_buffer_) inbox_buffer_ = std::make_unique_for_overwrite<char[]>(kHandoffMax);
  for (int i = 0; i < 64; ++i) {
    iovec iov{inbox_buffer_.get(), kHandoffMax};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 4)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(setup_.inbox, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        LOG_ERROR("recvmsg(handoff queue) failed: %s", std::strerror(errno));
      }
      return;
    }
    // Collect every descriptor that arrived so none leaks, whatever else is wrong.
    int fd = -1;
    int extra = 0;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
      const size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t k = 0; k < count; ++k) {
        int got;
        std::memcpy(&got, CMSG_DATA(cm) + k * sizeof(int), sizeof got);
        if (fd < 0) {
          fd = got;
        } else {
          ::close(got);
          ++extra;
        }
      }
    }
    if ((msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || fd < 0 || extra) {
      LOG_ERROR("malformed handoff message (flags %#x, fd %d, %d extra fds): dropped",
                msg.msg_flags, fd, extra);
      if (fd >= 0) ::close(fd);
      continue;
    }
    adopt(fd, inbox_buffer_.get(), static_cast<size_t>(n));
  }
}

void Worker::adopt(int fd, const char* bytes, size_t size) {
  ++handoffs_received_;
  Connection& c = add_connection(fd);
  if (c.state == ConnState::kClosed) return;
  c.adopted = true;
  c.in.append(bytes, size);
  LOG_DEBUG("adopted a connection from another worker (%zu bytes)", size);
  handle_handshake(c);
}

}  // namespace sigver
