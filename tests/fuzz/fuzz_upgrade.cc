// libFuzzer target: ws::parse_upgrade_request on any bytes a client may send before its
// first frame. Besides memory safety it checks what the worker relies on: the server parses
// again from scratch as more bytes arrive and acts on the first decision, and the owner of a
// handed-off connection parses the same bytes again, so a decision must depend only on the
// bytes it was made on; a smaller limit never accepts what a larger one refuses; an accepted
// request lies within the limit and its key within the request.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/buffer.h"
#include "fuzz_check.h"
#include "ws/http_upgrade.h"

namespace {

using sigver::fuzz::require;
using sigver::ws::UpgradeRequest;
using sigver::ws::UpgradeStatus;

constexpr size_t kSmallLimit = 1024;  // the smallest max_header_size the config allows
constexpr size_t kLimit = 8192;       // the default

bool same(const UpgradeRequest& a, const UpgradeRequest& b) {
  return a.status == b.status && a.key.data() == b.key.data() && a.key.size() == b.key.size() &&
         a.accept == b.accept && a.header_size == b.header_size;
}

void check_one(std::string_view bytes, const UpgradeRequest& r, size_t limit) {
  if (r.status == UpgradeStatus::kNeedMore) {
    require(bytes.size() <= limit, "need more bytes beyond the limit");
    return;
  }
  if (r.status != UpgradeStatus::kOk) {
    require(!r.error.empty(), "a refusal without a reason");
    sigver::Buffer out;
    sigver::ws::append_error_response(out, r.status, r.error);
    require(out.view().starts_with("HTTP/1.1 4"), "an error response that is not a 4xx");
    return;
  }
  require(r.header_size > 0 && r.header_size <= bytes.size() && r.header_size <= limit,
          "accepted header block outside the bytes or the limit");
  // llhttp alone also ended the block at a bare CR (tests/unit/ws_http_upgrade_fuzz_test.cc).
  require(bytes[r.header_size - 1] == '\n', "the header block does not end a line");
  const char* begin = bytes.data();
  require(r.key.empty() ||
              (r.key.data() >= begin && r.key.data() + r.key.size() <= begin + r.header_size),
          "the key is not a view into the request");
  require(r.key.find_first_of("?#") == std::string_view::npos, "the key keeps a query");
  require(r.accept.size() == 28, "Sec-WebSocket-Accept is not base64 of 20 bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const UpgradeRequest full = sigver::ws::parse_upgrade_request(bytes, kLimit);
  check_one(bytes, full, kLimit);

  // What arrived first, cut where the input says: once decided, more bytes change nothing.
  size_t sum = 0;
  for (unsigned char c : bytes) sum = sum * 31 + c;
  const std::string_view prefix = bytes.substr(0, size == 0 ? 0 : sum % (size + 1));
  const UpgradeRequest early = sigver::ws::parse_upgrade_request(prefix, kLimit);
  check_one(prefix, early, kLimit);
  if (early.status != UpgradeStatus::kNeedMore) {
    require(same(early, full), "a decision changed when more bytes arrived");
  }

  if (full.status == UpgradeStatus::kOk) {
    // Exactly the request, without the frames behind it.
    const UpgradeRequest exact =
        sigver::ws::parse_upgrade_request(bytes.substr(0, full.header_size), kLimit);
    require(same(exact, full), "the request alone parses differently");
    sigver::Buffer out;
    sigver::ws::append_upgrade_response(out, full.accept);
    require(out.view().ends_with("\r\n\r\n"), "an unterminated 101 response");
  }

  const UpgradeRequest small = sigver::ws::parse_upgrade_request(bytes, kSmallLimit);
  check_one(bytes, small, kSmallLimit);
  if (small.status == UpgradeStatus::kOk) {
    require(same(small, full), "a smaller limit accepted what the larger did not");
  }
  if (full.status == UpgradeStatus::kOk && full.header_size <= kSmallLimit) {
    require(same(small, full), "a request within the smaller limit was refused by it");
  }
  return 0;
}
