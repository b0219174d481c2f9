#pragma once
// A level-triggered epoll loop. Handlers are registered by pointer; the owner of a handler
// must keep it alive until the end of the current dispatch after removing its fd (freeing
// closed connections after the loop iteration, as uSockets does, keeps stale events safe).
#include <sys/epoll.h>

#include <cstdint>

#include "core/unique_fd.h"

namespace sigver {

class EventHandler {
 public:
  virtual ~EventHandler() = default;
  virtual void on_events(uint32_t events) = 0;
};

class EventLoop {
 public:
  EventLoop();
  bool ok() const { return epoll_.valid(); }

  bool add(int fd, uint32_t events, EventHandler* handler);
  bool modify(int fd, uint32_t events, EventHandler* handler);
  void remove(int fd);

  // Waits up to `timeout_ms` (-1 = forever) and dispatches what is ready. Updates now_ms()
  // after waking. Returns the number of events, or -1 on error other than EINTR.
  int poll(int timeout_ms);

  // Monotonic milliseconds, cached once per wake-up.
  uint64_t now_ms() const { return now_ms_; }
  void update_time();

 private:
  static constexpr int kMaxEvents = 256;
  UniqueFd epoll_;
  uint64_t now_ms_ = 0;
  epoll_event events_[kMaxEvents];
};

}  // namespace sigver
