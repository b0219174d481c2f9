#pragma once
// A Sigver peer for tests: a WsClient that speaks the protobuf messages of
// /work/shared/spec/protocol.md, plus builders for the messages peers send.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sigver.pb.h"
#include "support/ws_client.h"

namespace sigver::itest {

// One thing a peer received, decoded when it was a binary message.
struct Received {
  enum class Kind {
    kMessage,     // binary message that parsed as a Message: see `message` and `raw`
    kBadMessage,  // binary message that did not parse: see `raw`
    kClose,       // close frame: see `close`
    kPong,        // pong frame: `raw` holds its payload
    kOtherFrame,  // text, ping or a fragment: see `frame`
    kTimeout,
    kEof,
    kError,
  };
  Kind kind = Kind::kTimeout;
  pb::Message message;
  std::string raw;
  CloseInfo close;
  Frame frame;

  bool is_message() const { return kind == Kind::kMessage; }
  bool is_content() const { return is_message() && message.has_content(); }
  const pb::Content& content() const { return message.content(); }
  std::string describe() const;
};

// Message builders.
pb::Message content_message(uint32_t id, std::string_view data);
pb::Message flag_message(uint32_t id, bool is_end, bool is_error);
pb::Message stable_message();
pb::Message try_another_message();
pb::Message heartbeat_message();
pb::Message is_first_message(bool value);

// A fresh key unlikely to collide with another test's: prefix + 12 random hex digits.
std::string random_key(std::string_view prefix = "k");

class Peer {
 public:
  Peer() = default;
  explicit Peer(uint16_t port) : port_(port) {}

  // Connects to /KEY and completes the upgrade.
  bool open(std::string_view key, Millis timeout = kDefaultTimeout);
  // open + a heartbeat + reads the isFirst answer. Returns false (see error()) on any
  // failure. The heartbeat makes the peer generation 1 at once (protocol-v2.md, "One port,
  // two generations"): a silent client would wait for the detection timeout, which
  // open() + receive() tests.
  bool join(std::string_view key, bool& is_first, Millis timeout = kDefaultTimeout);

  bool send(const pb::Message& message);
  bool send_content(uint32_t id, std::string_view data) { return send(content_message(id, data)); }
  bool send_raw_message(std::string_view bytes) { return ws_.send_binary(bytes); }

  // Next message or event. Heartbeats from the server are skipped (and counted) unless
  // `keep_heartbeats`; they are never answered automatically.
  Received receive(Millis timeout = kDefaultTimeout, bool keep_heartbeats = false);
  // Sends a ping with a unique payload and returns everything received before the matching
  // pong (heartbeats excluded). Since the server answers frames in order, this proves what
  // it had sent to this peer up to now. On timeout/close the last entry says so.
  std::vector<Received> sync(Millis timeout = kDefaultTimeout);
  // Sends close 1000 and waits for the server's close frame.
  CloseResult close_cleanly(Millis timeout = kDefaultTimeout);

  WsClient& ws() { return ws_; }
  int heartbeats_seen() const { return heartbeats_; }
  const std::string& error() const { return error_; }

 private:
  uint16_t port_ = 0;
  WsClient ws_;
  int heartbeats_ = 0;
  int sync_counter_ = 0;
  std::string error_;
};

// Raw protobuf bytes, for messages the generated classes cannot express (unknown fields,
// absent vs empty data).
namespace wire {
std::string varint(uint64_t value);
std::string tag(uint32_t field, uint32_t wire_type);
std::string varint_field(uint32_t field, uint64_t value);
std::string bytes_field(uint32_t field, std::string_view value);
// Message{content = <content_fields>}
std::string content_message(std::string_view content_fields);

struct Field {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t varint = 0;  // wire type 0
  std::string bytes;    // wire type 2
};
// Decodes the top level of a serialized message; false on malformed input or on wire types
// other than varint and length-delimited.
bool decode(std::string_view raw, std::vector<Field>& fields);
// The fields of the Content inside a serialized Message (empty when there is none); the
// Content is field 1 in generation 1, 2 in generation 2.
std::vector<Field> content_fields(std::string_view raw_message, uint32_t content_field = 1);
// The first field with this number, or nullptr.
const Field* find(const std::vector<Field>& fields, uint32_t number);
}  // namespace wire

}  // namespace sigver::itest
