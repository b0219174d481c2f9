#pragma once
// The TLS side of one worker: the current server context, the handshakes and relays of its
// TLS clients (see tls_relay.h), their handshake and close timers, and the read buffer they
// share. The worker calls it from its loop; it calls the worker back with the socket and
// TLS state of each connection whose handshake succeeded, which the worker then serves
// itself, or gives back for a relay when the connection must move to another worker.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/deadline_queue.h"
#include "core/event_loop.h"
#include "core/tls_context.h"
#include "core/tls_material.h"
#include "core/tls_tickets.h"
#include "worker/tls_relay.h"
#include "worker/worker_limits.h"

namespace sigver {

class TlsTerminator {
 public:
  // Receives a TLS connection whose handshake is done, with the ticket its client's address
  // is counted under (the receiver releases it).
  using EstablishedSink = std::function<void(UniqueFd tcp, SslPtr ssl, uint32_t client)>;

  TlsTerminator(EventLoop& loop, EstablishedSink sink);
  ~TlsTerminator();
  TlsTerminator(const TlsTerminator&) = delete;
  TlsTerminator& operator=(const TlsTerminator&) = delete;

  // Builds the first context; false with `error` if the material is unusable.
  bool start(const TlsMaterial& material, std::string& error);
  // New certificate material from the master (after HUP): new connections use it, current
  // ones keep theirs. A context that cannot be built is logged and the old one kept.
  void update(const TlsMaterial& material);
  void update(std::string_view encoded_material);
  // New session ticket keys or settings from the master (rotation, HUP): applied to the
  // current context, so they hold for new connections.
  void update_tickets(std::string_view encoded_tickets);
  void set_timeouts(double handshake_seconds, double close_seconds);
  // The worker's limits: pending handshakes are bounded by max_pending_handshakes (the
  // oldest is dropped), and a client's address is released when its handshake fails or its
  // relay ends. Without them (unit tests) nothing is bounded or counted.
  void set_limits(WorkerLimits* limits) { limits_ = limits; }

  // Takes ownership of an accepted TCP socket and starts its TLS handshake. `client` is the
  // ticket its address was counted under (passed on with the connection, or released).
  void accept(int tcp_fd, uint32_t client = 0);
  // Takes back an established connection that must move to another worker: its socket and
  // TLS state stay here in a relay, and the returned end B of the relay's socketpair
  // stands in for it. `unsent`: bytes not written to the client yet, written first.
  // `client` is released when the relay ends. Returns an empty fd on failure: without a
  // socketpair (errno: out of descriptors) `tcp` and `ssl` are left untouched; if the
  // relay could not be registered they are closed (and `tcp` is empty).
  UniqueFd start_relay(UniqueFd& tcp, SslPtr& ssl, uint32_t client, std::string_view unsent);

  // Loop hooks: the earliest deadline (0 = work is waiting, UINT64_MAX = none); expire
  // timers and pump relays with bytes waiting inside OpenSSL; free the relays closed
  // during this iteration (after the events that may still name them were dispatched).
  uint64_t next_deadline_ms();
  void run_timers(uint64_t now_ms);
  void end_iteration();
  // Graceful stop: drops clients still in the handshake; the others end with their plain
  // side.
  void begin_stop();
  bool idle() const { return relays_.empty(); }
  size_t size() const { return relays_.size(); }  // handshakes and relays
  // Descriptors they hold: one per handshake, two per relay.
  size_t descriptors() const { return relays_.size() + relaying_; }
  uint64_t handshakes() const { return handshakes_; }    // completed TLS handshakes
  uint64_t resumptions() const { return resumptions_; }  // of which resumed by a ticket

  // ---- for the relays ----
  EventLoop& loop() { return loop_; }
  char* scratch() { return scratch_.get(); }
  static constexpr size_t kScratchSize = 64 * 1024;
  void on_established(TlsRelay& relay, UniqueFd tcp, SslPtr ssl, bool resumed);
  void on_closing(TlsRelay& relay);
  void on_closed(TlsRelay& relay);
  void pump_again(TlsRelay& relay);

 private:
  EventLoop& loop_;
  EstablishedSink sink_;
  TicketKeyTable tickets_;  // before ctx_: every context points at it
  SslCtxPtr ctx_;
  std::unique_ptr<char[]> scratch_;
  std::vector<std::unique_ptr<TlsRelay>> relays_;
  std::vector<std::unique_ptr<TlsRelay>> graveyard_;
  std::vector<TlsRelay*> again_;
  DeadlineQueue handshake_timers_;
  DeadlineQueue closing_timers_;
  WorkerLimits* limits_ = nullptr;
  size_t handshaking_ = 0;  // objects still in their TLS handshake
  size_t relaying_ = 0;     // relays (with a socketpair)
  uint64_t handshakes_ = 0;
  uint64_t resumptions_ = 0;
  uint64_t handshake_ms_ = 10000;
  uint64_t close_ms_ = 2000;
  bool stopping_ = false;
};

}  // namespace sigver
