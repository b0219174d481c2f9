// Findings of tests/fuzz/fuzz_upgrade.cc in parse_upgrade_request.
#include <gtest/gtest.h>

#include <string>

#include "ws/http_upgrade.h"

namespace sigver::ws {
namespace {

constexpr size_t kLimit = 8192;

const std::string kHeaders =
    "GET /room HTTP/1.1\r\n"
    "Host: example.org\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n";

TEST(HttpUpgradeLineEnds, CrLfOrLfEndTheHeaderBlock) {
  for (const std::string end : {"\r\n", "\n"}) {
    const std::string bytes = kHeaders + end + "\x82";
    UpgradeRequest r = parse_upgrade_request(bytes, kLimit);
    EXPECT_EQ(r.status, UpgradeStatus::kOk);
    EXPECT_EQ(r.header_size, kHeaders.size() + end.size()) << "the frame byte is not part of it";
  }
}

// llhttp 8.1 (non-strict, as Debian 12 builds it) takes a bare CR followed by any byte as the
// blank line that ends the header block, and counts that byte into the request: here the
// first byte of the client's first frame. RFC 9112 2.2 forbids a bare CR; a server that reads
// line ends differently from a proxy in front of it can be made to see another request.
// parse_upgrade_request refuses a block whose last line does not end in LF.
TEST(HttpUpgradeLineEnds, BareCrDoesNotEndTheHeaderBlock) {
  for (const std::string end : {"\rX", "\r\x82", "\r\r"}) {
    const std::string bytes = kHeaders + end;
    UpgradeRequest r = parse_upgrade_request(bytes, kLimit);
    EXPECT_EQ(r.status, UpgradeStatus::kBadRequest) << "header_size " << r.header_size;
  }
}

}  // namespace
}  // namespace sigver::ws
