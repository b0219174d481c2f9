#include "worker/worker_loop.h"

#include <dirent.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "worker/connection_log.h"
#include "worker/worker.h"

namespace sigver {
namespace {

constexpr size_t kScratchSize = 64 * 1024;
constexpr int kAcceptBatch = 128;  // accepts per wake-up per listener: keeps loops fair
constexpr int kReadRounds = 4;     // reads per readable event before serving others
constexpr uint64_t kAcceptPauseMs = 100;
// Descriptors a TLS client may need: its socket, and a relay's socketpair should its key
// belong to another worker (one end stays, the other leaves with the handoff).
constexpr size_t kTlsDescriptors = 3;
// Descriptors kept free for what a queue message may bring (up to kChannelMaxFds) and for
// the loop itself; less under a small open-file limit, where messages carry few.
size_t inbox_reserve(size_t open_file_limit) {
  return std::clamp<size_t>(open_file_limit / 16, 16, kChannelMaxFds + 32);
}

uint64_t random_seed() {
  uint64_t seed = 0;
  if (::getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = static_cast<uint64_t>(::getpid());
  return seed;
}

uint64_t seconds_to_ms(double s) { return static_cast<uint64_t>(s * 1000.0 + 0.5); }

MuxSettings mux_settings(const Config& config) {
  MuxSettings s;
  s.generation1 = config.generation1;
  s.generation2 = config.generation2;
  s.heartbeat_interval_ms = seconds_to_ms(config.heartbeat_interval);
  // Detection ends before the first heartbeat is due: until then the client is sent
  // nothing (each generation reads the other's heartbeat as something else).
  s.detect_max_ms = std::min(seconds_to_ms(config.detect_timeout_max), s.heartbeat_interval_ms / 2);
  s.detect_min_ms = std::min(seconds_to_ms(config.detect_timeout_min), s.detect_max_ms);
  s.protocol.heartbeat_misses = config.heartbeat_misses;
  s.protocol.max_key_length = config.max_key_length;
  s.protocol.max_peers_per_key = config.max_peers_per_key;
  return s;
}

// An idle worker still wakes this often, so that /health sees it make progress.
constexpr uint64_t kProgressMs = 500;

WorkerStats& stats_page(WorkerSetup& setup, std::unique_ptr<WorkerStats>& own) {
  if (setup.stats) {
    if (WorkerStats* page = setup.stats->worker(setup.index)) return *page;
  }
  own = std::make_unique<WorkerStats>();
  return *own;
}

size_t count_open_descriptors() {
  size_t count = 0;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (const dirent* entry = ::readdir(dir)) count += entry->d_name[0] != '.';
    ::closedir(dir);
    if (count > 0) --count;  // the directory's own descriptor
  }
  return count;
}

}  // namespace

class Worker::Listener final : public EventHandler {
 public:
  Listener(Worker& worker, int fd, bool tls) : worker_(worker), fd_(fd), tls_(tls) {
    // Accepted sockets inherit it: one system call here instead of one per connection.
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  void on_events(uint32_t) override {
    if (!closed_) worker_.accept_from(fd_.get(), tls_);
  }
  // Closed during this loop iteration: events already fetched for it are ignored, and the
  // object (with its socket) lives until the iteration ends.
  void close() { closed_ = true; }
  int fd() const { return fd_.get(); }
  bool tls() const { return tls_; }

 private:
  Worker& worker_;
  UniqueFd fd_;
  bool tls_;  // accepted sockets speak TLS: terminate it before the plain path
  bool closed_ = false;
};

class Worker::SignalSource final : public EventHandler {
 public:
  SignalSource(Worker& worker, UniqueFd fd) : worker_(worker), fd_(std::move(fd)) {}
  void on_events(uint32_t) override {
    signalfd_siginfo info;
    while (::read(fd_.get(), &info, sizeof info) == sizeof info) {
      worker_.on_signal(static_cast<int>(info.ssi_signo));
    }
  }
  int fd() const { return fd_.get(); }

