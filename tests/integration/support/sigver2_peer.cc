#include "support/sigver2_peer.h"

#include <chrono>
#include <cstdio>

#include "support/harness.h"

namespace sigver::itest {
namespace {

using Clock = std::chrono::steady_clock;

Millis left_until(Clock::time_point deadline) {
  return std::max(Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now()));
}

bool ends_the_wait(Received::Kind kind) {
  return kind == Received::Kind::kTimeout || kind == Received::Kind::kEof ||
         kind == Received::Kind::kError || kind == Received::Kind::kClose;
}

}  // namespace

using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

Received Received2::as_received() const {
  Received same;
  same.kind = kind;
  same.raw = raw;
  same.close = close;
  same.frame = frame;
  return same;
}

std::string Received2::describe() const {
  // The generation-1 describe() names the kind and shows closes, pongs and frames.
  if (!is_message()) return as_received().describe();
  std::string text = "generation-2 message {" + message.ShortDebugString() + "} bytes";
  char two[4];
  for (unsigned char byte : raw.substr(0, 48)) {
    std::snprintf(two, sizeof two, " %02x", byte);
    text += two;
  }
  return text;
}

pb2::Message connect_message(uint32_t id, const std::vector<uint32_t>& members) {
  pb2::Message message;
  message.mutable_connect()->set_id(id);
  for (uint32_t member : members) message.mutable_connect()->add_members(member);
  return message;
}

pb2::Message content2_message(uint32_t sender_id, uint32_t recipient_id, std::string_view data,
                              bool last_data) {
  pb2::Message message;
  pb2::Content* content = message.mutable_content();
  content->set_senderid(sender_id);
  content->set_recipientid(recipient_id);
  content->set_lastdata(last_data);
  content->set_data(std::string(data));
  return message;
}

pb2::Message heartbeat2_message() {
  pb2::Message message;
  message.set_heartbeat(true);
  return message;
}

bool Peer2::open(std::string_view key, Millis timeout) {
  const std::string target = query_.empty() ? std::string(key) : std::string(key) + "?" + query_;
  return peer_.open(target, timeout);
}

bool Peer2::join(std::string_view key, uint32_t id, bool& connected, Millis timeout) {
  return open(key, timeout) && reconnect(id, {}, connected, timeout);
}

bool Peer2::reconnect(uint32_t id, const std::vector<uint32_t>& members, bool& connected,
                      Millis timeout) {
  if (!send_connect(id, members)) return false;
  const Received2 answer = receive(timeout);
  const bool answered =
      answer.is_message() && answer.message.type_case() == pb2::Message::kConnected;
  if (answered) {
    connected = answer.message.connected();
  } else {
    error_ = "connect " + std::to_string(id) + ": expected connected, got " + answer.describe();
  }
  return answered;
}

bool Peer2::send(const pb2::Message& message) {
  return peer_.send_raw_message(message.SerializeAsString());
}

Received2 Peer2::receive(Millis timeout, bool keep_heartbeats) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    // Heartbeats kept: the generation-1 reader would take 20 01 (connected) for its own.
    Received got = peer_.receive(left_until(deadline), /*keep_heartbeats=*/true);
    Received2 out;
    out.kind = got.kind;
    out.raw = std::move(got.raw);
    out.close = std::move(got.close);
    out.frame = std::move(got.frame);
    const bool binary =
        got.kind == Received::Kind::kMessage || got.kind == Received::Kind::kBadMessage;
    if (binary) {
      out.kind = out.message.ParseFromString(out.raw) ? Received::Kind::kMessage
                                                      : Received::Kind::kBadMessage;
    }
    if (!keep_heartbeats && out.is_message() &&
        out.message.type_case() == pb2::Message::kHeartbeat) {
      ++heartbeats_;
      continue;
    }
    return out;
  }
}

