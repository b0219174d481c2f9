// The per-connection protocol half of the worker: the upgrade handshake, WebSocket frames,
// Sigver messages and closing. The loop half (accept, I/O, timers) is worker_loop.cc.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/key_owner.h"
#include "core/log.h"
#include "worker/connection_log.h"
#include "worker/worker_loop.h"
#include "ws/http_upgrade.h"

namespace sigver {
namespace {

// Adapts the frame reader's callbacks to the worker for one connection.
class FrameEvents final : public ws::FrameHandler {
 public:
  FrameEvents(Worker& worker, Connection& conn) : worker_(worker), conn_(conn) {}
  bool on_message(ws::Opcode opcode, char* data, size_t size) override {
    if (conn_.record) ++conn_.record->messages_in;
    return worker_.within_rate(conn_) && worker_.on_ws_message(conn_, opcode, data, size);
  }
  bool on_ping(char* data, size_t size) override {
    return worker_.within_rate(conn_) && worker_.on_ws_ping(conn_, data, size);
  }
  bool on_pong(char*, size_t) override { return worker_.within_rate(conn_); }
  bool on_close(uint16_t code, std::string_view reason) override {
    return worker_.on_ws_close(conn_, code, reason);
  }
  void on_error(uint16_t code, std::string_view reason) override {
    worker_.on_ws_error(conn_, code, reason);
  }

 private:
  Worker& worker_;
  Connection& conn_;
};

}  // namespace

void Worker::handle_handshake(Connection& c) {
  ws::UpgradeRequest req = ws::parse_upgrade_request(c.in.view(), config_.max_header_size);
  switch (req.status) {
    case ws::UpgradeStatus::kNeedMore:
      return;
    case ws::UpgradeStatus::kOk:
      break;
    default:
      CONN_INFO(c, "rejected upgrade request: %s", req.error.c_str());
      refuse(c, req.status, req.error);
      return;
  }
  // Refused here, before a handoff: the owner need not see it.
  if (!limits_.origin_allowed(req.has_origin, req.origin, loop_.now_ms())) {
    refuse(c, ws::UpgradeStatus::kForbidden, "this origin may not use this server");
    return;
  }
  // A group never spans processes: the key's owner finishes the handshake.
  // An adopted connection is not passed on again (no ping-pong while workers learn a new
  // count), unless this worker was just retired by a smaller count. During a binary upgrade
  // every connection goes to the new workers (worker_handover.h).
  const int owner = key_owner(req.key, setup_.count);
  if (handover_.forwarding ||
      (owner != setup_.index && (!c.adopted || setup_.index >= setup_.count))) {
    hand_off(c, owner);
    return;
  }
  // A new worker before its binary upgrade commits: the key's group may still be on its way
  // from an old worker; joining now would make a second one. The commit comes after every
  // group arrived (worker_handover.cc).
  if (accept_resume_ms_ == kHeldForUpgrade) {
    c.held = true;
    return;
  }
  // The key is a view into c.in: use it before consuming the request bytes.
  ws::append_upgrade_response(c.out, req.accept);
  c.out_to_frame = static_cast<uint32_t>(c.out.size());  // frames start after the response
  leave_handshake(c);
  c.state = ConnState::kOpen;
  mark_dirty(c);
  open_websocket(c, req.key, req.query);
  if (c.state != ConnState::kOpen) return;
  c.in.consume(req.header_size);
  // The client may have sent its first frames right behind the request.
  if (!c.in.empty()) feed_frames(c, c.in.data(), c.in.size(), true);
}

void Worker::open_websocket(Connection& c, std::string_view key, std::string_view query) {
  if (c.record) c.record->key = access_log_key(key, config_.access_log_keys);
  const uint64_t first_tick = protocols_.open(c, key, query);
  if (c.state == ConnState::kOpen) arm_protocol_timer(c, first_tick);
}

bool Worker::within_rate(Connection& c) {
  if (!limits_.rate_enabled() || limits_.allow_message(c.rate_due_us, loop_.now_ms())) {
    return true;
  }
  close_with(c, ws::close_code::kPolicyViolation, "too many messages");
  return false;
}

void Worker::feed_frames(Connection& c, char* data, size_t size, bool from_own_buffer) {
  FrameEvents events(*this, c);
  size_t used = c.reader.feed(data, size, events);
  if (c.state != ConnState::kOpen) return;  // closing: its input was dropped
  if (from_own_buffer) {
    c.in.consume(used);
  } else if (used < size) {
    c.in.append(data + used, size - used);  // keep the partial frame for the next read
  }
}

bool Worker::on_ws_message(Connection& c, ws::Opcode opcode, char* data, size_t size) {
  protocols_.message(c, opcode == ws::Opcode::kBinary, data, size);
  return c.state == ConnState::kOpen;
}

bool Worker::on_ws_ping(Connection& c, char* data, size_t size) {
  ws::append_frame(c.out, ws::Opcode::kPong, data, size);
  mark_dirty(c);
  return true;
}

bool Worker::on_ws_close(Connection& c, uint16_t code, std::string_view) {
  // The peer closes first: answer with its code, then close the socket once flushed.
  count_close(code);
  note_end(c, 'c', code);
  protocols_.leave(c);
  ws::append_close_frame(c.out, code, "");
  c.close_after_flush = true;
  begin_closing(c);
  return false;
}

void Worker::on_ws_error(Connection& c, uint16_t code, std::string_view reason) {
  CONN_INFO(c, "WebSocket protocol error from the peer, closing with %u: %.*s", code,
            static_cast<int>(reason.size()), reason.data());
  close_with(c, code, reason);
}

void Worker::close_with(Connection& c, uint16_t code, std::string_view reason) {
  if (c.state != ConnState::kOpen) return;
  CONN_DEBUG(c, "closing with %u: %.*s", code, static_cast<int>(reason.size()), reason.data());
  count_close(code);
  note_end(c, 's', code);
  protocols_.leave(c);
  ws::append_close_frame(c.out, code, reason);
  begin_closing(c);
}

}  // namespace sigver
