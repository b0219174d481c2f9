#pragma once
// A generation-2 Sigver peer for tests (protocol-v2.md, netflux 4): it speaks first with
// connect{id, members}, reads connected, and relays contents by senderId/recipientId. It rides
// on the generation-1 Peer's WebSocket transport (frames, fragments, control frames) and reads
// every binary message with the classes of proto/sigver2.proto instead.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "sigver2.pb.h"
#include "support/sigver_peer.h"

namespace sigver::itest {

// One thing a generation-2 peer received. `kind` as for Received; kMessage when the binary
// message parsed as a pb2::Message (`message`), kBadMessage when it did not (`raw` either way).
struct Received2 {
  Received::Kind kind = Received::Kind::kTimeout;
  pb2::Message message;
  std::string raw;
  CloseInfo close;
  Frame frame;

  bool is_message() const { return kind == Received::Kind::kMessage; }
  bool is_content() const { return is_message() && message.has_content(); }
  const pb2::Content& content() const { return message.content(); }
  std::string describe() const;
  // The same as a generation-1 Received (its message left empty): for the harness's
  // assertions on closes and frames.
  Received as_received() const;
};

pb2::Message connect_message(uint32_t id, const std::vector<uint32_t>& members = {});
pb2::Message content2_message(uint32_t sender_id, uint32_t recipient_id, std::string_view data,
                              bool last_data = false);
pb2::Message heartbeat2_message();

class Peer2 {
 public:
  Peer2() = default;
  // `query` (without '?') goes on the request path: "favored" makes a favored peer.
  explicit Peer2(uint16_t port, std::string query = "") : peer_(port), query_(std::move(query)) {}

  // Connects to /KEY[?query] and completes the upgrade; nothing sent yet.
  bool open(std::string_view key, Millis timeout = kDefaultTimeout);
  // open + connect{id} + reads the connected answer (heartbeats skipped).
  bool join(std::string_view key, uint32_t id, bool& connected, Millis timeout = kDefaultTimeout);
  // connect{id, members} and the connected answer.
  bool reconnect(uint32_t id, const std::vector<uint32_t>& members, bool& connected,
                 Millis timeout = kDefaultTimeout);

  bool send(const pb2::Message& message);
  bool send_connect(uint32_t id, const std::vector<uint32_t>& members = {}) {
    return send(connect_message(id, members));
  }
  // What netflux 4 puts in a content: senderId = its member id, recipientId 0 towards its
  // member; 0 and the joiner's binding id towards a joiner.
  bool send_content(uint32_t sender_id, uint32_t recipient_id, std::string_view data,
                    bool last_data = false) {
    return send(content2_message(sender_id, recipient_id, data, last_data));
  }
  bool send_heartbeat() { return send(heartbeat2_message()); }
  bool send_raw_message(std::string_view bytes) { return peer_.send_raw_message(bytes); }

  // Next message or event. The server's heartbeats (08 01) are skipped and counted unless
  // `keep_heartbeats`; they are never answered automatically.
  Received2 receive(Millis timeout = kDefaultTimeout, bool keep_heartbeats = false);
  // A ping with a unique payload, then everything received before its pong (heartbeats
  // excluded): what the server had sent this peer up to now. On timeout or close the last
  // entry says so.
  std::vector<Received2> sync(Millis timeout = kDefaultTimeout);
  CloseResult close_cleanly(Millis timeout = kDefaultTimeout) {
    return peer_.close_cleanly(timeout);
  }

  WsClient& ws() { return peer_.ws(); }
  int heartbeats_seen() const { return heartbeats_; }
  const std::string& error() const { return error_.empty() ? peer_.error() : error_; }

 private:
  Peer peer_;
  std::string query_;
  int heartbeats_ = 0;
  int pings_ = 0;
  std::string error_;
};

// Assertions on what a generation-2 peer received.
::testing::AssertionResult IsConnected(const Received2& got, bool expected);
// A relayed content: exactly these ids and data, no lastData, nothing else.
::testing::AssertionResult IsContent2(const Received2& got, uint32_t sender_id,
                                      uint32_t recipient_id, std::string_view data);
// An end notice: a content with these ids and no data field.
::testing::AssertionResult IsEndNotice(const Received2& got, uint32_t sender_id,
                                       uint32_t recipient_id);
::testing::AssertionResult IsClose(const Received2& got, uint16_t code);
::testing::AssertionResult ReceivedNothing(const std::vector<Received2>& got);

// A member (netflux id `member_id`, connected=true) and a joiner (`joiner_id`,
// connected=false) on `key` through `port`; the joiner's "pair-up" reaches the member, whose
// "pair-down" reaches the joiner, both with the binding id returned in `binding`.
::testing::AssertionResult FormPair2(uint16_t port, std::string_view key, Peer2& member,
                                     Peer2& joiner, uint32_t& binding, uint32_t member_id = 1,
                                     uint32_t joiner_id = 2);

}  // namespace sigver::itest
