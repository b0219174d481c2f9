#include "worker/tls_terminator.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "core/log.h"

namespace sigver {
namespace {

uint64_t seconds_to_ms(double s) { return static_cast<uint64_t>(s * 1000.0 + 0.5); }

}  // namespace

TlsTerminator::TlsTerminator(EventLoop& loop, EstablishedSink sink)
    : loop_(loop),
      sink_(std::move(sink)),
      scratch_(std::make_unique_for_overwrite<char[]>(kScratchSize)) {}

TlsTerminator::~TlsTerminator() = default;

bool TlsTerminator::start(const TlsMaterial& material, std::string& error) {
  TlsContextInfo info;
  ctx_ = create_tls_context(material, error, &info);
  if (!ctx_) return false;
  if (!material.tickets.empty() && !tickets_.install(material.tickets)) {
    LOG_ERROR("malformed session ticket keys from the master: no tickets");
  }
  tickets_.apply(ctx_.get());
  for (const std::string& warning : info.warnings) LOG_WARN("%s", warning.c_str());
  return true;
}

void TlsTerminator::update(const TlsMaterial& material) {
  std::string error;
  TlsContextInfo info;
  SslCtxPtr fresh = create_tls_context(material, error, &info);
  if (!fresh) {
    LOG_ERROR("new TLS certificate not used, keeping the old one: %s", error.c_str());
    return;
  }
  if (!material.tickets.empty() && !tickets_.install(material.tickets)) {
    LOG_ERROR("malformed session ticket keys from the master: keeping the old ones");
  }
  tickets_.apply(fresh.get());
  // Live connections hold their own reference to the old context.
  ctx_ = std::move(fresh);
  LOG_INFO("TLS certificate loaded for new connections: %s, valid until %s", info.subject.c_str(),
           info.not_after.c_str());
}

void TlsTerminator::update(std::string_view encoded_material) {
  TlsMaterial material;
  if (!decode_tls_material(encoded_material, material)) {
    LOG_ERROR("malformed TLS certificate message from the master: ignored");
    return;
  }
  update(material);
}

void TlsTerminator::update_tickets(std::string_view encoded_tickets) {
  if (!tickets_.install(encoded_tickets)) {
    LOG_ERROR("malformed session ticket keys from the master: keeping the old ones");
    return;
  }
  if (ctx_) tickets_.apply(ctx_.get());
  LOG_DEBUG("session tickets %s (%zu keys)", tickets_.keys().enabled ? "on" : "off",
            tickets_.keys().keys.size());
}

void TlsTerminator::set_timeouts(double handshake_seconds, double close_seconds) {
  handshake_ms_ = seconds_to_ms(handshake_seconds);
  close_ms_ = seconds_to_ms(close_seconds);
}

void TlsTerminator::accept(int tcp_fd, uint32_t client) {
  UniqueFd tcp(tcp_fd);
  // Until a handshake object owns the socket, its address count is ours to give back.
  auto release = [&] {
    if (limits_) limits_->release(client);
  };
  if (stopping_ || !ctx_) {
    release();
    return;
  }
  SslPtr ssl(SSL_new(ctx_.get()));
  if (!ssl || SSL_set_fd(ssl.get(), tcp.get()) != 1) {
    LOG_ERROR("cannot start TLS on a new connection: %s", take_openssl_error().c_str());
    release();
    return;
  }
  auto relay = std::make_unique<TlsRelay>(*this, std::move(tcp), std::move(ssl));
  if (!relay->start()) {
    release();
    return;
  }
  relay->slot = static_cast<uint32_t>(relays_.size());
  relay->client = client;
  relay->handshaking = true;
  ++handshaking_;
  handshake_timers_.push(*relay, loop_.now_ms() + handshake_ms_);
  relays_.push_back(std::move(relay));
  // Slow handshakes from many addresses: the oldest pending one makes room (the timers
  // queue is in arrival order).
  if (limits_ && handshaking_ > limits_->max_pending_handshakes()) {
    if (DeadlineNode* oldest = handshake_timers_.front()) {
      limits_->log().hit(Limit::kPendingHandshakes, loop_.now_ms(),
                         "too many unfinished TLS handshakes; dropping the oldest");
      static_cast<TlsRelay*>(oldest)->abort();
    }
  }
}

UniqueFd TlsTerminator::start_relay(UniqueFd& tcp, SslPtr& ssl, uint32_t client,
                                    std::string_view unsent) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) != 0) return {};
  UniqueFd other(pair[1]);
  auto relay =
      std::make_unique<TlsRelay>(*this, std::move(tcp), std::move(ssl), UniqueFd(pair[0]), unsent);
  if (!relay->start()) {
    errno = EIO;
    if (limits_) limits_->release(client);
    return {};  // logged; the client is gone
  }
  relay->slot = static_cast<uint32_t>(relays_.size());
  relay->client = client;
  relay->relaying = true;
  ++relaying_;
  TlsRelay& r = *relay;
  relays_.push_back(std::move(relay));
  // OpenSSL may hold bytes read ahead, and `unsent` waits: pump before the next sleep.
  pump_again(r);
  return other;
}

