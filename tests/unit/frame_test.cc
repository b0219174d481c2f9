// FrameReader (client frames, any chunking) and the server frame writers.
#include "ws/frame.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace sigver::ws {
namespace {

constexpr uint8_t kFin = 0x80;

enum class LengthForm { kMinimal, k16, k64 };

// Builds a client frame: header byte 0 as given, masked with `mask` unless `masked` is false.
std::string client_frame(uint8_t byte0, std::string_view payload, bool masked = true,
                         LengthForm form = LengthForm::kMinimal,
                         std::array<uint8_t, 4> mask = {0x37, 0xFA, 0x21, 0x3D}) {
  std::string out;
  out.push_back(static_cast<char>(byte0));
  const uint8_t mask_bit = masked ? 0x80 : 0;
  const uint64_t n = payload.size();
  if (form == LengthForm::kMinimal && n < 126) {
    out.push_back(static_cast<char>(mask_bit | n));
  } else if (form != LengthForm::k64 && n <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  }
  if (!masked) return out + std::string(payload);
  for (uint8_t b : mask) out.push_back(static_cast<char>(b));
  for (size_t i = 0; i < payload.size(); ++i) {
    out.push_back(static_cast<char>(payload[i] ^ static_cast<char>(mask[i % 4])));
  }
  return out;
}

std::string frame(Opcode opcode, std::string_view payload, bool fin = true) {
  return client_frame(static_cast<uint8_t>((fin ? kFin : 0) | static_cast<uint8_t>(opcode)),
                      payload);
}

std::string close_payload(uint16_t code, std::string_view reason = "") {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xFF));
  return p + std::string(reason);
}

// Records every event as a readable string; can refuse to go on after N callbacks.
class Recorder : public FrameHandler {
 public:
  std::vector<std::string> events;
  int stop_after = -1;  // callbacks to accept before returning false; -1 = never stop
  const char* last_message_data = nullptr;

  bool on_message(Opcode opcode, char* data, size_t size) override {
    last_message_data = data;
    const char* kind = opcode == Opcode::kText ? "text:" : "binary:";
    return record(kind + std::string(data, size));
  }
  bool on_ping(char* data, size_t size) override {
    return record("ping:" + std::string(data, size));
  }
  bool on_pong(char* data, size_t size) override {
    return record("pong:" + std::string(data, size));
  }
  bool on_close(uint16_t code, std::string_view reason) override {
    return record("close:" + std::to_string(code) + ":" + std::string(reason));
  }
  void on_error(uint16_t code, std::string_view reason) override {
    EXPECT_FALSE(reason.empty());
    events.push_back("error:" + std::to_string(code));
    failed = true;
  }
  bool failed = false;

 private:
  bool record(std::string event) {
    EXPECT_FALSE(failed) << "event after an error";
    events.push_back(std::move(event));
    if (stop_after < 0) return true;
    return static_cast<int>(events.size()) < stop_after;
  }
};

// Plays the caller: keeps unconsumed bytes and feeds them again followed by the next chunk.
struct Feeder {
  explicit Feeder(uint64_t max_message_size = 1 << 20) : reader(max_message_size) {}

  void push(std::string_view chunk) {
    if (recorder.failed) return;
    pending.append(chunk);
    const size_t consumed = reader.feed(pending.data(), pending.size(), recorder);
    ASSERT_LE(consumed, pending.size());
    if (!recorder.failed) pending.erase(0, consumed);
  }

  FrameReader reader;
  Recorder recorder;
  std::string pending;
};

std::vector<std::string> feed_whole(const std::string& stream, uint64_t max = 1 << 20) {
  Feeder f(max);
  f.push(stream);
  return f.recorder.events;
}

// Feeds `stream` split at every point, at every pair of points, and byte by byte, and checks
// each time that the events equal `expected`.
void expect_same_events_in_any_chunking(const std::string& stream,
                                        const std::vector<std::string>& expected,
                                        uint64_t max = 1 << 20) {
  EXPECT_EQ(feed_whole(stream, max), expected);
  for (size_t i = 0; i <= stream.size(); ++i) {
    Feeder f(max);
    f.push(stream.substr(0, i));
    f.push(stream.substr(i));
    ASSERT_EQ(f.recorder.events, expected) << "split at " << i;
  }
  if (stream.size() <= 160) {
    for (size_t i = 0; i <= stream.size(); ++i) {
      for (size_t j = i; j <= stream.size(); ++j) {
        Feeder f(max);
        f.push(stream.substr(0, i));
        f.push(stream.substr(i, j - i));
        f.push(stream.substr(j));
        ASSERT_EQ(f.recorder.events, expected) << "split at " << i << " and " << j;
      }
    }
  }
  Feeder f(max);
  for (char c : stream) f.push(std::string(1, c));
  EXPECT_EQ(f.recorder.events, expected) << "byte at a time";
}

