// libFuzzer target: ws::FrameReader fed a client's byte stream in every chunking the network
// could produce. Whole, one byte at a time, cut at points taken from the input, and in
// pseudo-random pieces with the reader moved to a fresh one (as a group move to another
// worker does) between pieces: each must yield the same callbacks, with the same payloads
// and close codes, and leave the same unconsumed bytes. The close-reason UTF-8 check is also
// compared with a plain code point decoder here.
//
// Input: byte 0 = limits (bits 0-2: max_message_size, bits 3-7: stop after that many
// callbacks, 0 = never), byte 1 = seed of the random chunking, then the stream.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "ws/frame.h"

namespace {

using sigver::fuzz::require;
using sigver::ws::FrameHandler;
using sigver::ws::FrameReader;
using sigver::ws::Opcode;

constexpr uint64_t kMaxSizes[] = {0, 1, 16, 125, 126, 1000, 65536, 1 << 20};

// Every callback as a string; stops like the worker does on a close frame, and after
// `stop_after` callbacks when that is not 0.
class Recorder final : public FrameHandler {
 public:
  Recorder(uint64_t max_message_size, size_t stop_after)
      : max_(max_message_size), stop_after_(stop_after) {}

  bool on_message(Opcode opcode, char* data, size_t size) override {
    require(opcode == Opcode::kText || opcode == Opcode::kBinary, "a message of a control opcode");
    require(size <= max_, "a message over max_message_size");
    return record("message " + std::to_string(static_cast<int>(opcode)) + " ", data, size);
  }
  bool on_ping(char* data, size_t size) override { return control("ping ", data, size); }
  bool on_pong(char* data, size_t size) override { return control("pong ", data, size); }
  bool on_close(uint16_t code, std::string_view reason) override {
    require(
        code == sigver::ws::close_code::kNoStatus || sigver::ws::is_valid_received_close_code(code),
        "a close frame with an invalid code");
    require(reason.size() <= 123, "a close reason over 123 bytes");
    require(sigver::ws::is_valid_utf8(reason.data(), reason.size()), "a close reason not UTF-8");
    record("close " + std::to_string(code) + " ", reason.data(), reason.size());
    stopped = true;  // the worker reads nothing after a close frame
    return false;
  }
  void on_error(uint16_t code, std::string_view reason) override {
    require(code == 1002 || code == 1007 || code == 1009, "an error with an unexpected code");
    record("error " + std::to_string(code) + " ", reason.data(), reason.size());
    stopped = true;
  }

  std::vector<std::string> events;
  bool stopped = false;

 private:
  bool control(const char* kind, char* data, size_t size) {
    require(size <= 125, "a control payload over 125 bytes");
    return record(kind, data, size);
  }
  bool record(std::string event, const char* data, size_t size) {
    require(!stopped, "a callback after the reader was told to stop");
    event.append(data, size);
    events.push_back(std::move(event));
    if (stop_after_ != 0 && events.size() >= stop_after_) stopped = true;
    return !stopped;
  }

  uint64_t max_;
  size_t stop_after_;
};

struct Outcome {
  std::vector<std::string> events;
  std::string left;  // bytes not consumed when the input ended (a partial frame)
  bool stopped = false;
};

// Feeds `stream` in pieces of the sizes `next_piece` returns (at least 1), keeping the
// unconsumed bytes in front of the next piece as the worker does. With `move_reader`, a
// reader that is assembling a message is replaced by a fresh one resumed from it.
template <typename NextPiece>
Outcome run(std::string_view stream, uint64_t max_size, size_t stop_after, NextPiece next_piece,
            bool move_reader) {
  auto reader = std::make_unique<FrameReader>(max_size);
  Recorder recorder(max_size, stop_after);
  std::string pending;
  size_t pos = 0;
  while (pos < stream.size() && !recorder.stopped) {
    const size_t piece = std::min(next_piece(pos), stream.size() - pos);
    pending.append(stream.substr(pos, piece));
    pos += piece;
    const size_t used = reader->feed(pending.data(), pending.size(), recorder);
    if (recorder.stopped) break;
    require(used <= pending.size(), "consumed more than it was given");
    pending.erase(0, used);
    if (move_reader && reader->assembling()) {
      auto moved = std::make_unique<FrameReader>(max_size);
      moved->resume_assembly(reader->assembling_opcode(), reader->assembled());
      reader = std::move(moved);
    }
  }
  Outcome outcome;
  outcome.events = std::move(recorder.events);
  outcome.stopped = recorder.stopped;
  if (!outcome.stopped) outcome.left = pending;
  return outcome;
}

bool same(const Outcome& a, const Outcome& b) {
  return a.events == b.events && a.left == b.left && a.stopped == b.stopped;
}

// RFC 3629 by decoding each code point, for comparison with the table-driven validator.
bool reference_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    uint32_t c = static_cast<unsigned char>(s[i]);
    size_t length = 1;
    uint32_t min = 0;
    if (c >= 0x80) {
      if ((c & 0xE0) == 0xC0) {
        length = 2, c &= 0x1F, min = 0x80;
      } else if ((c & 0xF0) == 0xE0) {
        length = 3, c &= 0x0F, min = 0x800;
      } else if ((c & 0xF8) == 0xF0) {
        length = 4, c &= 0x07, min = 0x10000;
      } else {
        return false;
      }
      if (s.size() - i < length) return false;
      for (size_t k = 1; k < length; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return false;
        c = (c << 6) | (b & 0x3F);
      }
      if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    }
    i += length;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint64_t max_size = kMaxSizes[data[0] & 7];
  const size_t stop_after = data[0] >> 3;
  const uint8_t seed = data[1];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);

  // Unaligned starts too: the validator reads eight bytes at a time where it can.
  for (size_t skip = 0; skip < 8 && skip <= stream.size(); ++skip) {
    const std::string_view s = stream.substr(skip);
    require(sigver::ws::is_valid_utf8(s.data(), s.size()) == reference_utf8(s),
            "is_valid_utf8 disagrees with a plain decoder");
  }

  const Outcome whole = run(
      stream, max_size, stop_after, [&](size_t) { return stream.size(); }, false);
  const Outcome bytewise = run(
      stream, max_size, stop_after, [](size_t) { return size_t{1}; }, false);
  require(same(whole, bytewise), "byte-at-a-time differs from whole");
  const Outcome cut = run(
      stream, max_size, stop_after,
      [&](size_t pos) {
        size_t n = 1;  // up to the next byte whose low bits match the seed
        while (pos + n < stream.size() && ((stream[pos + n] ^ seed) & 7) != 0) ++n;
        return n;
      },
      false);
  require(same(whole, cut), "cutting at points from the input differs from whole");
  uint32_t state = seed * 2654435761u + 1;
  const Outcome random = run(
      stream, max_size, stop_after,
      [&](size_t) {
        state ^= state << 13, state ^= state >> 17, state ^= state << 5;
        return size_t{1} + state % (1u + seed % 64);
      },
      true);
  require(same(whole, random), "random pieces with reader moves differ from whole");
  return 0;
}
