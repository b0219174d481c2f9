#include "support/tls_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "support/server_process.h"

namespace sigver::itest {
namespace {

using Clock = std::chrono::steady_clock;

bool send_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool ssl_write_all(SSL* ssl, const char* data, size_t size) {
  while (size > 0) {
    const int n = SSL_write(ssl, data, static_cast<int>(size));
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string openssl_reason() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (text.empty()) text = buf;
  }
  return text;
}

}  // namespace

TlsProxy::TlsProxy(uint16_t server_port, const std::string& ca_file, const std::string& server_name)
    : server_port_(server_port), ca_file_(ca_file), server_name_(server_name) {
  ::signal(SIGPIPE, SIG_IGN);  // OpenSSL writes with write(2)
  ctx_.reset(SSL_CTX_new(TLS_client_method()));
  // Only the test CA: the intermediate must come from the server.
  if (!ctx_ || SSL_CTX_load_verify_locations(ctx_.get(), ca_file.c_str(), nullptr) != 1) return;
  SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
  // A thread woken by the server's session tickets must not then wait in SSL_read for data
  // the server sends only once the test client's request, waiting in `local`, reached it.
  SSL_CTX_clear_mode(ctx_.get(), SSL_MODE_AUTO_RETRY);
  stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd.get(), 64) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return;
  }
  port_ = ntohs(addr.sin_port);
  listener_ = std::move(fd);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TlsProxy::~TlsProxy() {
  stopping_ = true;
  if (stop_) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t ignored = ::write(stop_.get(), &one, sizeof one);
  }
  if (acceptor_.joinable()) acceptor_.join();
  for (auto& t : threads_) t.join();
}

std::vector<TlsSession> TlsProxy::sessions() const {
  std::lock_guard lock(mutex_);
  return sessions_;
}

size_t TlsProxy::session_count() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

TlsSession TlsProxy::wait_session(size_t index) const {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      const bool exists = index < sessions_.size();
      if (exists && (settled_[index] || Clock::now() >= deadline)) return sessions_[index];
      if (!exists && Clock::now() >= deadline) {
        TlsSession none;
        none.error = "no such connection";
        return none;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

TlsSession TlsProxy::last_session() const {
  const size_t count = session_count();
  return count == 0 ? TlsSession{} : wait_session(count - 1);
}

void TlsProxy::accept_loop() {
  while (!stopping_) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    UniqueFd local(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!local) continue;
    size_t index;
    {
      std::lock_guard lock(mutex_);
      index = sessions_.size();
      sessions_.emplace_back();
      settled_.push_back(false);
    }
    threads_.emplace_back(
        [this, index, fd = local.release()]() mutable { carry(UniqueFd(fd), index); });
  }
}

void TlsProxy::carry(UniqueFd local, size_t index) {
  TlsSession session;
  auto settle = [&] {
    std::lock_guard lock(mutex_);
    sessions_[index] = session;
    settled_[index] = true;
  };
  UniqueFd remote = connect_loopback(server_port_);
  session.connected = remote.valid();
  if (!remote) {
    session.error = std::string("connect: ") + std::strerror(errno);
    settle();
    return;
  }
  const int one = 1;
  ::setsockopt(remote.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Bounds every blocking TLS call, so a silent server cannot hang a test.
  timeval tv{5, 0};
  ::setsockopt(remote.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(remote.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  SslPtr ssl(SSL_new(ctx_.get()));
  SSL_set_fd(ssl.get(), remote.get());
  SSL_set_tlsext_host_name(ssl.get(), server_name_.c_str());
  SSL_set1_host(ssl.get(), server_name_.c_str());
  ERR_clear_error();
  if (SSL_connect(ssl.get()) != 1) {
    const long verify = SSL_get_verify_result(ssl.get());
    session.error = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : openssl_reason();
    if (session.error.empty()) session.error = "handshake failed";
    settle();
    return;  // closing `local` tells the plain client
  }
  session.handshake_ok = true;
  session.verified = SSL_get_verify_result(ssl.get()) == X509_V_OK;
  session.protocol = SSL_get_version(ssl.get());
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get())) {
    session.chain_length = sk_X509_num(chain);
  }
  if (X509* cert = SSL_get0_peer_certificate(ssl.get())) {
    char org[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_organizationName, org, sizeof org);
    session.peer_organization = org;
  }
  settle();

  bool local_done = false;  // the test client finished sending
  bool tls_done = false;    // the server finished sending
  char buf[16384];
  while (!stopping_ && !(local_done && tls_done)) {
    if (!tls_done && SSL_pending(ssl.get()) == 0) {
      pollfd fds[3] = {{local_done ? -1 : local.get(), POLLIN, 0},
                       {remote.get(), POLLIN, 0},
                       {stop_.get(), POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0 && errno != EINTR) break;
      if (fds[2].revents) break;
      if (fds[0].revents && !local_done) {
        const ssize_t n = ::recv(local.get(), buf, sizeof buf, 0);
        if (n > 0) {
          if (!ssl_write_all(ssl.get(), buf, static_cast<size_t>(n))) break;
        } else {
          local_done = true;  // pass the half-close on: close_notify, then FIN
          SSL_shutdown(ssl.get());
          ::shutdown(remote.get(), SHUT_WR);
        }
      }
      if (!(fds[1].revents)) continue;
    } else if (tls_done) {
      pollfd fds[2] = {{local.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0 && errno != EINTR) break;
      if (fds[1].revents) break;
      const ssize_t n = ::recv(local.get(), buf, sizeof buf, 0);
      if (n <= 0) break;
      if (!ssl_write_all(ssl.get(), buf, static_cast<size_t>(n))) break;
      continue;
    }
    ERR_clear_error();
    const int n = SSL_read(ssl.get(), buf, sizeof buf);
    if (n > 0) {
      if (!send_all(local.get(), buf, static_cast<size_t>(n))) break;
    } else if (SSL_get_error(ssl.get(), n) == SSL_ERROR_WANT_READ) {
      continue;  // a record with no data for the client (a ticket): back to poll
    } else {
      tls_done = true;  // close_notify, EOF or error: the test client sees EOF
      ::shutdown(local.get(), SHUT_WR);
    }
  }
}

std::string client_hello_bytes() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SslPtr ssl(SSL_new(ctx.get()));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);  // owned by ssl now
  SSL_set_tlsext_host_name(ssl.get(), "localhost");
  SSL_connect(ssl.get());  // writes the ClientHello, then wants the server's answer
  char* data = nullptr;
  const long size = BIO_get_mem_data(out, &data);
  return std::string(data, static_cast<size_t>(size));
}

}  // namespace sigver::itest