 private:
  Worker& worker_;
  UniqueFd fd_;
};

class Worker::Inbox final : public EventHandler {
 public:
  explicit Inbox(Worker& worker) : worker_(worker) {}
  void on_events(uint32_t) override { worker_.receive_queue(); }

 private:
  Worker& worker_;
};

void Connection::on_events(uint32_t events) { worker.on_connection_events(*this, events); }

Worker::Worker(WorkerSetup& setup)
    : setup_(setup),
      stats_(stats_page(setup, own_stats_)),
      config_(setup.config),
      protocols_(*this, random_seed()),
      limits_(setup.index, setup.clients),
      scratch_(std::make_unique_for_overwrite<char[]>(kScratchSize)) {}

Worker::~Worker() = default;

int run_worker(WorkerSetup& setup) {
  Worker worker(setup);
  return worker.run();
}

bool Worker::start() {
  // Queues of slow peers are the only large blocks a worker allocates. A fixed threshold
  // (glibc otherwise raises it after each free) keeps them in their own mappings, returned
  // to the system when freed, so resident memory follows the accounted totals instead of
  // keeping the heap's high-water mark.
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  if (!loop_.ok()) {
    LOG_CRIT("epoll_create1() failed: %s", std::strerror(errno));
    return false;
  }
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&mask, s);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // USR2 is the master's (a binary upgrade); `systemctl kill -s USR2` sends it to us too.
  ::signal(SIGUSR2, SIG_IGN);
  UniqueFd sfd(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!sfd) {
    LOG_CRIT("signalfd() failed: %s", std::strerror(errno));
    return false;
  }
  signals_ = std::make_unique<SignalSource>(*this, std::move(sfd));
  loop_.add(signals_->fd(), EPOLLIN, signals_.get());
  if (setup_.inbox >= 0) {
    inbox_ = std::make_unique<Inbox>(*this);
    if (!loop_.add(setup_.inbox, EPOLLIN, inbox_.get())) {
      LOG_CRIT("epoll_ctl(handoff queue) failed: %s", std::strerror(errno));
      return false;
    }
  }
  apply_limits();
  open_access_log();
  if (!setup_.tls_listeners.empty()) {
    tls_ =
        std::make_unique<TlsTerminator>(loop_, [this](UniqueFd tcp, SslPtr ssl, uint32_t client) {
          add_tls_connection(std::move(tcp), std::move(ssl), client);
        });
    tls_->set_timeouts(config_.handshake_timeout, config_.close_timeout);
    tls_->set_limits(&limits_);
    std::string error;
    if (!tls_->start(setup_.tls, error)) {
      LOG_CRIT("worker %d: TLS: %s", setup_.index, error.c_str());
      return false;
    }
  }
  for (const auto* fds : {&setup_.listeners, &setup_.tls_listeners}) {
    for (int fd : *fds) {
      listeners_.push_back(std::make_unique<Listener>(*this, fd, fds == &setup_.tls_listeners));
      if (!loop_.add(fd, EPOLLIN, listeners_.back().get())) {
        LOG_CRIT("epoll_ctl(listener) failed: %s", std::strerror(errno));
        return false;
      }
    }
  }
  if (setup_.hold_accepting) {
    // A binary upgrade has not committed yet (worker_handover.h).
    handover_.fallback_outboxes = setup_.fallback_outboxes;
    handover_.fallback_count = setup_.fallback_count;
    pause_accepting(kHeldForUpgrade);
  }
  base_descriptors_ = count_open_descriptors();
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    open_file_limit_ = files.rlim_cur;
  }
  return true;
}

