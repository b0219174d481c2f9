#include "client_loop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "wire.h"
#include "wire2.h"

namespace bench {
namespace {

constexpr size_t kReadBufferSize = 64 * 1024;
constexpr size_t kMaxUpgradeResponse = 16 * 1024;
constexpr int kMaxEvents = 1024;

// Generation 1's heartbeat (20 01) is generation 2's connected=true: ask the generation.
bool is_heartbeat(int generation, std::string_view payload) {
  if (payload.size() > 4) return false;  // only content (and connect) is longer
  if (generation == 2) return decode_gen2(payload).type == Gen2Message::Type::kHeartbeat;
  return decode_sigver(payload).type == SigverMessage::Type::kHeartbeat;
}

}  // namespace

ClientLoop::ClientLoop(std::string host, uint16_t port, ClientHandler& handler, TlsClient* tls)
    : host_(std::move(host)),
      port_(port),
      handler_(handler),
      tls_(tls),
      epoll_fd_(epoll_create1(EPOLL_CLOEXEC)),
      read_buffer_(kReadBufferSize) {}

ClientLoop::~ClientLoop() {
  for (auto& conn : conns_) {
    if (conn->fd >= 0) ::close(conn->fd);
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

size_t ClientLoop::connect(const std::string& source, const std::string& key_path, int generation) {
  auto owned = std::make_unique<Conn>();
  Conn& conn = *owned;
  conn.index = conns_.size();
  conn.generation = generation;
  conns_.push_back(std::move(owned));

  conn.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (conn.fd < 0) {
    conn.state = ConnState::kClosed;
    conn.close_code = kClosedByError;
    return conn.index;
  }
  const int one = 1;
  // Picks the source port at connect() time, so ports are unique per destination only and
  // several source addresses multiply the connections one server port can take.
  ::setsockopt(conn.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  ::setsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port_);
  if (inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1 ||
      inet_pton(AF_INET, host_.c_str(), &to.sin_addr) != 1 ||
      ::bind(conn.fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
    mark_closed(conn, kClosedByError);
    return conn.index;
  }
  conn.websocket_key = make_websocket_key();
  conn.out = upgrade_request(host_, port_, key_path, conn.websocket_key);
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT;
  event.data.u64 = conn.index;
  conn.writable_armed = true;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, conn.fd, &event) != 0) {
    mark_closed(conn, kClosedByError);
    return conn.index;
  }
  if (::connect(conn.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 &&
      errno != EINPROGRESS) {
    mark_closed(conn, kClosedByError);
  }
  return conn.index;
}

void ClientLoop::send_message(Conn& conn, std::string_view payload) {
  if (conn.state == ConnState::kClosed) return;
  append_client_frame(conn.out, kOpBinary, payload);
  if (conn.state == ConnState::kOpen && !conn.writable_armed) flush(conn);
}

void ClientLoop::send_raw(Conn& conn, std::string_view bytes) {
  if (conn.state == ConnState::kClosed) return;
  conn.out.append(bytes);
  if (conn.state == ConnState::kOpen && !conn.writable_armed) flush(conn);
}

void ClientLoop::close(Conn& conn) { mark_closed(conn, kClosedLocally); }

void ClientLoop::run_once(int timeout_ms) {
  epoll_event events[kMaxEvents];
  const int n = epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
  for (int i = 0; i < n; ++i) {
    Conn& conn = *conns_[events[i].data.u64];
    if (conn.state != ConnState::kClosed) on_event(conn, events[i].events);
  }
}

void ClientLoop::on_event(Conn& conn, uint32_t events) {
  if (conn.state == ConnState::kConnecting) {
    finish_connect(conn);
    return;
  }
  if (conn.state == ConnState::kTlsHandshaking) {
    continue_tls_handshake(conn);
    return;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_ready(conn);
  if (conn.state != ConnState::kClosed && (events & EPOLLOUT)) flush(conn);
}

void ClientLoop::finish_connect(Conn& conn) {
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(conn.fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) {
    mark_closed(conn, kClosedByError);
    return;
  }
  if (tls_ == nullptr) {
    conn.state = ConnState::kHandshaking;
    flush(conn);  // the upgrade request
    return;
  }
  conn.ssl = tls_->start(conn.fd);
  if (!conn.ssl) {
    mark_closed(conn, kClosedByError);
    return;
  }
  conn.state = ConnState::kTlsHandshaking;
  continue_tls_handshake(conn);
}

void ClientLoop::continue_tls_handshake(Conn& conn) {
  const int result = SSL_do_handshake(conn.ssl.get());
  if (result == 1) {
    tls_->handshake_done(conn.ssl.get());
    conn.state = ConnState::kHandshaking;
    flush(conn);  // the upgrade request
    return;
  }
  const int error = SSL_get_error(conn.ssl.get(), result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    set_writable_interest(conn, error == SSL_ERROR_WANT_WRITE);
  } else {
    ERR_clear_error();
    mark_closed(conn, kClosedByError);
  }
}

ssize_t ClientLoop::receive(Conn& conn, char* buffer, size_t size) {
  if (!conn.ssl) {
    const ssize_t n = ::recv(conn.fd, buffer, size, 0);
    if (n >= 0) return n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
  }
  size_t got = 0;
  const int result = SSL_read_ex(conn.ssl.get(), buffer, size, &got);
  if (result == 1) return static_cast<ssize_t>(got);
  switch (SSL_get_error(conn.ssl.get(), result)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return -1;
    case SSL_ERROR_ZERO_RETURN:
      return 0;
    default:
      ERR_clear_error();
      return -2;
  }
}

ssize_t ClientLoop::transmit(Conn& conn, const char* data, size_t size) {
  if (!conn.ssl) {
    const ssize_t n = ::send(conn.fd, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return n;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : -2;
  }
  size_t sent = 0;
  const int result = SSL_write_ex(conn.ssl.get(), data, size, &sent);
  if (result == 1) return static_cast<ssize_t>(sent);
  const int error = SSL_get_error(conn.ssl.get(), result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return -1;
  ERR_clear_error();
  return -2;
}

void ClientLoop::read_ready(Conn& conn) {
  // A plain socket is read once per event (epoll reports the rest); an SSL until it has
  // nothing left, since epoll cannot see what OpenSSL already holds.
  do {
    char* buffer = read_buffer_.data();
    const ssize_t n = receive(conn, buffer, read_buffer_.size());
    if (n == -1) return;
    if (n <= 0) {
      mark_closed(conn, n == 0 ? kClosedByEof : kClosedByError);
      return;
    }
    const auto got = static_cast<size_t>(n);
    size_t used = 0;
    if (conn.in.empty()) {
      // Common case: whole frames in one read, parsed straight from the shared buffer.
      if (consume(conn, buffer, got, used) && used < got) conn.in.assign(buffer + used, got - used);
    } else {
      conn.in.append(buffer, got);
      if (consume(conn, conn.in.data(), conn.in.size(), used)) conn.in.erase(0, used);
    }
    if (conn.state == ConnState::kClosed) conn.in.clear();
  } while (conn.ssl && conn.state != ConnState::kClosed);
}

bool ClientLoop::consume(Conn& conn, char* data, size_t size, size_t& used) {
  if (conn.state == ConnState::kHandshaking) {
    const std::string_view text(data, size);
    const size_t end = text.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (size > kMaxUpgradeResponse) mark_closed(conn, kClosedBadUpgrade);
      return conn.state != ConnState::kClosed;
    }
    if (!upgrade_accepted(text.substr(0, end + 2), conn.websocket_key)) {
      mark_closed(conn, kClosedBadUpgrade);
      return false;
    }
    conn.state = ConnState::kOpen;
    used = end + 4;
    handler_.on_open(*this, conn);
  }
  while (conn.state == ConnState::kOpen && used < size) {
    Frame frame;
    size_t consumed = 0;
    const ParseResult result = parse_server_frame(data + used, size - used, frame, consumed);
    if (result == ParseResult::kNeedMore) break;
    if (result == ParseResult::kBad) {
      mark_closed(conn, kClosedBadFrame);
      return false;
    }
    used += consumed;
    if (!handle_frame(conn, frame.opcode, frame.payload)) return false;
  }
  return conn.state == ConnState::kOpen;
}

bool ClientLoop::handle_frame(Conn& conn, uint8_t opcode, std::string_view payload) {
  switch (opcode) {
    case kOpClose: {
      const int code = payload.size() >= 2 ? (static_cast<uint8_t>(payload[0]) << 8) |
                                                 static_cast<uint8_t>(payload[1])
                                           : 1005;
      std::string echo;
      append_client_frame(echo, kOpClose, payload.substr(0, payload.size() >= 2 ? 2 : 0));
      transmit(conn, echo.data(), echo.size());
      mark_closed(conn, code);
      return false;
    }
    case kOpPing: {
      std::string pong;
      append_client_frame(pong, kOpPong, payload);
      send_raw(conn, pong);
      return conn.state == ConnState::kOpen;
    }
    case kOpPong:
      return true;
    default:
      if (is_heartbeat(conn.generation, payload)) {
        send_message(conn, conn.generation == 2 ? encode_gen2_heartbeat() : encode_heartbeat());
      } else {
        handler_.on_message(*this, conn, payload);
      }
      return conn.state == ConnState::kOpen;
  }
}

void ClientLoop::flush(Conn& conn) {
  while (!conn.out.empty()) {
    const ssize_t n = transmit(conn, conn.out.data(), conn.out.size());
    if (n == -1) break;
    if (n < 0) {
      mark_closed(conn, kClosedByError);
      return;
    }
    conn.out.erase(0, static_cast<size_t>(n));
  }
  set_writable_interest(conn, !conn.out.empty());
}

void ClientLoop::set_writable_interest(Conn& conn, bool armed) {
  if (conn.writable_armed == armed) return;
  epoll_event event{};
  event.events = EPOLLIN | (armed ? EPOLLOUT : 0u);
  event.data.u64 = conn.index;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, conn.fd, &event);
  conn.writable_armed = armed;
}

void ClientLoop::mark_closed(Conn& conn, int code) {
  if (conn.state == ConnState::kClosed) return;
  // No close_notify: the TCP close ends it, as in ws://. Marked as shut down all the same,
  // or OpenSSL would refuse to resume its session (a browser's tab closing sends one).
  if (conn.ssl) SSL_set_shutdown(conn.ssl.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  conn.ssl.reset();
  if (conn.fd >= 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn.fd, nullptr);
    ::close(conn.fd);
    conn.fd = -1;
  }
  conn.state = ConnState::kClosed;
  if (conn.close_code == 0) conn.close_code = code;
  conn.out.clear();
  conn.out.shrink_to_fit();
  handler_.on_closed(*this, conn);
}

uint64_t raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);
  getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

}  // namespace bench