TEST(FrameReader, UnfragmentedMessageIsAViewIntoTheInput) {
  std::string input = frame(Opcode::kBinary, "hello");
  FrameReader reader(1024);
  Recorder recorder;
  EXPECT_EQ(reader.feed(input.data(), input.size(), recorder), input.size());
  ASSERT_EQ(recorder.events, std::vector<std::string>{"binary:hello"});
  EXPECT_EQ(recorder.last_message_data, input.data() + 6);  // unmasked in place
  EXPECT_EQ(input.substr(6), "hello");
  EXPECT_FALSE(reader.assembling());
}

TEST(FrameReader, TextIsPassedOnWithoutUtf8Check) {
  expect_same_events_in_any_chunking(frame(Opcode::kText, "\xff\xfe"),
                                     {std::string("text:\xff\xfe")});
}

TEST(FrameReader, EmptyMessagesAndControlFrames) {
  const std::string stream = frame(Opcode::kBinary, "") + frame(Opcode::kText, "") +
                             frame(Opcode::kPing, "") + frame(Opcode::kPong, "");
  expect_same_events_in_any_chunking(stream, {"binary:", "text:", "ping:", "pong:"});
}

TEST(FrameReader, SeveralFramesInAnyChunking) {
  const std::string stream = frame(Opcode::kBinary, "first") + frame(Opcode::kPing, "p") +
                             frame(Opcode::kText, "second") + frame(Opcode::kPong, "q") +
                             frame(Opcode::kClose, close_payload(1000, "bye"));
  expect_same_events_in_any_chunking(
      stream, {"binary:first", "ping:p", "text:second", "pong:q", "close:1000:bye"});
}

TEST(FrameReader, PartialFrameIsNotConsumed) {
  std::string input = frame(Opcode::kBinary, std::string(300, 'x'));
  FrameReader reader(1024);
  Recorder recorder;
  for (size_t n = 0; n < input.size(); ++n) {
    EXPECT_EQ(reader.feed(input.data(), n, recorder), 0u) << n;
  }
  EXPECT_TRUE(recorder.events.empty());
  EXPECT_EQ(reader.feed(input.data(), input.size(), recorder), input.size());
  EXPECT_EQ(recorder.events.size(), 1u);
}

TEST(FrameReader, LengthEncodings) {
  for (size_t size : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 70000u}) {
    std::string payload(size, '\0');
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
    for (LengthForm form : {LengthForm::kMinimal, LengthForm::k16, LengthForm::k64}) {
      if (form == LengthForm::k16 && size > 0xFFFF) continue;
      const std::string input = client_frame(kFin | 0x2, payload, true, form);
      const size_t header = input.size() - size;
      if (form == LengthForm::kMinimal) {
        EXPECT_EQ(header, size < 126 ? 6u : size <= 0xFFFF ? 8u : 14u);
      }
      EXPECT_EQ(feed_whole(input), std::vector<std::string>{"binary:" + payload}) << size;
    }
  }
}

TEST(FrameReader, LengthEncodingsInAnyChunking) {
  const std::string payload(200, 'z');
  expect_same_events_in_any_chunking(client_frame(kFin | 0x2, payload, true, LengthForm::k16),
                                     {"binary:" + payload});
  expect_same_events_in_any_chunking(client_frame(kFin | 0x2, payload, true, LengthForm::k64),
                                     {"binary:" + payload});
}

TEST(FrameReader, FragmentedMessageWithInterleavedControlFrames) {
  const std::string stream = frame(Opcode::kText, "Hel", false) + frame(Opcode::kPing, "1") +
                             frame(Opcode::kContinuation, "lo", false) + frame(Opcode::kPong, "2") +
                             frame(Opcode::kContinuation, "", false) +
                             frame(Opcode::kContinuation, " world", true) +
                             frame(Opcode::kBinary, "after");
  expect_same_events_in_any_chunking(stream,
                                     {"ping:1", "pong:2", "text:Hello world", "binary:after"});
}