int Worker::run() {
  if (!start()) return 2;
  WorkerStats::set(stats_.pid, static_cast<uint64_t>(::getpid()));
  LOG_INFO("worker %d started", setup_.index);
  while (running_) {
    loop_.poll(next_timeout_ms());
    close_overflowed();
    run_timers();
    if (!parked_.empty()) retry_parked();
    if (!read_again_.empty()) read_pending_again();
    if (!migrations_.empty()) finish_migrations(true);
    if (handover_.returning) return_groups_when_ready();
    close_overflowed();
    flush_all();
    // What is still queued now is what the kernel would not take: the peers that do not
    // read. Closing them frees memory at once.
    if (over_memory()) enforce_memory();
    update_accepting();
    update_inbox();
    limits_.log().tick(loop_.now_ms());
    publish_stats();
    std::erase_if(read_again_, [](Connection* c) { return c->state == ConnState::kClosed; });
    graveyard_.clear();
    closed_listeners_.clear();
    if (tls_) tls_->end_iteration();
    if (retire_listeners_at_ms_ != 0 && loop_.now_ms() >= retire_listeners_at_ms_) {
      retire_listeners_at_ms_ = 0;
      drain_listeners();
      close_listeners(false);
      accepting_ = false;
    }
    // TLS relays outlive their plain side briefly: they still carry its last bytes. A
    // retired worker's listeners must be closed first (see worker_migrate.cc).
    const bool drained = conns_.empty() && (!tls_ || tls_->idle()) && retire_listeners_at_ms_ == 0;
    if (stopping_ && (drained || loop_.now_ms() >= stop_deadline_ms_)) running_ = false;
  }
  LOG_INFO("worker %d exiting (connections handed off: %llu sent, %llu received)", setup_.index,
           static_cast<unsigned long long>(handoffs_sent_),
           static_cast<unsigned long long>(handoffs_received_));
  return exit_code_;
}

// ---- accepting ----

bool Worker::accept_from(int listen_fd, bool tls, bool draining) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    if (!draining && held_connections() >= limits_.max_connections()) {
      update_accepting();
      return false;
    }
    sockaddr_storage address{};
    socklen_t address_size = sizeof address;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&address), &address_size,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        LOG_WARN("accept4() failed: %s; pausing new connections for %llu ms", std::strerror(errno),
                 static_cast<unsigned long long>(kAcceptPauseMs));
        pause_accepting(loop_.now_ms() + kAcceptPauseMs);
        return false;
      }
      LOG_ERROR("accept4() failed: %s", std::strerror(errno));
      return false;
    }
    ClientCounts::Ticket client = ClientCounts::kNotCounted;
    if (!limits_.admit(reinterpret_cast<const sockaddr*>(&address), client, loop_.now_ms())) {
      if (tls) {
        // Refused before the TLS handshake: a 503 would first cost us that handshake, the
        // very work a flood from one address wants us to do. A browser shows both alike.
        ::close(fd);
      } else {
        refuse(add_connection(Transport(fd)), ws::UpgradeStatus::kUnavailable,
               "too many connections from your address, retry later");
      }
      continue;
    }
    WorkerStats::add(stats_.accepted);
    if (tls) {
      // Refused now, for the price of an accept, rather than after a whole TLS handshake
      // when no descriptor is left for the connection (and, should its key belong to
      // another worker, for a relay's socketpair). The others wait in the backlog a moment.
      if (open_file_limit_ != 0 && descriptors_in_use() + kTlsDescriptors > open_file_limit_) {
        ::close(fd);
        limits_.release(client);
        char what[160];
        std::snprintf(what, sizeof what,
                      "%zu of %zu descriptors in use: a TLS client closed before its handshake",
                      descriptors_in_use(), open_file_limit_);
        limits_.log().hit(Limit::kConnections, loop_.now_ms(), what);
        pause_accepting(loop_.now_ms() + kAcceptPauseMs);
        return false;
      }
      // It comes back through add_tls_connection() once its handshake is done.
      tls_->accept(fd, client);
    } else {
      add_connection(Transport(fd), client, true);
    }
  }
  return true;
}

void Worker::add_listener(int fd, bool tls) {
  listeners_.push_back(std::make_unique<Listener>(*this, fd, tls));
  if (accepting_ && !loop_.add(fd, EPOLLIN, listeners_.back().get())) {
    LOG_ERROR("epoll_ctl(listener) failed: %s", std::strerror(errno));
  }
}

void Worker::drain_listeners() {
  for (auto& l : listeners_) {
    for (int round = 0; round < 1024 && accept_from(l->fd(), l->tls(), true); ++round) {
    }
  }
}

