#pragma once
// Peers that vanish without a word, like a browser whose laptop lid was shut: the tool stops
// reading and answering on the socket but keeps it open (a duplicate of the descriptor
// outlives the ClientLoop's copy), so the server sees neither a close frame nor a FIN and
// must end the connection by heartbeat, with 4002. These sockets are polled now and then
// (no epoll: there are only a few dozen at a time) to see that close frame arrive.
#include <cstdint>
#include <string>
#include <vector>

namespace soak {

inline constexpr int kSilentEof = -1;       // the server closed TCP without a close frame
inline constexpr int kSilentError = -2;     // recv failed (reset)
inline constexpr int kSilentBadFrame = -4;  // bytes that are no WebSocket frame
inline constexpr int kSilentTimedOut = -6;  // nothing ended it before the deadline

struct SilentResult {
  uint32_t peer = 0;
  int code = 0;  // the close frame's code, or one of the values above
};

class SilentSockets {
 public:
  SilentSockets() = default;
  ~SilentSockets();
  SilentSockets(const SilentSockets&) = delete;
  SilentSockets& operator=(const SilentSockets&) = delete;

  // Takes `fd`; `pending` holds bytes already read from it that were not a whole frame.
  void add(uint32_t peer, int fd, std::string pending, double deadline);
  // Reads what the server sent; returns (and closes) the sockets that ended or timed out.
  std::vector<SilentResult> poll(double now);
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    uint32_t peer = 0;
    int fd = -1;
    std::string in;
    double deadline = 0;
  };
  // 0 while the socket is still open and quiet, else how it ended.
  static int read_entry(Entry& entry);

  std::vector<Entry> entries_;
};

}  // namespace soak
