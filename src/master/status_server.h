#pragma once
// The operators' HTTP/1.1 listener ([server] status_listen), served by the master inside its
// poll loop: non-blocking, one request per connection (answered, then closed), a bounded
// number of connections and bytes, and a deadline for each, so a slow or hostile client can
// never hold up the master's signals and workers. The answers come from a callback; this
// class knows HTTP only.
#include <poll.h>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/unique_fd.h"

namespace sigver {

struct StatusResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class StatusServer {
 public:
  using Handler = std::function<StatusResponse(std::string_view path)>;
  static constexpr size_t kMaxConnections = 32;
  static constexpr size_t kMaxRequest = 8192;
  static constexpr std::chrono::seconds kDeadline{5};

  explicit StatusServer(Handler handler) : handler_(std::move(handler)) {}

  // Binds `address` (replacing the current listener), or closes it with nullopt.
  bool listen(const std::optional<ListenAddress>& address, std::string& error);
  // Serves a socket already bound to `address` (inherited from an old master on upgrade).
  void adopt(UniqueFd listener, const ListenAddress& address);
  bool listening() const { return listener_.valid(); }
  int listener_fd() const { return listener_.get(); }  // -1 when not listening
  const std::optional<ListenAddress>& address() const { return address_; }

  // Poll integration: appends what to wait for; then handles what poll() reported in the
  // entries it appended (starting at `first`).
  void add_poll_fds(std::vector<pollfd>& fds) const;
  void on_poll(const std::vector<pollfd>& fds, size_t first);
  // Milliseconds until the next connection deadline (-1 = none).
  int timeout_ms() const;

 private:
  struct Client {
    UniqueFd fd;
    std::string in;
    std::string out;
    size_t sent = 0;
    std::chrono::steady_clock::time_point deadline;
  };
  void accept_clients();
  // False when the client is done (answered and sent, or failed).
  bool serve(Client& client, short revents);
  void answer(Client& client);

  Handler handler_;
  UniqueFd listener_;
  std::optional<ListenAddress> address_;
  std::vector<Client> clients_;
};

}  // namespace sigver