TEST(FrameReader, AssemblingStateFollowsTheMessage) {
  Feeder f;
  f.push(frame(Opcode::kBinary, "a", false));
  EXPECT_TRUE(f.reader.assembling());
  f.push(frame(Opcode::kPing, "x"));
  EXPECT_TRUE(f.reader.assembling());
  f.push(frame(Opcode::kContinuation, "b", true));
  EXPECT_FALSE(f.reader.assembling());
  EXPECT_EQ(f.recorder.events, (std::vector<std::string>{"ping:x", "binary:ab"}));
  // A second fragmented message reuses the reader cleanly.
  f.push(frame(Opcode::kText, "c", false) + frame(Opcode::kContinuation, "d"));
  EXPECT_EQ(f.recorder.events.back(), "text:cd");
}

TEST(FrameReader, AllEmptyFragmentsMakeAnEmptyMessage) {
  expect_same_events_in_any_chunking(
      frame(Opcode::kBinary, "", false) + frame(Opcode::kContinuation, ""), {"binary:"});
}

TEST(FrameReader, CloseFrames) {
  expect_same_events_in_any_chunking(frame(Opcode::kClose, ""), {"close:1005:"});
  expect_same_events_in_any_chunking(frame(Opcode::kClose, close_payload(1000)), {"close:1000:"});
  expect_same_events_in_any_chunking(frame(Opcode::kClose, close_payload(4001, "caf\xc3\xa9")),
                                     {"close:4001:caf\xc3\xa9"});
  expect_same_events_in_any_chunking(frame(Opcode::kClose, "\x03"), {"error:1002"});
  expect_same_events_in_any_chunking(frame(Opcode::kClose, close_payload(1000, "\xc3\x28")),
                                     {"error:1007"});
  expect_same_events_in_any_chunking(frame(Opcode::kClose, close_payload(1000, "\xed\xa0\x80")),
                                     {"error:1007"});
}

TEST(FrameReader, CloseCodes) {
  for (uint16_t code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
                        3000, 3999, 4000, 4999}) {
    EXPECT_TRUE(is_valid_received_close_code(code)) << code;
    EXPECT_EQ(feed_whole(frame(Opcode::kClose, close_payload(code, "r"))),
              std::vector<std::string>{"close:" + std::to_string(code) + ":r"});
  }
  for (uint16_t code : {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    EXPECT_FALSE(is_valid_received_close_code(code)) << code;
    EXPECT_EQ(feed_whole(frame(Opcode::kClose, close_payload(code))),
              std::vector<std::string>{"error:1002"})
        << code;
  }
}

TEST(FrameReader, ProtocolErrors) {
  const std::string error = "error:1002";
  // Unmasked client frame.
  expect_same_events_in_any_chunking(client_frame(kFin | 0x2, "abc", false), {error});
  // RSV1, RSV2, RSV3 (no extension was negotiated).
  for (uint8_t rsv : {0x40, 0x20, 0x10}) {
    expect_same_events_in_any_chunking(client_frame(static_cast<uint8_t>(kFin | rsv | 0x2), "a"),
                                       {error});
  }
  // Reserved opcodes.
  for (uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    expect_same_events_in_any_chunking(client_frame(static_cast<uint8_t>(kFin | op), "a"), {error});
  }
  // Fragmented control frames and control payloads over 125 bytes.
  for (Opcode op : {Opcode::kPing, Opcode::kPong, Opcode::kClose}) {
    expect_same_events_in_any_chunking(frame(op, "", false), {error});
    EXPECT_EQ(feed_whole(frame(op, std::string(126, 'a'))), std::vector<std::string>{error});
    EXPECT_EQ(feed_whole(client_frame(kFin | static_cast<uint8_t>(op), "x", true, LengthForm::k16)),
              std::vector<std::string>{error});
  }
  EXPECT_EQ(feed_whole(frame(Opcode::kPing, std::string(125, 'a'))),
            std::vector<std::string>{"ping:" + std::string(125, 'a')});
  // Continuation without a message; new data frame inside a fragmented message.
  expect_same_events_in_any_chunking(frame(Opcode::kContinuation, "x"), {error});
  expect_same_events_in_any_chunking(frame(Opcode::kText, "a", false) + frame(Opcode::kText, "b"),
                                     {error});
  expect_same_events_in_any_chunking(
      frame(Opcode::kBinary, "a", false) + frame(Opcode::kPing, "") + frame(Opcode::kBinary, "b"),
      {"ping:", error});
  // A message after a complete fragmented one is fine; a continuation after it is not.
  expect_same_events_in_any_chunking(frame(Opcode::kText, "a", false) +
                                         frame(Opcode::kContinuation, "b") +
                                         frame(Opcode::kContinuation, "c"),
                                     {"text:ab", error});
}