void Worker::close_listeners(bool keep_tls) {
  std::vector<std::unique_ptr<Listener>> kept;
  for (auto& l : listeners_) {
    if (keep_tls && l->tls()) {
      kept.push_back(std::move(l));
      continue;
    }
    loop_.remove(l->fd());
    l->close();
    // Freed (and its socket closed) once the events of this iteration were dispatched.
    closed_listeners_.push_back(std::move(l));
  }
  listeners_ = std::move(kept);
}

void Worker::pause_accepting(uint64_t resume_at_ms) {
  if (!accepting_) return;
  accepting_ = false;
  accept_resume_ms_ = resume_at_ms;
  for (auto& l : listeners_) loop_.remove(l->fd());
}

void Worker::resume_accepting() {
  if (accepting_ || stopping_) return;
  accepting_ = true;
  for (auto& l : listeners_) loop_.add(l->fd(), EPOLLIN, l.get());
}

Connection& Worker::add_connection(Transport transport, ClientCounts::Ticket client,
                                   bool read_now) {
  auto conn = std::make_unique<Connection>(*this, std::move(transport), config_.max_message_size);
  Connection& c = *conn;
  c.slot = static_cast<uint32_t>(conns_.size());
  c.client = client;
  c.number = ++connection_numbers_;
  conns_.push_back(std::move(conn));
  ++pending_handshakes_;
  handshake_timers_.push(c, loop_.now_ms() + seconds_to_ms(config_.handshake_timeout));
  if (access_log_.enabled()) start_record(c);
  bound_pending_handshakes();
  if (c.state == ConnState::kClosed) return c;
  // The request usually arrives right behind the connection (or with the TLS handshake's
  // last flight, which OpenSSL read ahead): read it now, and register with epoll only if
  // the connection stays here. One handed off at once never costs an epoll_ctl.
  if (read_now) on_readable(c);
  if (c.state != ConnState::kClosed && !c.polled && !c.parked) watch(c, EPOLLIN);
  return c;
}

bool Worker::watch(Connection& c, uint32_t events) {
  const int fd = c.transport.fd();
  if (c.polled) return loop_.modify(fd, events, &c);
  if (!loop_.add(fd, events, &c)) {
    CONN_WARN(c, "epoll_ctl(ADD) failed: %s; closing it", std::strerror(errno));
    destroy(c);
    return false;
  }
  c.polled = true;
  return true;
}

void Worker::add_tls_connection(UniqueFd tcp, SslPtr ssl, ClientCounts::Ticket client) {
  add_connection(Transport(std::move(tcp), std::move(ssl)), client, true);
}

bool Worker::relay_tls(Connection& c) {
  if (!c.transport.tls()) return true;
  UniqueFd tcp = c.transport.take_fd();
  SslPtr ssl = c.transport.take_ssl();
  const bool was_polled = c.polled;
  if (c.polled) loop_.remove(tcp.get());
  c.polled = false;
  UniqueFd plain = tls_->start_relay(tcp, ssl, c.client, c.out.view());
  if (!plain) {
    const int err = errno;
    if (tcp) {
      c.transport = Transport(std::move(tcp), std::move(ssl));  // back as it was
      if (was_polled) watch(c, c.writing ? EPOLLIN | EPOLLOUT : EPOLLIN);
    }
    CONN_WARN(c, "cannot relay a TLS connection to another worker: %s", std::strerror(err));
    return false;
  }
  // The relay writes what was queued (before what B brings) and counts the client now.
  c.out.release();
  c.out_to_frame = 0;
  c.client = ClientCounts::kNotCounted;
  c.transport = Transport(plain.release());
  c.writing = false;
  // Not registered: it leaves at once (or is parked, which registers it).
  return true;
}

size_t Worker::descriptors_in_use() const {
  return base_descriptors_ + conns_.size() + (tls_ ? tls_->descriptors() : 0);
}

