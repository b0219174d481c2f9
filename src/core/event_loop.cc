#include "core/event_loop.h"

#include <time.h>

#include <cerrno>

namespace sigver {

EventLoop::EventLoop() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) { update_time(); }

void EventLoop::update_time() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  now_ms_ = static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

bool EventLoop::add(int fd, uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool EventLoop::modify(int fd, uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  return ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) == 0;
}

void EventLoop::remove(int fd) { ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

int EventLoop::poll(int timeout_ms) {
  int n = ::epoll_wait(epoll_.get(), events_, kMaxEvents, timeout_ms);
  update_time();
  if (n < 0) return errno == EINTR ? 0 : -1;
  for (int i = 0; i < n; ++i) {
    static_cast<EventHandler*>(events_[i].data.ptr)->on_events(events_[i].events);
  }
  return n;
}

}  // namespace sigver