void TlsTerminator::on_established(TlsRelay& relay, UniqueFd tcp, SslPtr ssl, bool resumed) {
  ++handshakes_;
  if (resumed) ++resumptions_;
  const uint32_t client = std::exchange(relay.client, 0);  // goes with the connection
  on_closed(relay);
  // The plain path starts its own upgrade timeout from here.
  sink_(std::move(tcp), std::move(ssl), client);
}

void TlsTerminator::on_closing(TlsRelay& relay) {
  closing_timers_.push(relay, loop_.now_ms() + close_ms_);
}

void TlsTerminator::on_closed(TlsRelay& relay) {
  DeadlineQueue::remove(relay);
  if (relay.handshaking) {
    relay.handshaking = false;
    --handshaking_;
  }
  if (relay.relaying) {
    relay.relaying = false;
    --relaying_;
  }
  if (limits_) limits_->release(relay.client);
  relay.client = 0;
  // Swap-remove from the table; keep the object until the iteration ends, since events
  // already fetched from epoll may still point at it.
  const uint32_t slot = relay.slot;
  graveyard_.push_back(std::move(relays_[slot]));
  if (slot + 1 != relays_.size()) {
    relays_[slot] = std::move(relays_.back());
    relays_[slot]->slot = slot;
  }
  relays_.pop_back();
}

void TlsTerminator::pump_again(TlsRelay& relay) {
  if (relay.queued_again) return;
  relay.queued_again = true;
  again_.push_back(&relay);
}

uint64_t TlsTerminator::next_deadline_ms() {
  if (!again_.empty()) return 0;
  uint64_t next = UINT64_MAX;
  for (DeadlineQueue* q : {&handshake_timers_, &closing_timers_}) {
    if (DeadlineNode* n = q->front()) next = std::min(next, n->deadline_ms);
  }
  return next;
}

void TlsTerminator::run_timers(uint64_t now_ms) {
  while (DeadlineNode* n = handshake_timers_.pop_expired(now_ms)) {
    static_cast<TlsRelay*>(n)->on_timeout();
  }
  while (DeadlineNode* n = closing_timers_.pop_expired(now_ms)) {
    static_cast<TlsRelay*>(n)->on_timeout();
  }
  // A relay pumped here may queue itself again for the next wake-up.
  std::vector<TlsRelay*> waiting;
  waiting.swap(again_);
  for (TlsRelay* relay : waiting) relay->queued_again = false;
  for (TlsRelay* relay : waiting) relay->pump();
}

void TlsTerminator::end_iteration() {
  if (graveyard_.empty()) return;
  std::erase_if(again_, [](TlsRelay* relay) { return relay->closed(); });
  graveyard_.clear();
}

void TlsTerminator::begin_stop() {
  stopping_ = true;
  std::vector<TlsRelay*> handshaking;
  for (auto& relay : relays_) {
    if (relay->phase() == TlsRelay::Phase::kHandshake) handshaking.push_back(relay.get());
  }
  for (TlsRelay* relay : handshaking) relay->abort();
}

}  // namespace sigver
