#include "worker/protocol/wire.h"

namespace sigver::wire {
namespace {

// What follows a start-group tag, up to the end-group tag of the same field number. A tag 0
// or another end group inside stops libprotobuf's loop with an error.
bool skip_group(Span& in, uint32_t field_number, int depth_left) {
  if (depth_left < 1) return false;
  uint32_t t = 0;
  while (in.field_tag(t)) {
    if ((t & 7) == kEndGroup) return t == tag(field_number, kEndGroup);
    if (!skip_field(in, t, depth_left - 1)) return false;
  }
  return false;
}

}  // namespace

bool skip_field(Span& in, uint32_t field_tag, int depth_left) {
  if ((field_tag >> 3) == 0) return false;
  uint64_t ignored = 0;
  Span payload;
  switch (field_tag & 7) {
    case kVarint:
      return in.varint(ignored);
    case kFixed64:
      return in.skip(8);
    case kLengthDelimited:
      return in.length_delimited(payload);
    case kStartGroup:
      return skip_group(in, field_tag >> 3, depth_left);
    case kFixed32:
      return in.skip(4);
    default:
      return false;
  }
}

}  // namespace sigver::wire
