#pragma once
// The worker's event loop: accepts connections, runs the upgrade handshake, frames and
// decodes messages, hands them to the router, and writes what the router queues, flushing
// every dirty connection once just before sleeping (one send per peer per wake-up).
#include <signal.h>

#include <memory>
#include <string_view>
#include <vector>

#include "core/access_log.h"
#include "core/channel.h"
#include "core/config.h"
#include "core/deadline_queue.h"
#include "core/event_loop.h"
#include "core/worker_setup.h"
#include "core/worker_stats.h"
#include "worker/connection.h"
#include "worker/protocol/mux.h"
#include "worker/tls_terminator.h"
#include "worker/worker_handover.h"
#include "worker/worker_limits.h"
#include "ws/http_upgrade.h"

namespace sigver {

// The largest message on a worker queue: a handoff (a request of at most 64 KiB plus the
// frames read with it) or a migrating peer with its pending bytes. Below the kernel's
// default socket send buffer, which bounds one SEQPACKET message.
inline constexpr size_t kQueueMessageMax = 192 * 1024;
// stop_deadline_ms_ of a retired worker: it exits when idle, however long that takes.
inline constexpr uint64_t kNoDeadline = UINT64_MAX;
// How long a retired worker still accepts on its listeners before it closes them: a
// handshake that started before new connections were steered away completes within a round
// trip. (A count that grows back within it stops the worker, which the master restarts.)
inline constexpr uint64_t kRetireGraceMs = 250;

class Worker final : public PeerOutput {
 public:
  explicit Worker(WorkerSetup& setup);
  ~Worker() override;
  // Runs until stopped; returns the exit code.
  int run();

  // Connection events (called by Connection::on_events).
  void on_connection_events(Connection& c, uint32_t events);

  // PeerOutput
  char* begin_message(Peer& to, size_t size) override;
  void end_message(Peer& to, size_t size) override;
  void close(Peer& peer, uint16_t code, std::string_view reason) override;
  uint32_t round_trip_us(Peer& peer) override;

  // Frame callbacks of an open connection (see worker_frames.cc).
  // Every message and ping or pong counts against max_messages_per_second; false: the peer
  // went over and is being closed.
  bool within_rate(Connection& c);
  bool on_ws_message(Connection& c, ws::Opcode opcode, char* data, size_t size);
  bool on_ws_ping(Connection& c, char* data, size_t size);
  bool on_ws_close(Connection& c, uint16_t code, std::string_view reason);
  void on_ws_error(Connection& c, uint16_t code, std::string_view reason);

 private:
  class Listener;
  class SignalSource;
  class Inbox;

  bool start();
  // Accepts a batch; true when it stopped at the batch size (more may be waiting).
  // `draining`: a retiring worker empties its queue, whatever max_connections says.
  bool accept_from(int listen_fd, bool tls, bool draining = false);
  // Stops accepting until `resume_at_ms` (kNoDeadline: until connections end, see
  // update_accepting()).
  void pause_accepting(uint64_t resume_at_ms);
  void resume_accepting();
  // `read_now`: a freshly accepted socket, read at once (see there).
  Connection& add_connection(Transport transport,
                             ClientCounts::Ticket client = ClientCounts::kNotCounted,
                             bool read_now = false);
  // Registers the connection with epoll for `events`, or changes them; false (and the
  // connection is destroyed) when epoll refused it.
  bool watch(Connection& c, uint32_t events);
  // A TLS client whose handshake is done, served on its TLS socket (tls_terminator.h).
  void add_tls_connection(UniqueFd tcp, SslPtr ssl, ClientCounts::Ticket client);
  // Before a connection moves to another worker: a TLS one becomes the plain end of a relay
  // that keeps its TLS state here (with what it had not sent yet). False when that failed
  // (the connection stays as it was, or is gone if its socket was lost).
  bool relay_tls(Connection& c);
  void on_readable(Connection& c);
  // Connections whose last read stopped at the round limit with bytes inside OpenSSL.
  void read_pending_again();
  void arm_writable(Connection& c);
  void on_writable(Connection& c);
  void handle_handshake(Connection& c);
  // Passes a connection whose key another worker owns to that worker (worker_handoff.cc).
  void hand_off(Connection& c, int owner);
  void unpark(Connection& c);
  void retry_parked();
  void adopt(int fd, ClientCounts::Ticket client, std::string_view bytes);
  void receive_queue();
  // Messages from the master and moving groups on a new worker count (worker_migrate.cc).
  void replace_listeners(ChannelMessage& msg);
  void add_listener(int fd, bool tls = false);
  void drain_listeners();  // accepts everything queued on them (a worker about to retire)
  void close_listeners(bool keep_tls = false);
  void resize(ChannelMessage& msg);
  void migrate_group(const std::string& key, int owner);
  void receive_migrated_peer(ChannelMessage& msg);
  void finish_migrations(bool expired_only);
  // ---- binary upgrade (worker_handover.cc) ----
  void begin_upgrade(ChannelMessage& msg);     // old worker: kUpgrade
  void commit_upgrade(std::string_view role);  // kCommit: "N" new worker, "O" old
  void roll_back_upgrade();                    // old worker: kRollback
  void note_upgrade_end(ChannelMessage& msg);  // new worker: kUpgradeEnd
  // New worker stopped before the commit: starts sending everything back; true when it did
  // (the stop then happens once that is done).
  bool return_on_stop();
  void return_groups_when_ready();
  // Parked handoffs were aimed with the ring that just changed: aim them again.
  void reaim_parked();
  void open_websocket(Connection& c, std::string_view key, std::string_view query);
  void feed_frames(Connection& c, char* data, size_t size, bool from_own_buffer);
  void close_with(Connection& c, uint16_t code, std::string_view reason);
  void begin_closing(Connection& c);
  void destroy(Connection& c);
  void mark_dirty(Connection& c);
  void flush(Connection& c);
  void flush_all();
  void close_overflowed();
  // ---- limits (worker_enforce.cc) ----
  // Connections this worker holds, as max_connections counts them.
  size_t held_connections() const;
  // Pauses accepting at max_connections and resumes below it.
  void update_accepting();
  // A request that is refused with an HTTP status (403, 503): answer, then close.
  void refuse(Connection& c, ws::UpgradeStatus status, std::string_view reason);
  // max_pending_handshakes: a new pending connection arrived; drop the oldest if over.
  void bound_pending_handshakes();
  // Reading stops while the worker's buffers are over their totals, until enforce_memory()
  // closed the peers responsible.
  bool over_memory() const { return limits_.outbound_over() || limits_.inbound_over(); }
  void enforce_memory();
  void evict_outbound();
  void evict_inbound();
  // Drops the unsent messages of a peer that is being closed for not reading: only the rest
  // of a frame already partly sent stays, so the close frame after it is still well formed.
  // False when they cannot be dropped: a TLS record made of them is half sent, and OpenSSL
  // must be given the same bytes again (the caller then drops the connection instead).
  bool drop_unsent(Connection& c);
  // After send() took `sent` bytes of c.out: where the next whole frame starts.
  void advance_frame_boundary(Connection& c, size_t sent);
  void leave_handshake(Connection& c);
  // ---- statistics (worker_enforce.cc) ----
  // Copies the gauges and the counters other classes keep into the shared page, once per
  // loop iteration; marks progress for /health.
  void publish_stats();
  void count_close(uint16_t code);
  // ---- access log (worker_enforce.cc) ----
  void open_access_log();
  void start_record(Connection& c);
  // Who ended the connection, with which code (the first word counts).
  static void note_end(Connection& c, char by, uint16_t code);
  void end_record(Connection& c);
  // Descriptors this process holds: what it had at start plus one per connection and two
  // per TLS relay. Near the open-file limit the worker stops reading its queue: a handed-off
  // socket would otherwise arrive without its descriptor (MSG_CTRUNC) and be lost; the
  // senders keep those clients waiting instead (parked, within handshake_timeout).
  size_t descriptors_in_use() const;
  void update_inbox();
  void run_timers();
  int next_timeout_ms();
  // The connection's protocol timer (detection, heartbeats) fired.
  void protocol_tick(Connection& c);
  void arm_protocol_timer(Connection& c, uint64_t delay_ms);
  void on_signal(int signo);
  void reload();
  void begin_graceful_stop();
  void apply_limits();