void Worker::update_inbox() {
  if (setup_.inbox < 0 || open_file_limit_ == 0) return;
  const size_t in_use = descriptors_in_use();
  if (!inbox_paused_ && in_use + inbox_reserve(open_file_limit_) > open_file_limit_) {
    char what[128];
    std::snprintf(what, sizeof what,
                  "%zu of %zu descriptors in use; handoffs wait in the queue until some end",
                  in_use, open_file_limit_);
    limits_.log().hit(Limit::kConnections, loop_.now_ms(), what);
    inbox_paused_ = true;
    loop_.remove(setup_.inbox);
  } else if (inbox_paused_ && in_use + 2 * inbox_reserve(open_file_limit_) <= open_file_limit_) {
    inbox_paused_ = false;
    loop_.add(setup_.inbox, EPOLLIN, inbox_.get());
  }
}

// ---- reading and writing ----

void Worker::on_connection_events(Connection& c, uint32_t events) {
  if (c.state == ConnState::kClosed) return;  // closed earlier in this dispatch
  if (c.parked) {
    // Not reading while it waits for a handoff; only a dead socket matters.
    if (events & (EPOLLERR | EPOLLHUP)) {
      unpark(c);
      destroy(c);
    }
    return;
  }
  if (events & EPOLLOUT) on_writable(c);
  if (c.state == ConnState::kClosed) return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
}

void Worker::on_readable(Connection& c) {
  for (int round = 0; round < kReadRounds && c.state != ConnState::kClosed; ++round) {
    // Over a memory total nothing more is read (the bytes wait in the kernel) until the end
    // of this iteration has closed the peers responsible: the totals overshoot by at most
    // one read.
    if (over_memory()) return;
    // The rest of a partial frame is read straight behind it in the connection's buffer;
    // everything else lands in the shared scratch buffer, and only what must be kept (a
    // request, a partial frame) is copied out at its exact size: thousands of peers joining
    // at once then never hold a large read buffer each.
    const bool own = c.state == ConnState::kOpen && !c.in.empty();
    const size_t room = own ? 16 * 1024 : kScratchSize;
    char* buf = own ? c.in.prepare(room) : scratch_.get();
    const Transport::Result r = c.transport.read(buf, room);
    if (r.bytes == 0) {
      switch (r.status) {
        case Transport::Status::kOk:
        case Transport::Status::kWouldBlock:
          // A TLS read may wait for writability (OpenSSL must send something first).
          if (c.transport.read_waits_for_write()) arm_writable(c);
          return;
        case Transport::Status::kEof:
          CONN_DEBUG(c, "peer closed the connection");
          break;
        case Transport::Status::kError:
          CONN_DEBUG(c, "%s failed: %s", c.transport.tls() ? "TLS read" : "recv()",
                     c.transport.tls() ? "TLS error" : std::strerror(errno));
          break;
      }
      note_end(c, 'c', 0);
      destroy(c);
      return;
    }
    const size_t got = r.bytes;
    if (c.record) c.record->bytes_in += got;
    switch (c.state) {
      case ConnState::kHandshake:
        c.in.append(buf, got);
        handle_handshake(c);
        break;
      case ConnState::kOpen:
        if (own) {
          c.in.commit(got);
          feed_frames(c, c.in.data(), c.in.size(), true);
        } else {
          feed_frames(c, buf, got, false);
        }
        break;
      case ConnState::kClosing:
        break;  // waiting for the peer to finish: its bytes no longer matter
      case ConnState::kClosed:
        return;
    }
    // Drained, unless OpenSSL still holds bytes (then the next round takes them).
    if (got < room && !c.transport.read_pending()) return;
  }
  // Stopped by the round limit: what the kernel holds is reported again by epoll, what
  // OpenSSL holds is not.
  if (c.state != ConnState::kClosed && c.transport.read_pending()) {
    read_again_.push_back(&c);
  }
}

void Worker::read_pending_again() {
  std::vector<Connection*> waiting;
  waiting.swap(read_again_);
  for (Connection* c : waiting) {
    if (c->state != ConnState::kClosed && !c->parked) on_readable(*c);
  }
}

void Worker::arm_writable(Connection& c) {
  if (c.writing) return;
  c.writing = true;
  watch(c, EPOLLIN | EPOLLOUT);
}

