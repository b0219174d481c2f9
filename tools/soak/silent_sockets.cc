#include "silent_sockets.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "wire.h"

namespace soak {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
// A silent peer only gets heartbeats and, for a member, the content still addressed to it
// before the server gave up: more than this means something loops.
constexpr size_t kMaxBuffered = 4 * 1024 * 1024;

}  // namespace

SilentSockets::~SilentSockets() {
  for (Entry& entry : entries_) ::close(entry.fd);
}

void SilentSockets::add(uint32_t peer, int fd, std::string pending, double deadline) {
  entries_.push_back(Entry{peer, fd, std::move(pending), deadline});
}

int SilentSockets::read_entry(Entry& entry) {
  char chunk[kReadChunk];
  for (;;) {
    const ssize_t n = ::recv(entry.fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n > 0) {
      entry.in.append(chunk, static_cast<size_t>(n));
      if (entry.in.size() > kMaxBuffered) return kSilentBadFrame;
      continue;
    }
    // Frames first: a close frame followed by the FIN is the expected ending.
    size_t used = 0;
    while (used < entry.in.size()) {
      bench::Frame frame;
      size_t consumed = 0;
      const auto result = bench::parse_server_frame(entry.in.data() + used, entry.in.size() - used,
                                                    frame, consumed);
      if (result == bench::ParseResult::kNeedMore) break;
      if (result == bench::ParseResult::kBad) return kSilentBadFrame;
      used += consumed;
      if (frame.opcode == bench::kOpClose) {
        if (frame.payload.size() < 2) return 1005;  // RFC 6455: no status code present
        return (static_cast<uint8_t>(frame.payload[0]) << 8) |
               static_cast<uint8_t>(frame.payload[1]);
      }
    }
    entry.in.erase(0, used);
    if (n == 0) return kSilentEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return kSilentError;
  }
}

std::vector<SilentResult> SilentSockets::poll(double now) {
  std::vector<SilentResult> ended;
  for (size_t i = 0; i < entries_.size();) {
    Entry& entry = entries_[i];
    int code = read_entry(entry);
    if (code == 0 && now > entry.deadline) code = kSilentTimedOut;
    if (code == 0) {
      ++i;
      continue;
    }
    ended.push_back(SilentResult{entry.peer, code});
    ::close(entry.fd);
    entries_[i] = std::move(entries_.back());
    entries_.pop_back();
  }
  return ended;
}

}  // namespace soak