std::vector<Received2> Peer2::sync(Millis timeout) {
  const std::string token = "sync2-" + std::to_string(++pings_);
  const auto deadline = Clock::now() + timeout;
  std::vector<Received2> before;
  if (!ws().send_ping(token)) {
    before.emplace_back().kind = Received::Kind::kError;
    return before;
  }
  for (;;) {
    Received2 got = receive(left_until(deadline));
    if (got.kind == Received::Kind::kPong && got.raw == token) return before;
    const bool last = ends_the_wait(got.kind);
    before.push_back(std::move(got));
    if (last) return before;
  }
}

AssertionResult IsConnected(const Received2& got, bool expected) {
  // Written even when false (20 00), as netflux 4 needs.
  const std::string wire = {0x20, static_cast<char>(expected ? 1 : 0)};
  if (got.is_message() && got.raw == wire) return AssertionSuccess();
  return AssertionFailure() << "expected connected=" << expected << ", got " << got.describe();
}

AssertionResult IsContent2(const Received2& got, uint32_t sender_id, uint32_t recipient_id,
                           std::string_view data) {
  const auto failure = [&] {
    return AssertionFailure() << "expected content{senderId:" << sender_id
                              << " recipientId:" << recipient_id << " data:\"" << data
                              << "\"}, got " << got.describe();
  };
  if (!got.is_content()) return failure();
  const pb2::Content& c = got.content();
  if (c.senderid() != sender_id || c.recipientid() != recipient_id || c.data() != data ||
      c.lastdata())
    return failure();
  // Relayed content carries both ids and data, and nothing else.
  const std::vector<wire::Field> fields = wire::content_fields(got.raw, 2);
  if (!wire::find(fields, 1) || !wire::find(fields, 2) || !wire::find(fields, 4) ||
      fields.size() != 3)
    return AssertionFailure() << "not the rebuilt content protocol-v2.md says: "
                              << failure().message();
  return AssertionSuccess();
}

AssertionResult IsEndNotice(const Received2& got, uint32_t sender_id, uint32_t recipient_id) {
  if (got.is_content() && got.content().senderid() == sender_id &&
      got.content().recipientid() == recipient_id &&
      !wire::find(wire::content_fields(got.raw, 2), 4))
    return AssertionSuccess();
  return AssertionFailure() << "expected an end notice content{senderId:" << sender_id
                            << " recipientId:" << recipient_id << "} without data, got "
                            << got.describe();
}

AssertionResult IsClose(const Received2& got, uint16_t code) {
  return IsClose(got.as_received(), code);
}

AssertionResult ReceivedNothing(const std::vector<Received2>& got) {
  std::string listed;
  for (const Received2& item : got) listed += "\n  " + item.describe();
  if (listed.empty()) return AssertionSuccess();
  return AssertionFailure() << "expected nothing before the sync pong, got:" << listed;
}

AssertionResult FormPair2(uint16_t port, std::string_view key, Peer2& member, Peer2& joiner,
                          uint32_t& binding, uint32_t member_id, uint32_t joiner_id) {
  member = Peer2(port);
  joiner = Peer2(port);
  bool connected = false;
  if (!member.join(key, member_id, connected) || !connected)
    return AssertionFailure() << "member: " << member.error() << " connected=" << connected;
  if (!joiner.join(key, joiner_id, connected) || connected)
    return AssertionFailure() << "joiner: " << joiner.error() << " connected=" << connected;
  if (!joiner.send_content(joiner_id, 0, "pair-up")) return AssertionFailure() << joiner.error();
  const Received2 up = member.receive();
  if (!up.is_content() || up.content().senderid() == 0)
    return AssertionFailure() << "member got " << up.describe();
  binding = up.content().senderid();
  if (auto ok = IsContent2(up, binding, 0, "pair-up"); !ok) return ok;
  if (!member.send_content(0, binding, "pair-down")) return AssertionFailure() << member.error();
  return IsContent2(joiner.receive(), 0, binding, "pair-down");
}

}  // namespace sigver::itest