TEST(FrameReader, ErrorsFollowingValidFramesAreReportedAfterThem) {
  expect_same_events_in_any_chunking(
      frame(Opcode::kBinary, "ok") + client_frame(kFin | 0x2, "bad", false),
      {"binary:ok", "error:1002"});
}

TEST(FrameReader, SixtyFourBitLengthWithTopBitIsRejectedFromTheHeaderAlone) {
  std::string header = "\x82\xff";
  header += std::string("\x80\x00\x00\x00\x00\x00\x00\x01", 8);
  Feeder f(UINT64_MAX);
  f.push(header);  // no mask, no payload: the length alone decides
  EXPECT_EQ(f.recorder.events, std::vector<std::string>{"error:1002"});
}

TEST(FrameReader, MessageTooBigUnfragmentedIsRejectedFromTheHeader) {
  const std::string input = frame(Opcode::kBinary, std::string(11, 'x'));
  Feeder f(10);
  f.push(input.substr(0, 2));  // only the first two header bytes
  EXPECT_EQ(f.recorder.events, std::vector<std::string>{"error:1009"});
  expect_same_events_in_any_chunking(input, {"error:1009"}, 10);
  expect_same_events_in_any_chunking(frame(Opcode::kBinary, std::string(10, 'x')),
                                     {"binary:" + std::string(10, 'x')}, 10);
  // A 16-bit length is judged as soon as its two bytes are there.
  Feeder g(1000);
  g.push(frame(Opcode::kBinary, std::string(1001, 'x')).substr(0, 4));
  EXPECT_EQ(g.recorder.events, std::vector<std::string>{"error:1009"});
  // A 64-bit length far beyond any memory.
  std::string huge = "\x82\xff";
  huge += std::string("\x7f\xff\xff\xff\xff\xff\xff\xff", 8);
  Feeder h(1 << 20);
  h.push(huge);
  EXPECT_EQ(h.recorder.events, std::vector<std::string>{"error:1009"});
}

TEST(FrameReader, MessageTooBigCountsAllFragments) {
  const std::string ok = frame(Opcode::kText, "12345", false) + frame(Opcode::kPing, "") +
                         frame(Opcode::kContinuation, "67890");
  expect_same_events_in_any_chunking(ok, {"ping:", "text:1234567890"}, 10);
  const std::string too_big = frame(Opcode::kText, "12345", false) +
                              frame(Opcode::kContinuation, "678", false) +
                              frame(Opcode::kContinuation, "901");
  expect_same_events_in_any_chunking(too_big, {"error:1009"}, 10);
  // The error comes with the continuation's header, before its payload arrived.
  Feeder f(10);
  f.push(frame(Opcode::kText, "12345", false) + frame(Opcode::kContinuation, "678", false));
  EXPECT_TRUE(f.recorder.events.empty());
  f.push(frame(Opcode::kContinuation, "901").substr(0, 2));
  EXPECT_EQ(f.recorder.events, std::vector<std::string>{"error:1009"});
  // Control frames do not count towards the message size.
  expect_same_events_in_any_chunking(frame(Opcode::kPing, std::string(100, 'p')),
                                     {"ping:" + std::string(100, 'p')}, 10);
}

TEST(FrameReader, SetMaxMessageSizeApplies) {
  FrameReader reader(100);
  reader.set_max_message_size(3);
  Recorder recorder;
  std::string input = frame(Opcode::kBinary, "abcd");
  reader.feed(input.data(), input.size(), recorder);
  EXPECT_EQ(recorder.events, std::vector<std::string>{"error:1009"});
}