void Worker::on_writable(Connection& c) {
  const bool read_waits = c.transport.read_waits_for_write();
  flush(c);
  if (read_waits && c.state != ConnState::kClosed) on_readable(c);
}

void Worker::mark_dirty(Connection& c) {
  if (c.dirty) return;
  c.dirty = true;
  dirty_.push_back(&c);
}

void Worker::flush_all() {
  // Index loop: flushing never adds to the list, but stays safe if it did.
  for (size_t i = 0; i < dirty_.size(); ++i) {
    Connection& c = *dirty_[i];
    c.dirty = false;
    if (c.state != ConnState::kClosed) flush(c);
  }
  dirty_.clear();
}

void Worker::flush(Connection& c) {
  while (!c.out.empty()) {
    const Transport::Result r = c.transport.write(c.out.data(), c.out.size());
    const auto n = static_cast<ssize_t>(r.bytes);
    if (n > 0) {
      if (c.record) c.record->bytes_out += static_cast<size_t>(n);
      if (static_cast<size_t>(n) < c.out.size()) {
        advance_frame_boundary(c, static_cast<size_t>(n));
      } else {
        c.out_to_frame = 0;  // all sent: whatever comes next starts a frame
      }
      c.out.consume(static_cast<size_t>(n));
      continue;
    }
    if (r.status == Transport::Status::kWouldBlock) {
      arm_writable(c);
      return;
    }
    CONN_DEBUG(c, "%s failed: %s", c.transport.tls() ? "TLS write" : "send()",
               c.transport.tls() ? "TLS error" : std::strerror(errno));
    destroy(c);
    return;
  }
  if (c.writing && !c.transport.read_waits_for_write()) {
    c.writing = false;
    watch(c, EPOLLIN);
  }
  if (c.state == ConnState::kClosing) {
    if (c.close_after_flush) {
      destroy(c);
    } else if (!c.shut_down) {
      // Our close frame (or HTTP error) is out: half-close and wait for the peer's EOF, so
      // unread bytes on our side never turn into a reset that eats that last message.
      c.shut_down = true;
      c.transport.shutdown_write();
    }
  }
}

// ---- PeerOutput ----

char* Worker::begin_message(Peer& to, size_t size) {
  auto& c = static_cast<Connection&>(to);
  if (c.state != ConnState::kOpen || c.overflowed) return nullptr;
  if (c.out.size() + size > config_.max_outbound) {
    c.overflowed = true;
    overflowed_.push_back(&c);
    return nullptr;
  }
  char* p = c.out.prepare(ws::kMaxFrameHeader + size);
  return p + ws::write_frame_header(p, ws::Opcode::kBinary, size);
}

void Worker::end_message(Peer& to, size_t size) {
  auto& c = static_cast<Connection&>(to);
  c.out.commit(ws::frame_header_size(size) + size);
  if (c.record) ++c.record->messages_out;
  mark_dirty(c);
}

void Worker::close(Peer& peer, uint16_t code, std::string_view reason) {
  CONN_INFO(static_cast<Connection&>(peer), "protocol closes the peer with %u: %.*s", code,
            static_cast<int>(reason.size()), reason.data());
  // Every generation answers a full group with 1013 (Try Again Later).
  if (code == ws::close_code::kTryAgainLater) {
    char what[96];
    std::snprintf(what, sizeof what, "a key has %u peers; closing the next one with 1013",
                  config_.max_peers_per_key);
    limits_.log().hit(Limit::kPeersPerKey, loop_.now_ms(), what);
  }
  close_with(static_cast<Connection&>(peer), code, reason);
}

uint32_t Worker::round_trip_us(Peer& peer) {
  tcp_info info{};
  socklen_t size = sizeof info;
  // A TLS client's connection here is the relay's socketpair: no TCP_INFO, so 0 (unknown).
  if (::getsockopt(static_cast<Connection&>(peer).transport.fd(), IPPROTO_TCP, TCP_INFO, &info,
                   &size) != 0) {
    return 0;
  }
  return info.tcpi_rtt;
}

