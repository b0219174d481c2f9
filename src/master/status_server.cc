#include "master/status_server.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "master/listeners.h"

namespace sigver {
namespace {

using Clock = std::chrono::steady_clock;

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

std::string render(const StatusResponse& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason_phrase(r.status) +
                    "\r\nContent-Type: " + r.content_type +
                    "\r\nContent-Length: " + std::to_string(r.body.size()) +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n";
  return out + r.body;
}

// A plain (not SO_REUSEPORT) listener: a second server on the same status port must fail
// loudly rather than take half of the scrapes.
bool bind_listener(const ListenAddress& address, UniqueFd& out, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* result = nullptr;
  const std::string where = format_listen_address(address);
  const std::string port = std::to_string(address.port);
  if (int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &result); rc != 0) {
    error = "cannot resolve status_listen " + where + ": " + ::gai_strerror(rc);
    return false;
  }
  UniqueFd fd(::socket(result->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int on = 1;
  const bool ok = fd && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
                  ::bind(fd.get(), result->ai_addr, result->ai_addrlen) == 0 &&
                  ::listen(fd.get(), 64) == 0;
  ::freeaddrinfo(result);
  if (!ok) {
    error = "status_listen " + where + ": " + std::strerror(errno);
    return false;
  }
  out = std::move(fd);
  return true;
}

}  // namespace

bool StatusServer::listen(const std::optional<ListenAddress>& address, std::string& error) {
  if (!address) {
    listener_.reset();
    clients_.clear();
    address_.reset();
    return true;
  }
  UniqueFd fd;
  if (!bind_listener(*address, fd, error)) return false;
  listener_ = std::move(fd);
  address_ = address;
  return true;
}

void StatusServer::adopt(UniqueFd listener, const ListenAddress& address) {
  listener_ = std::move(listener);
  clients_.clear();
  address_ = address;
}

void StatusServer::add_poll_fds(std::vector<pollfd>& fds) const {
  if (listener_) fds.push_back({listener_.get(), POLLIN, 0});
  for (const Client& c : clients_) {
    fds.push_back({c.fd.get(), static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
  }
}

int StatusServer::timeout_ms() const {
  if (clients_.empty()) return -1;
  auto first = std::min_element(clients_.begin(), clients_.end(), [](const auto& a, const auto& b) {
                 return a.deadline < b.deadline;
               })->deadline;
  auto left = std::chrono::ceil<std::chrono::milliseconds>(first - Clock::now()).count();
  return static_cast<int>(std::max<long long>(left, 0));
}

void StatusServer::on_poll(const std::vector<pollfd>& fds, size_t first) {
  size_t at = first;
  bool accept_now = false;
  if (listener_ && at < fds.size()) accept_now = (fds[at++].revents & POLLIN) != 0;
  // Entries follow clients_ in order (add_poll_fds); serve, and drop those that are done.
  std::vector<Client> kept;
  const auto now = Clock::now();
  for (Client& c : clients_) {
    const short revents = at < fds.size() ? fds[at++].revents : 0;
    if (now >= c.deadline) continue;  // too slow: dropped
    if (revents == 0 || serve(c, revents)) kept.push_back(std::move(c));
  }
  clients_ = std::move(kept);
  if (accept_now) accept_clients();
}

void StatusServer::accept_clients() {
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) return;
    if (clients_.size() >= kMaxConnections) continue;  // closed at once: busy
    Client c;
    c.fd = std::move(fd);
    c.deadline = Clock::now() + kDeadline;
    clients_.push_back(std::move(c));
  }
}

bool StatusServer::serve(Client& c, short revents) {
  if (revents & (POLLERR | POLLNVAL)) return false;
  if (c.out.empty()) {
    char buf[2048];
    const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    c.in.append(buf, static_cast<size_t>(n));
    if (c.in.find("\r\n\r\n") == std::string::npos && c.in.find("\n\n") == std::string::npos) {
      if (c.in.size() <= kMaxRequest) return true;
      c.out = render({431, "text/plain; charset=utf-8", "request too large\n"});
    } else {
      answer(c);
    }
  }
  while (c.sent < c.out.size()) {
    const ssize_t n =
        ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    c.sent += static_cast<size_t>(n);
  }
  return false;  // answered: close
}

void StatusServer::answer(Client& c) {
  // "GET /path HTTP/1.1": the method, the path without its query, nothing else matters.
  const std::string_view request = c.in;
  const std::string_view line = request.substr(0, request.find_first_of("\r\n"));
  const size_t space = line.find(' ');
  const size_t end = line.find(' ', space == std::string_view::npos ? 0 : space + 1);
  if (space == std::string_view::npos || end == std::string_view::npos ||
      !line.substr(end + 1).starts_with("HTTP/1.")) {
    c.out = render({400, "text/plain; charset=utf-8", "bad request\n"});
    return;
  }
  const std::string_view method = line.substr(0, space);
  std::string_view path = line.substr(space + 1, end - space - 1);
  path = path.substr(0, path.find('?'));
  if (method != "GET" && method != "HEAD") {
    c.out = render({405, "text/plain; charset=utf-8", "only GET\n"});
    return;
  }
  StatusResponse r = handler_(path);
  c.out = render(r);
  if (method == "HEAD") c.out.resize(c.out.size() - r.body.size());
}

}  // namespace sigver