TEST(FrameReader, StopsRightAfterACallbackReturnsFalse) {
  const std::string first = frame(Opcode::kPing, "a");
  const std::string stream = first + frame(Opcode::kBinary, "b") + frame(Opcode::kPong, "c");
  for (int stop_after = 1; stop_after <= 3; ++stop_after) {
    std::string input = stream;
    FrameReader reader(100);
    Recorder recorder;
    recorder.stop_after = stop_after;
    const size_t consumed = reader.feed(input.data(), input.size(), recorder);
    EXPECT_EQ(recorder.events.size(), static_cast<size_t>(stop_after));
    EXPECT_EQ(consumed, first.size() * static_cast<size_t>(stop_after));
  }
  // The same after a close frame and after a defragmented message.
  std::string input = frame(Opcode::kClose, close_payload(1000)) + frame(Opcode::kPing, "x");
  FrameReader reader(100);
  Recorder recorder;
  recorder.stop_after = 1;
  EXPECT_EQ(reader.feed(input.data(), input.size(), recorder), 8u);
  EXPECT_EQ(recorder.events, std::vector<std::string>{"close:1000:"});

  input = frame(Opcode::kBinary, "a", false) + frame(Opcode::kContinuation, "b") +
          frame(Opcode::kPing, "x");
  Recorder recorder2;
  recorder2.stop_after = 1;
  FrameReader reader2(100);
  EXPECT_EQ(reader2.feed(input.data(), input.size(), recorder2), 14u);
  EXPECT_EQ(recorder2.events, std::vector<std::string>{"binary:ab"});
  EXPECT_FALSE(reader2.assembling());
}

TEST(FrameReader, RandomInputNeverCrashes) {
  std::mt19937 rng(12345);
  const std::string valid = frame(Opcode::kText, "Hel", false) + frame(Opcode::kPing, "1") +
                            frame(Opcode::kContinuation, "lo") +
                            frame(Opcode::kBinary, std::string(300, 'b')) +
                            frame(Opcode::kClose, close_payload(1000, "bye"));
  for (int round = 0; round < 3000; ++round) {
    std::string input;
    if (round % 3 == 0) {
      input.resize(rng() % 400);
      for (char& c : input) c = static_cast<char>(rng());
    } else {
      input = valid;
      const int mutations = 1 + static_cast<int>(rng() % 4);
      for (int m = 0; m < mutations; ++m) {
        input[rng() % input.size()] = static_cast<char>(rng());
      }
      if (rng() % 4 == 0) input.resize(rng() % input.size());
    }
    Feeder f(1 + rng() % 1000);
    size_t pos = 0;
    while (pos < input.size() && !f.recorder.failed) {
      const size_t n = std::min<size_t>(1 + rng() % 64, input.size() - pos);
      f.push(input.substr(pos, n));
      pos += n;
    }
    EXPECT_LE(f.recorder.events.size(), input.size());
  }
}

// ---- writers ----

TEST(FrameWriter, HeaderSizes) {
  EXPECT_EQ(frame_header_size(0), 2u);
  EXPECT_EQ(frame_header_size(125), 2u);
  EXPECT_EQ(frame_header_size(126), 4u);
  EXPECT_EQ(frame_header_size(65535), 4u);
  EXPECT_EQ(frame_header_size(65536), 10u);
  EXPECT_LE(frame_header_size(SIZE_MAX), kMaxFrameHeader);
}