void Worker::close_overflowed() {
  for (size_t i = 0; i < overflowed_.size(); ++i) {
    Connection& c = *overflowed_[i];
    if (c.state != ConnState::kOpen) continue;
    CONN_INFO(c, "peer does not read: outbound queue over %llu bytes, closing it",
              static_cast<unsigned long long>(config_.max_outbound));
    if (drop_unsent(c)) {
      close_with(c, ws::close_code::kPolicyViolation, "outbound queue over limit");
    } else {
      note_end(c, 's', ws::close_code::kPolicyViolation);
      destroy(c);
    }
  }
  overflowed_.clear();
}

// ---- closing ----

void Worker::leave_handshake(Connection& c) {
  if (c.state == ConnState::kHandshake) --pending_handshakes_;
}

void Worker::begin_closing(Connection& c) {
  leave_handshake(c);
  c.state = ConnState::kClosing;
  c.in.release();
  c.reader = ws::FrameReader(config_.max_message_size);
  closing_timers_.push(c, loop_.now_ms() + seconds_to_ms(config_.close_timeout));
  mark_dirty(c);
}

void Worker::destroy(Connection& c) {
  if (c.state == ConnState::kClosed) return;
  if (c.parked) unpark(c);
  protocols_.leave(c);
  end_record(c);
  leave_handshake(c);
  limits_.release(c.client);
  c.client = ClientCounts::kNotCounted;
  DeadlineQueue::remove(c);
  // Deregister explicitly: after a handoff the socket is still open in another process,
  // and epoll keeps reporting an open file description until every copy is closed.
  if (c.polled) loop_.remove(c.transport.fd());
  c.polled = false;
  c.transport.reset();
  c.state = ConnState::kClosed;
  c.in.release();
  c.out.release();
  // Swap-remove from the table; keep the object alive until the iteration ends.
  const uint32_t slot = c.slot;
  graveyard_.push_back(std::move(conns_[slot]));
  if (slot + 1 != conns_.size()) {
    conns_[slot] = std::move(conns_.back());
    conns_[slot]->slot = slot;
  }
  conns_.pop_back();
}

// ---- timers ----

int Worker::next_timeout_ms() {
  uint64_t next = UINT64_MAX;
  for (DeadlineQueue* q :
       {&handshake_timers_, &heartbeat_timers_, &protocol_timers_, &closing_timers_}) {
    if (DeadlineNode* n = q->front()) next = std::min(next, n->deadline_ms);
  }
  if (tls_) next = std::min(next, tls_->next_deadline_ms());
  if (!read_again_.empty()) next = loop_.now_ms();
  next = std::min(next, limits_.log().next_deadline_ms());
  if (!accepting_ && !stopping_) next = std::min(next, accept_resume_ms_);
  if (stopping_) next = std::min(next, stop_deadline_ms_);
  if (retire_listeners_at_ms_ != 0) next = std::min(next, retire_listeners_at_ms_);
  next = std::min(next, loop_.now_ms() + kProgressMs);
  // Parked handoffs and arriving groups are retried / checked on a short period.
  if (!parked_.empty() || !migrations_.empty() || handover_.returning) {
    next = std::min(next, loop_.now_ms() + 5);
  }
  if (next == UINT64_MAX) return -1;
  const uint64_t now = loop_.now_ms();
  return next <= now ? 0 : static_cast<int>(std::min<uint64_t>(next - now, 60000));
}

void Worker::run_timers() {
  const uint64_t now = loop_.now_ms();
  while (DeadlineNode* n = handshake_timers_.pop_expired(now)) {
    auto& c = static_cast<Connection&>(*n);
    CONN_DEBUG(c, "handshake not finished in time, closing it");
    WorkerStats::add(stats_.upgrades_failed[static_cast<size_t>(UpgradeFailure::kTimeout)]);
    note_end(c, 's', 0);
    destroy(c);
  }
  while (DeadlineNode* n = closing_timers_.pop_expired(now)) {
    destroy(static_cast<Connection&>(*n));
  }
  while (DeadlineNode* n = heartbeat_timers_.pop_expired(now)) {
    protocol_tick(static_cast<Connection&>(*n));
  }
  while (DeadlineNode* n = protocol_timers_.pop_expired(now)) {
    protocol_tick(static_cast<Connection&>(*n));
  }
  if (tls_) tls_->run_timers(now);
  if (!accepting_ && now >= accept_resume_ms_) resume_accepting();
}

