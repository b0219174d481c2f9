#include "support/sigver_peer.h"

#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>

namespace sigver::itest {
namespace {

using Clock = std::chrono::steady_clock;

Millis remaining(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
  return left.count() < 0 ? Millis(0) : left;
}

std::string hex(std::string_view bytes, size_t limit = 64) {
  std::string out;
  char two[4];
  for (size_t i = 0; i < bytes.size() && i < limit; ++i) {
    std::snprintf(two, sizeof two, "%02x", static_cast<unsigned char>(bytes[i]));
    out += two;
  }
  if (bytes.size() > limit) out += "...";
  return out;
}

const char* kind_name(Received::Kind kind) {
  switch (kind) {
    case Received::Kind::kMessage:
      return "message";
    case Received::Kind::kBadMessage:
      return "unparsable binary message";
    case Received::Kind::kClose:
      return "close";
    case Received::Kind::kPong:
      return "pong";
    case Received::Kind::kOtherFrame:
      return "other frame";
    case Received::Kind::kTimeout:
      return "timeout";
    case Received::Kind::kEof:
      return "eof";
    case Received::Kind::kError:
      return "error";
  }
  return "?";
}

}  // namespace

std::string Received::describe() const {
  std::string text = kind_name(kind);
  switch (kind) {
    case Kind::kMessage:
      text += " {" + message.ShortDebugString() + "} raw=" + hex(raw);
      break;
    case Kind::kBadMessage:
      text += " raw=" + hex(raw);
      break;
    case Kind::kClose:
      text += close.has_code ? " " + std::to_string(close.code) + " \"" + close.reason + "\""
                             : std::string(" (no code)");
      break;
    case Kind::kPong:
      text += " \"" + raw + "\"";
      break;
    case Kind::kOtherFrame:
      text += " opcode=" + std::to_string(frame.opcode) + " fin=" + std::to_string(frame.fin) +
              " payload=" + hex(frame.payload);
      break;
    default:
      break;
  }
  return text;
}

pb::Message content_message(uint32_t id, std::string_view data) {
  pb::Message message;
  message.mutable_content()->set_id(id);
  message.mutable_content()->set_data(std::string(data));
  return message;
}

pb::Message flag_message(uint32_t id, bool is_end, bool is_error) {
  pb::Message message;
  pb::Content* content = message.mutable_content();
  content->set_id(id);
  content->set_isend(is_end);
  content->set_iserror(is_error);
  return message;
}

pb::Message stable_message() {
  pb::Message message;
  message.set_stable(true);
  return message;
}

pb::Message try_another_message() {
  pb::Message message;
  message.set_tryanother(true);
  return message;
}

pb::Message heartbeat_message() {
  pb::Message message;
  message.set_heartbeat(true);
  return message;
}

pb::Message is_first_message(bool value) {
  pb::Message message;
  message.set_isfirst(value);
  return message;
}

std::string random_key(std::string_view prefix) {
  // 48 random bits keep keys short (some tests configure max_key_length = 16) and unique
  // in practice; a mutex because the generator is shared.
  static std::mutex mutex;
  static std::mt19937_64 generator{std::random_device{}()};
  std::lock_guard lock(mutex);
  char text[16];
  std::snprintf(text, sizeof text, "%012llx",
                static_cast<unsigned long long>(generator() & 0xFFFFFFFFFFFFull));
  return std::string(prefix) + text;
}

bool Peer::open(std::string_view key, Millis timeout) {
  if (!ws_.open(port_, "/" + std::string(key), timeout)) {
    error_ = ws_.last_error();
    return false;
  }
  return true;
}

bool Peer::join(std::string_view key, bool& is_first, Millis timeout) {
  if (!open(key, timeout) || !send(heartbeat_message())) return false;
  const Received first = receive(timeout);
  if (!first.is_message() || first.message.type_case() != pb::Message::kIsFirst) {
    error_ = "join " + std::string(key) + ": expected isFirst, got " + first.describe();
    return false;
  }
  is_first = first.message.isfirst();
  return true;
}

bool Peer::send(const pb::Message& message) {
  if (!ws_.send_binary(message.SerializeAsString())) {
    error_ = ws_.last_error();
    return false;
  }
  return true;
}

Received Peer::receive(Millis timeout, bool keep_heartbeats) {
  const auto deadline = Clock::now() + timeout;
  Received result;
  std::string assembled;  // payload of a fragmented data message in progress
  uint8_t assembled_opcode = 0;
  for (;;) {
    Frame frame;
    const ReadStatus status = ws_.read_frame(frame, remaining(deadline));
    if (status != ReadStatus::kFrame) {
      result.kind = status == ReadStatus::kTimeout ? Received::Kind::kTimeout
                    : status == ReadStatus::kEof   ? Received::Kind::kEof
                                                   : Received::Kind::kError;
      return result;
    }
    switch (frame.opcode) {
      case opcode::kClose:
        result.kind = Received::Kind::kClose;
        if (frame.payload.size() >= 2) {
          result.close.has_code = true;
          result.close.code = static_cast<uint16_t>((static_cast<uint8_t>(frame.payload[0]) << 8) |
                                                    static_cast<uint8_t>(frame.payload[1]));
          result.close.reason = frame.payload.substr(2);
        }
        result.frame = std::move(frame);
        return result;
      case opcode::kPong:
        result.kind = Received::Kind::kPong;
        result.raw = frame.payload;
        result.frame = std::move(frame);
        return result;
      case opcode::kBinary:
      case opcode::kText:
      case opcode::kContinuation:
        break;
      default:
        result.kind = Received::Kind::kOtherFrame;
        result.frame = std::move(frame);
        return result;
    }
    if (frame.opcode != opcode::kContinuation) {
      assembled_opcode = frame.opcode;
      assembled.clear();
    }
    assembled += frame.payload;
    if (!frame.fin) continue;
    if (assembled_opcode != opcode::kBinary) {
      result.kind = Received::Kind::kOtherFrame;
      frame.opcode = assembled_opcode;
      frame.payload = std::move(assembled);
      result.frame = std::move(frame);
      return result;
    }
    result.raw = std::move(assembled);
    assembled.clear();
    if (!result.message.ParseFromString(result.raw)) {
      result.kind = Received::Kind::kBadMessage;
      return result;
    }
    result.kind = Received::Kind::kMessage;
    if (result.message.type_case() == pb::Message::kHeartbeat && !keep_heartbeats) {
      ++heartbeats_;
      result = Received{};
      continue;
    }
    return result;
  }
}

std::vector<Received> Peer::sync(Millis timeout) {
  std::vector<Received> before;
  const std::string token = "sync-" + std::to_string(++sync_counter_);
  if (!ws_.send_ping(token)) {
    Received failed;
    failed.kind = Received::Kind::kError;
    before.push_back(failed);
    return before;
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    Received next = receive(remaining(deadline));
    if (next.kind == Received::Kind::kPong && next.raw == token) return before;
    const bool final = next.kind == Received::Kind::kTimeout || next.kind == Received::Kind::kEof ||
                       next.kind == Received::Kind::kError || next.kind == Received::Kind::kClose;
    before.push_back(std::move(next));
    if (final) return before;
  }
}

CloseResult Peer::close_cleanly(Millis timeout) {
  ws_.send_close(1000, "bye");
  return ws_.wait_close(timeout);
}

namespace wire {

std::string varint(uint64_t value) {
  std::string out;
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
  return out;
}

std::string tag(uint32_t field, uint32_t wire_type) { return varint((field << 3) | wire_type); }

std::string varint_field(uint32_t field, uint64_t value) { return tag(field, 0) + varint(value); }

std::string bytes_field(uint32_t field, std::string_view value) {
  return tag(field, 2) + varint(value.size()) + std::string(value);
}

std::string content_message(std::string_view content_fields) {
  return bytes_field(1, content_fields);
}

namespace {
bool read_varint(std::string_view& in, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in.empty()) return false;
    const auto byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    value |= uint64_t{byte & 0x7Fu} << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}
}  // namespace

bool decode(std::string_view raw, std::vector<Field>& fields) {
  fields.clear();
  while (!raw.empty()) {
    uint64_t key = 0;
    if (!read_varint(raw, key)) return false;
    Field field;
    field.number = static_cast<uint32_t>(key >> 3);
    field.wire_type = static_cast<uint32_t>(key & 7);
    if (field.wire_type == 0) {
      if (!read_varint(raw, field.varint)) return false;
    } else if (field.wire_type == 2) {
      uint64_t size = 0;
      if (!read_varint(raw, size) || size > raw.size()) return false;
      field.bytes = std::string(raw.substr(0, size));
      raw.remove_prefix(size);
    } else {
      return false;
    }
    fields.push_back(std::move(field));
  }
  return true;
}

std::vector<Field> content_fields(std::string_view raw_message, uint32_t content_field) {
  std::vector<Field> top;
  std::vector<Field> inner;
  if (!decode(raw_message, top)) return {};
  const Field* content = find(top, content_field);
  if (content == nullptr || content->wire_type != 2 || !decode(content->bytes, inner)) return {};
  return inner;
}

const Field* find(const std::vector<Field>& fields, uint32_t number) {
  for (const auto& field : fields)
    if (field.number == number) return &field;
  return nullptr;
}

}  // namespace wire
}  // namespace sigver::itest