TEST(FrameWriter, HeaderBytes) {
  char out[kMaxFrameHeader];
  ASSERT_EQ(write_frame_header(out, Opcode::kText, 125), 2u);
  EXPECT_EQ(std::string(out, 2), "\x81\x7d");
  ASSERT_EQ(write_frame_header(out, Opcode::kBinary, 126), 4u);
  EXPECT_EQ(std::string(out, 4), std::string("\x82\x7e\x00\x7e", 4));
  ASSERT_EQ(write_frame_header(out, Opcode::kPing, 65535), 4u);
  EXPECT_EQ(std::string(out, 4), std::string("\x89\x7e\xff\xff", 4));
  ASSERT_EQ(write_frame_header(out, Opcode::kBinary, 65536), 10u);
  EXPECT_EQ(std::string(out, 10), std::string("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10));
  ASSERT_EQ(write_frame_header(out, Opcode::kBinary, 0x0102030405ULL), 10u);
  EXPECT_EQ(std::string(out, 10), std::string("\x82\x7f\x00\x00\x00\x01\x02\x03\x04\x05", 10));
}

// Decodes one unmasked server frame: {byte0, payload}.
std::pair<uint8_t, std::string> decode_server_frame(std::string_view bytes) {
  EXPECT_GE(bytes.size(), 2u);
  const auto b1 = static_cast<uint8_t>(bytes[1]);
  EXPECT_EQ(b1 & 0x80, 0) << "server frames are never masked";
  uint64_t length = b1 & 0x7F;
  size_t header = 2;
  if (length >= 126) {
    const size_t n = length == 126 ? 2 : 8;
    length = 0;
    for (size_t i = 0; i < n; ++i) length = (length << 8) | static_cast<uint8_t>(bytes[2 + i]);
    header += n;
  }
  EXPECT_EQ(bytes.size(), header + length);
  return {static_cast<uint8_t>(bytes[0]), std::string(bytes.substr(header))};
}

TEST(FrameWriter, AppendFrameRoundTripsAllLengthForms) {
  for (size_t size : {0u, 5u, 125u, 126u, 65535u, 65536u, 100000u}) {
    std::string payload(size, 'q');
    Buffer out;
    append_frame(out, Opcode::kBinary, payload.data(), payload.size());
    EXPECT_EQ(out.size(), frame_header_size(size) + size);
    const auto [byte0, decoded] = decode_server_frame(out.view());
    EXPECT_EQ(byte0, 0x82);
    EXPECT_EQ(decoded, payload);
  }
}

TEST(FrameWriter, AppendsToExistingOutput) {
  Buffer out;
  append_frame(out, Opcode::kText, "ab", 2);
  append_frame(out, Opcode::kPong, "", 0);
  EXPECT_EQ(out.view(), std::string_view("\x81\x02"
                                         "ab"
                                         "\x8a\x00",
                                         6));
}

TEST(FrameWriter, CloseFrame) {
  Buffer out;
  append_close_frame(out, close_code::kNormal, "bye");
  EXPECT_EQ(out.view(), std::string_view("\x88\x05\x03\xe8"
                                         "bye",
                                         7));

  Buffer empty;
  append_close_frame(empty, close_code::kNoStatus, "ignored");
  EXPECT_EQ(empty.view(), std::string_view("\x88\x00", 2));

  Buffer app;
  append_close_frame(app, 4001, "");
  EXPECT_EQ(app.view(), std::string_view("\x88\x02\x0f\xa1", 4));
}

TEST(FrameWriter, CloseReasonIsCutToFitAtAUtf8Boundary) {
  struct Case {
    std::string reason;
    size_t expected_reason_size;
  };
  const std::string e_acute = "\xc3\xa9";        // 2 bytes
  const std::string euro = "\xe2\x82\xac";       // 3 bytes
  const std::string emoji = "\xf0\x9f\x98\x80";  // 4 bytes
  std::string twos, threes, fours, exact;
  for (int i = 0; i < 62; ++i) twos += e_acute;  // 124 bytes; byte 123 is a continuation
  for (int i = 0; i < 42; ++i) threes += euro;   // 126 bytes; 41 fit (123)
  for (int i = 0; i < 31; ++i) fours += emoji;   // 124 bytes; 30 fit (120)
  exact = std::string(122, 'a') + e_acute;       // 124 bytes; the e-acute is split
  const std::vector<Case> cases = {
      {std::string(123, 'a'), 123},
      {std::string(200, 'a'), 123},
      {twos, 122},
      {threes, 123},
      {fours, 120},
      {exact, 122},
  };
  for (const Case& c : cases) {
    Buffer out;
    append_close_frame(out, close_code::kGoingAway, c.reason);
    const auto [byte0, payload] = decode_server_frame(out.view());
    EXPECT_EQ(byte0, 0x88);
    ASSERT_GE(payload.size(), 2u);
    EXPECT_LE(payload.size(), 125u);
    EXPECT_EQ(payload.substr(0, 2), "\x03\xe9");
    EXPECT_EQ(payload.size() - 2, c.expected_reason_size);
    EXPECT_EQ(payload.substr(2), c.reason.substr(0, c.expected_reason_size));
    EXPECT_TRUE(is_valid_utf8(payload.data() + 2, payload.size() - 2));
  }
}

// ---- UTF-8 ----

TEST(Utf8, Valid) {
  const std::vector<std::string> valid = {
      "",
      "plain ascii, long enough to take the word-at-a-time path more than once",
      std::string("nul\0inside", 10),
      "\x7f",
      "\xc2\x80",                                      // U+0080, smallest 2-byte
      "\xdf\xbf",                                      // U+07FF
      "\xe0\xa0\x80",                                  // U+0800, smallest 3-byte
      "\xed\x9f\xbf",                                  // U+D7FF, just below the surrogates
      "\xee\x80\x80",                                  // U+E000, just above
      "\xef\xbf\xbf",                                  // U+FFFF
      "\xf0\x90\x80\x80",                              // U+10000, smallest 4-byte
      "\xf4\x8f\xbf\xbf",                              // U+10FFFF, the largest
      "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",  // "kosme" in Greek
      "abcdefg\xc3\xa9hijklmnopq\xf0\x9f\x98\x80rstuvwxyz",
  };
  for (const std::string& s : valid) {
    EXPECT_TRUE(is_valid_utf8(s.data(), s.size())) << testing::PrintToString(s);
  }
}

TEST(Utf8, Invalid) {
  const std::vector<std::string> invalid = {
      "\x80",  // lone continuation
      "\xbf",
      "\xc0\x80",          // overlong NUL
      "\xc1\xbf",          // overlong
      "\xe0\x80\x80",      // overlong 3-byte
      "\xe0\x9f\xbf",      // overlong U+07FF
      "\xf0\x80\x80\x80",  // overlong 4-byte
      "\xf0\x8f\xbf\xbf",  // overlong U+FFFF
      "\xed\xa0\x80",      // U+D800 surrogate
      "\xed\xbf\xbf",      // U+DFFF surrogate
      "\xf4\x90\x80\x80",  // U+110000
      "\xf5\x80\x80\x80",
      "\xf8\x88\x80\x80\x80",  // 5-byte form
      "\xfe",
      "\xff",
      "\xc3",          // truncated 2-byte
      "\xe2\x82",      // truncated 3-byte
      "\xf0\x9f\x98",  // truncated 4-byte
      "\xc3\x28",      // bad continuation
      "\xe2\x28\xa1",
      "\xe2\x82\x28",
      "\xf0\x9f\x28\x80",
      "\xf0\x9f\x98\x28",
      "abcdefghijklmnop\xc3",  // truncated after the fast path
      "abcdefgh\x80ijklmnop",  // stray continuation inside ASCII words
  };
  for (const std::string& s : invalid) {
    EXPECT_FALSE(is_valid_utf8(s.data(), s.size())) << testing::PrintToString(s);
  }
}

TEST(Utf8, AgreesWithAReferenceDecoderOnAllShortSequences) {
  // Reference: decode by the definition (code point ranges), independently of the table.
  auto reference = [](const unsigned char* p, size_t n) {
    size_t i = 0;
    while (i < n) {
      const unsigned char c = p[i];
      size_t len;
      uint32_t cp;
      if (c < 0x80) {
        len = 1;
        cp = c;
      } else if ((c & 0xE0) == 0xC0) {
        len = 2;
        cp = c & 0x1F;
      } else if ((c & 0xF0) == 0xE0) {
        len = 3;
        cp = c & 0x0F;
      } else if ((c & 0xF8) == 0xF0) {
        len = 4;
        cp = c & 0x07;
      } else
        return false;
      if (i + len > n) return false;
      for (size_t k = 1; k < len; ++k) {
        if ((p[i + k] & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (p[i + k] & 0x3F);
      }
      const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
      if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
      i += len;
    }
    return true;
  };
  // Every 1- and 2-byte string, and 3-byte strings over a set of interesting bytes.
  for (int a = 0; a < 256; ++a) {
    for (int b = -1; b < 256; ++b) {
      unsigned char s[2] = {static_cast<unsigned char>(a), static_cast<unsigned char>(b)};
      const size_t n = b < 0 ? 1 : 2;
      ASSERT_EQ(is_valid_utf8(reinterpret_cast<char*>(s), n), reference(s, n)) << a << " " << b;
    }
  }
  const unsigned char interesting[] = {0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                       0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee,
                                       0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff};
  for (unsigned char a : interesting) {
    for (unsigned char b : interesting) {
      for (unsigned char c : interesting) {
        for (unsigned char d : interesting) {
          const unsigned char s[4] = {a, b, c, d};
          for (size_t n = 3; n <= 4; ++n) {
            ASSERT_EQ(is_valid_utf8(reinterpret_cast<const char*>(s), n), reference(s, n));
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace sigver::ws