void Worker::protocol_tick(Connection& c) {
  if (c.state != ConnState::kOpen) return;
  const uint64_t next = protocols_.tick(c);
  if (c.state == ConnState::kOpen) arm_protocol_timer(c, next);
}

void Worker::arm_protocol_timer(Connection& c, uint64_t delay_ms) {
  if (protocols_.ticks_periodically(c)) {
    heartbeat_timers_.push(c, loop_.now_ms() + delay_ms);
  } else {
    protocol_timers_.insert(c, loop_.now_ms() + delay_ms);
  }
}

// ---- signals, reload, stop ----

void Worker::on_signal(int signo) {
  switch (signo) {
    case SIGHUP:
      reload();
      break;
    case SIGUSR1: {
      std::string error;
      if (!log::reopen(error)) LOG_ERROR("%s", error.c_str());
      if (!access_log_.reopen(error)) LOG_ERROR("%s", error.c_str());
      break;
    }
    case SIGQUIT:
      if (return_on_stop()) break;
      begin_graceful_stop();
      break;
    case SIGTERM:
    case SIGINT:
      // A new worker whose master failed before the upgrade committed (also when it died:
      // PR_SET_PDEATHSIG) gives the old workers their groups back first.
      if (return_on_stop()) break;
      LOG_INFO("worker %d: fast stop", setup_.index);
      running_ = false;
      break;
    default:
      break;
  }
}

void Worker::reload() {
  if (!setup_.reload_config) return;
  Config fresh;
  std::string error;
  if (!setup_.reload_config(fresh, error)) {
    LOG_ERROR("reload failed, keeping the old configuration: %s", error.c_str());
    return;
  }
  // The listen address and worker count belong to the master; everything else changes here.
  fresh.listen = config_.listen;
  fresh.listen_tls = config_.listen_tls;
  fresh.listen_speaks_tls = config_.listen_speaks_tls;
  fresh.worker_processes = config_.worker_processes;
  config_ = fresh;
  // Certificates come from the master (kTlsMaterial), which reads and checks the files.
  if (tls_) tls_->set_timeouts(config_.handshake_timeout, config_.close_timeout);
  log::Level level;
  if (log::parse_level(config_.log_level, level)) log::set_level(level);
  apply_limits();
  open_access_log();
  LOG_NOTICE("worker %d: configuration reloaded", setup_.index);
}

void Worker::apply_limits() {
  limits_.configure(config_);
  protocols_.configure(mux_settings(config_));
  for (auto& c : conns_) c->reader.set_max_message_size(config_.max_message_size);
  // A shorter heartbeat interval applies at once rather than after the old period.
  heartbeat_timers_.clamp(loop_.now_ms() + seconds_to_ms(config_.heartbeat_interval));
}

void Worker::begin_graceful_stop() {
  // A retired worker (no deadline, still relaying TLS) is stopped for real by QUIT.
  if (stopping_ && stop_deadline_ms_ != kNoDeadline) return;
  LOG_INFO("worker %d: graceful stop, closing %zu connections", setup_.index, conns_.size());
  stopping_ = true;
  stop_deadline_ms_ = loop_.now_ms() + seconds_to_ms(config_.close_timeout) + 1000;
  close_listeners();
  retire_listeners_at_ms_ = 0;
  accepting_ = false;
  if (tls_) tls_->begin_stop();
  // Copy: closing may destroy (and so swap-remove) connections.
  std::vector<Connection*> all;
  all.reserve(conns_.size());
  for (auto& c : conns_) all.push_back(c.get());
  for (Connection* c : all) {
    if (c->state == ConnState::kOpen) {
      close_with(*c, ws::close_code::kGoingAway, "server shutting down");
    } else if (c->state == ConnState::kHandshake) {
      destroy(*c);
    }
  }
}

}  // namespace sigver
