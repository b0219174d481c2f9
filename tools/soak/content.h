#pragma once
// What the soak's peers put in their contents, and the few messages it writes that
// tools/bench/wire.h has no encoder for. A content carries a 16-byte header (tag, joiner,
// sequence number, size) and then a pattern derived from it, so the receiver can tell
// exactly which message it got and that no byte changed on the way.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace soak {

inline constexpr uint32_t kRequestTag = 0x51455253;  // joiner -> member
inline constexpr uint32_t kReplyTag = 0x594c5052;    // member -> joiner
inline constexpr size_t kHeaderSize = 16;

struct DataHeader {
  uint32_t tag = 0, joiner = 0, seq = 0, size = 0;
};

// `size` bytes (at least the header) for message `seq` of `joiner`.
std::string make_data(uint32_t tag, uint32_t joiner, uint32_t seq, size_t size);
// False unless `data` is a content this tool made, byte for byte.
bool read_data(std::string_view data, DataHeader& h);

inline constexpr unsigned kStableField = 3;
inline constexpr unsigned kTryAnotherField = 5;
// Message{<field> = true}: stable, tryAnother.
std::string flag_message(unsigned field);
// Message{content{id (omitted when 0), isEnd: true}}: how netflux ends a relay direction.
std::string end_message(uint32_t id);

inline constexpr uint16_t kCloseNormal = 1000;
// A masked close frame with `code` and a short reason.
std::string close_frame(uint16_t code);

}  // namespace soak