  WorkerSetup& setup_;
  std::unique_ptr<WorkerStats> own_stats_;  // when the master gave no shared page
  WorkerStats& stats_;                      // what /metrics and /health read of this worker
  Config config_;
  EventLoop loop_;
  ProtocolMux protocols_;
  WorkerLimits limits_;
  AccessLog access_log_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<Listener>> closed_listeners_;  // closed this iteration
  std::unique_ptr<TlsTerminator> tls_;  // wss:// clients; null without TLS listeners
  std::unique_ptr<SignalSource> signals_;
  std::unique_ptr<Inbox> inbox_;
  std::unique_ptr<char[]> queue_buffer_;
  std::vector<Connection*> parked_;  // handoffs waiting for room in the owner's queue
  // A group arriving from another worker, one peer per message.
  struct PendingMigration {
    int source = 0;
    uint64_t token = 0;
    std::string key;
    uint64_t deadline_ms = 0;
    size_t received = 0;
    std::vector<std::unique_ptr<Connection>> peers;  // by index; null until it arrives
    std::vector<ExportedPeer> state;                 // by index
  };
  std::vector<std::unique_ptr<PendingMigration>> migrations_;
  uint64_t migration_token_ = 0;
  WorkerHandover handover_;
  uint64_t handoffs_sent_ = 0;
  uint64_t handoffs_received_ = 0;
  uint32_t connection_numbers_ = 0;  // the last Connection::number given
  std::vector<std::unique_ptr<Connection>> conns_;
  std::vector<std::unique_ptr<Connection>> graveyard_;  // closed this iteration
  std::vector<Connection*> dirty_;
  std::vector<Connection*> read_again_;  // see read_pending_again()
  std::vector<Connection*> overflowed_;
  DeadlineQueue handshake_timers_;
  DeadlineQueue heartbeat_timers_;  // the protocol's timers of one heartbeat interval
  DeadlineQueue protocol_timers_;   // and of other durations (detection: a few round trips)
  DeadlineQueue closing_timers_;
  std::unique_ptr<char[]> scratch_;  // shared read buffer: idle peers own no input buffer
  uint64_t accept_resume_ms_ = 0;    // accepting paused until then (kNoDeadline: at the
                                     // connection limit)
  size_t pending_handshakes_ = 0;    // connections in kHandshake (they sit in handshake_timers_)
  size_t base_descriptors_ = 0;      // open at start (listeners, queues, epoll, log, ...)
  size_t open_file_limit_ = 0;       // RLIMIT_NOFILE (0 = unknown: never pause the inbox)
  bool inbox_paused_ = false;
  uint64_t retire_listeners_at_ms_ = 0;  // retired: close the listeners then (0 = not set)
  uint64_t stop_deadline_ms_ = 0;        // graceful stop: give up waiting for peers then
  bool accepting_ = true;
  bool stopping_ = false;
  bool running_ = true;
  int exit_code_ = 0;
};

}  // namespace sigver
