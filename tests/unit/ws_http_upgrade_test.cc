// parse_upgrade_request, compute_accept and the handshake responses.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "ws/http_upgrade.h"

namespace sigver::ws {
namespace {

constexpr size_t kLimit = 8192;

// The header set Chrome sends (order and values as captured from a real browser).
const std::string kChromeRequest =
    "GET /room/abc?token=1 HTTP/1.1\r\n"
    "Host: signal.example.org:8000\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: https://app.example.org\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

// A minimal request with one header replaced (or removed when `value` is empty and
// `remove` is set), for the error cases.
std::string request(std::string_view target = "/key",
                    std::vector<std::pair<std::string, std::string>> overrides = {},
                    std::string_view request_line_tail = " HTTP/1.1", std::string method = "GET") {
  std::vector<std::pair<std::string, std::string>> headers = {
      {"Host", "localhost"},           {"Upgrade", "websocket"},
      {"Connection", "Upgrade"},       {"Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw=="},
      {"Sec-WebSocket-Version", "13"},
  };
  for (auto& [name, value] : overrides) {
    bool replaced = false;
    for (auto& header : headers) {
      if (header.first == name) {
        header.second = value;
        replaced = true;
      }
    }
    if (!replaced) headers.emplace_back(name, value);
  }
  std::string out = method + " " + std::string(target) + std::string(request_line_tail) + "\r\n";
  for (auto& [name, value] : headers) {
    if (value == "<none>") continue;
    out += name + ": " + value + "\r\n";
  }
  return out + "\r\n";
}

UpgradeStatus status_of(const std::string& bytes) {
  return parse_upgrade_request(bytes, kLimit).status;
}

TEST(ComputeAccept, Rfc6455Example) {
  EXPECT_EQ(compute_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  // RFC 6455 section 1.2's second example key.
  EXPECT_EQ(compute_accept("x3JJHMbDL1EzLkh9GBhXDw=="), "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

TEST(ParseUpgrade, ChromeRequest) {
  const UpgradeRequest r = parse_upgrade_request(kChromeRequest, kLimit);
  ASSERT_EQ(r.status, UpgradeStatus::kOk) << r.error;
  EXPECT_EQ(r.key, "room/abc");
  EXPECT_EQ(r.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(r.header_size, kChromeRequest.size());
  EXPECT_GE(r.key.data(), kChromeRequest.data());
  EXPECT_LT(r.key.data(), kChromeRequest.data() + kChromeRequest.size());
}

TEST(ParseUpgrade, FirefoxStyleConnectionList) {
  const std::string bytes = request("/k", {{"Connection", "keep-alive, Upgrade"}});
  const UpgradeRequest r = parse_upgrade_request(bytes, kLimit);
  EXPECT_EQ(r.status, UpgradeStatus::kOk) << r.error;
  EXPECT_EQ(r.key, "k");
}

TEST(ParseUpgrade, EveryPrefixNeedsMoreThenTheSameResult) {
  const UpgradeRequest whole = parse_upgrade_request(kChromeRequest, kLimit);
  for (size_t n = 0; n < kChromeRequest.size(); ++n) {
    const std::string prefix = kChromeRequest.substr(0, n);
    const UpgradeRequest r = parse_upgrade_request(prefix, kLimit);
    ASSERT_EQ(r.status, UpgradeStatus::kNeedMore) << "prefix of " << n << ": " << r.error;
  }
  // Parsing again from a different buffer gives the same answer, pointing into that buffer.
  const std::string copy = kChromeRequest;
  const UpgradeRequest again = parse_upgrade_request(copy, kLimit);
  ASSERT_EQ(again.status, UpgradeStatus::kOk);
  EXPECT_EQ(again.key, whole.key);
  EXPECT_EQ(again.accept, whole.accept);
  EXPECT_EQ(again.header_size, whole.header_size);
  EXPECT_EQ(again.key.data(), copy.data() + 5);
}

TEST(ParseUpgrade, BytesAfterTheHeaderAreLeftAlone) {
  // A client may send its first frames right behind the request.
  const std::string frames(
      "\x82\x85\x01\x02\x03\x04"
      "abcde"
      "\x81\x80\x00\x00\x00\x00",
      17);
  for (const std::string& tail :
       {frames, std::string("GET / HTTP/1.1\r\n"), std::string("\r\n"), std::string(10000, 'x')}) {
    const std::string bytes = kChromeRequest + tail;
    const UpgradeRequest r = parse_upgrade_request(bytes, kLimit);
    ASSERT_EQ(r.status, UpgradeStatus::kOk) << r.error;
    EXPECT_EQ(r.header_size, kChromeRequest.size());
    EXPECT_EQ(bytes.substr(r.header_size), tail);
  }
}

TEST(ParseUpgrade, KeyExtraction) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/", ""},
      {"/abc", "abc"},
      {"/a/b/c", "a/b/c"},
      {"//x", "/x"},
      {"/a%20b%2Fc", "a%20b%2Fc"},
      {"/key?x=1&y=2", "key"},
      {"/?x=1", ""},
      {"/key?", "key"},
      {"/k/?q=/z", "k/"},
      {"/key#frag", "key"},
      {"/" + std::string(4000, 'k'), std::string(4000, 'k')},
  };
  for (const auto& [target, key] : cases) {
    const std::string bytes = request(target);
    const UpgradeRequest r = parse_upgrade_request(bytes, kLimit);
    ASSERT_EQ(r.status, UpgradeStatus::kOk) << target << ": " << r.error;
    EXPECT_EQ(r.key, key) << target;
  }
}

TEST(ParseUpgrade, HeadersAreCaseInsensitiveTokenLists) {
  EXPECT_EQ(status_of(request("/k", {{"Upgrade", "WebSocket"}, {"Connection", "UPGRADE"}})),
            UpgradeStatus::kOk);
  EXPECT_EQ(status_of(request("/k", {{"Upgrade", "foo/1, websocket"}})), UpgradeStatus::kOk);
  EXPECT_EQ(status_of(request("/k", {{"Connection", "keep-alive,upgrade"}})), UpgradeStatus::kOk);
  EXPECT_EQ(status_of(request("/k", {{"Connection", " Upgrade \t"}})), UpgradeStatus::kOk);
  const std::string lowercase_names =
      "GET /k HTTP/1.1\r\nhost: h\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
      "sec-websocket-key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSEC-WEBSOCKET-VERSION: 13\r\n\r\n";
  EXPECT_EQ(status_of(lowercase_names), UpgradeStatus::kOk);
  // A repeated Connection header adds its tokens.
  const std::string repeated =
      "GET /k HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
      "Connection: upgrade\r\nSec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  EXPECT_EQ(status_of(repeated), UpgradeStatus::kOk);
}

TEST(ParseUpgrade, BadRequests) {
  const UpgradeStatus bad = UpgradeStatus::kBadRequest;
  EXPECT_EQ(status_of(request("/k", {}, " HTTP/1.1", "POST")), bad);
  EXPECT_EQ(status_of(request("/k", {}, " HTTP/1.1", "HEAD")), bad);
  EXPECT_EQ(status_of(request("/k", {}, " HTTP/1.0")), bad);
  EXPECT_EQ(status_of(request("http://localhost/k")), bad);
  EXPECT_EQ(status_of(request("*")), bad);
  EXPECT_EQ(status_of(request("/k", {{"Content-Length", "5"}}) + "hello"), bad);
  EXPECT_EQ(status_of(request("/k", {{"Transfer-Encoding", "chunked"}}) + "0\r\n\r\n"), bad);
  EXPECT_EQ(status_of(request("/k", {{"Host", "<none>"}})), bad);
  EXPECT_EQ(status_of(request("/k", {{"Sec-WebSocket-Key", "<none>"}})), bad);
  EXPECT_EQ(status_of(request("/k", {{"Sec-WebSocket-Key", ""}})), bad);
  EXPECT_EQ(status_of(request("/k", {{"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ"}})), bad);
  EXPECT_EQ(status_of(request("/k", {{"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ="}})), bad);
  EXPECT_EQ(status_of(request("/k", {{"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==="}})), bad);
  EXPECT_EQ(status_of(request("/k", {{"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j*Q=="}})), bad);
  EXPECT_EQ(status_of(request("/k", {{"Sec-WebSocket-Key", "dGhlIHNhbXBsZQ=="}})), bad);
  EXPECT_EQ(status_of(request("/k", {{"Sec-WebSocket-Key", "0123456789abcdef"}})), bad);
  EXPECT_EQ(status_of(request("/k", {{"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZSE="}})), bad);
  // Two keys.
  const std::string two_keys =
      "GET /k HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
      "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Key: "
      "x3JJHMbDL1EzLkh9GBhXDw==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  EXPECT_EQ(status_of(two_keys), bad);
  // Malformed HTTP, reported as soon as llhttp sees it, even with the block incomplete.
  EXPECT_EQ(status_of("\x16\x03\x01\x02\x00"), bad);  // a TLS ClientHello on a plain port
  EXPECT_EQ(status_of("GET /k HTTP/1.1\r\nHo\x01st: x\r\n"), bad);
  EXPECT_EQ(status_of("GET /k HTTP/9.9\r\n"), bad);
  EXPECT_EQ(status_of("GET /k HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n"), bad);
  EXPECT_EQ(status_of("GET\r\n"), bad);
}

TEST(ParseUpgrade, EmptyContentLengthIsNotABody) {
  EXPECT_EQ(status_of(request("/k", {{"Content-Length", "0"}})), UpgradeStatus::kOk);
}

TEST(ParseUpgrade, UpgradeRequired) {
  const UpgradeStatus required = UpgradeStatus::kUpgradeRequired;
  EXPECT_EQ(status_of("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"), required);
  EXPECT_EQ(status_of(request("/k", {{"Upgrade", "<none>"}})), required);
  EXPECT_EQ(status_of(request("/k", {{"Upgrade", "h2c"}})), required);
  EXPECT_EQ(status_of(request("/k", {{"Upgrade", "websockets"}})), required);
  EXPECT_EQ(status_of(request("/k", {{"Connection", "<none>"}})), required);
  EXPECT_EQ(status_of(request("/k", {{"Connection", "keep-alive"}})), required);
  EXPECT_EQ(status_of(request("/k", {{"Connection", "upgraded"}})), required);
}

TEST(ParseUpgrade, BadVersion) {
  for (const char* version : {"<none>", "8", "12", "14", "13, 8", ""}) {
    const UpgradeRequest r =
        parse_upgrade_request(request("/k", {{"Sec-WebSocket-Version", version}}), kLimit);
    EXPECT_EQ(r.status, UpgradeStatus::kBadVersion) << version;
    EXPECT_FALSE(r.error.empty());
  }
}

TEST(ParseUpgrade, HeadersTooLarge) {
  const std::string big = request("/k", {{"X-Padding", std::string(100, 'p')}});
  // Complete block exactly at the limit: accepted. One byte over: 431.
  EXPECT_EQ(parse_upgrade_request(big, big.size()).status, UpgradeStatus::kOk);
  EXPECT_EQ(parse_upgrade_request(big, big.size() - 1).status, UpgradeStatus::kHeadersTooLarge);
  EXPECT_EQ(parse_upgrade_request(big, 64).status, UpgradeStatus::kHeadersTooLarge);
  // Frames after a block that fits do not count towards the limit.
  EXPECT_EQ(parse_upgrade_request(big + std::string(500, 'f'), big.size()).status,
            UpgradeStatus::kOk);
  // Incomplete: fine up to the limit, 431 past it.
  const std::string partial = big.substr(0, 90);
  EXPECT_EQ(parse_upgrade_request(partial, 90).status, UpgradeStatus::kNeedMore);
  EXPECT_EQ(parse_upgrade_request(partial, 89).status, UpgradeStatus::kHeadersTooLarge);
  // A header that never ends.
  const std::string endless = "GET /k HTTP/1.1\r\nX-Long: " + std::string(10000, 'a');
  EXPECT_EQ(parse_upgrade_request(endless, kLimit).status, UpgradeStatus::kHeadersTooLarge);
  EXPECT_EQ(parse_upgrade_request(endless, 20000).status, UpgradeStatus::kNeedMore);
}

TEST(ParseUpgrade, ErrorsCarryAReason) {
  for (const std::string& bytes :
       {request("/k", {}, " HTTP/1.1", "POST"), std::string("GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
        std::string("\x01\x02\x03")}) {
    const UpgradeRequest r = parse_upgrade_request(bytes, kLimit);
    EXPECT_NE(r.status, UpgradeStatus::kOk);
    EXPECT_NE(r.status, UpgradeStatus::kNeedMore);
    EXPECT_FALSE(r.error.empty());
  }
}

TEST(ParseUpgrade, RandomInputNeverCrashes) {
  std::mt19937 rng(4242);
  for (int round = 0; round < 4000; ++round) {
    std::string bytes;
    if (round % 4 == 0) {
      bytes.resize(rng() % 600);
      for (char& c : bytes) c = static_cast<char>(rng());
    } else {
      bytes = kChromeRequest;
      const int mutations = 1 + static_cast<int>(rng() % 5);
      for (int m = 0; m < mutations; ++m) {
        const size_t at = rng() % bytes.size();
        switch (rng() % 3) {
          case 0:
            bytes[at] = static_cast<char>(rng());
            break;
          case 1:
            bytes.erase(at, 1 + rng() % 8);
            break;
          default:
            bytes.insert(at, std::string(1 + rng() % 8, static_cast<char>(rng())));
        }
        if (bytes.empty()) bytes = "G";
      }
    }
    // Fed as a growing prefix, as a connection receives it in chunks.
    size_t end = 0;
    const size_t limit = 64 + rng() % 1024;
    while (true) {
      end = std::min(bytes.size(), end + 1 + rng() % 200);
      const std::string_view seen(bytes.data(), end);
      const UpgradeRequest r = parse_upgrade_request(seen, limit);
      if (r.status == UpgradeStatus::kOk) {
        EXPECT_LE(r.header_size, std::min(seen.size(), limit));
        EXPECT_GE(r.key.data(), seen.data());
        EXPECT_LE(r.key.data() + r.key.size(), seen.data() + r.header_size);
      }
      if (r.status != UpgradeStatus::kNeedMore || end == bytes.size()) break;
    }
  }
}

// ---- responses ----

TEST(UpgradeResponse, SwitchingProtocols) {
  Buffer out;
  append_upgrade_response(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(out.view(),
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
            "\r\n");
}

// Splits a response into status line, headers and body, checking Content-Length.
struct ParsedResponse {
  std::string status_line;
  std::vector<std::string> headers;
  std::string body;
};

ParsedResponse split_response(std::string_view text) {
  ParsedResponse parsed;
  const size_t end = text.find("\r\n\r\n");
  EXPECT_NE(end, std::string_view::npos);
  std::string_view head = text.substr(0, end + 2);
  parsed.body = std::string(text.substr(end + 4));
  size_t line_end = head.find("\r\n");
  parsed.status_line = std::string(head.substr(0, line_end));
  head.remove_prefix(line_end + 2);
  while (!head.empty()) {
    line_end = head.find("\r\n");
    parsed.headers.emplace_back(head.substr(0, line_end));
    head.remove_prefix(line_end + 2);
  }
  return parsed;
}

bool has_header(const ParsedResponse& r, const std::string& line) {
  return std::find(r.headers.begin(), r.headers.end(), line) != r.headers.end();
}

TEST(ErrorResponse, StatusLinesHeadersAndBody) {
  struct Case {
    UpgradeStatus status;
    std::string status_line;
    bool is_426;
  };
  const std::vector<Case> cases = {
      {UpgradeStatus::kBadRequest, "HTTP/1.1 400 Bad Request", false},
      {UpgradeStatus::kUpgradeRequired, "HTTP/1.1 426 Upgrade Required", true},
      {UpgradeStatus::kBadVersion, "HTTP/1.1 426 Upgrade Required", true},
      {UpgradeStatus::kHeadersTooLarge, "HTTP/1.1 431 Request Header Fields Too Large", false},
      {UpgradeStatus::kForbidden, "HTTP/1.1 403 Forbidden", false},
      {UpgradeStatus::kUnavailable, "HTTP/1.1 503 Service Unavailable", false},
  };
  for (const Case& c : cases) {
    Buffer out;
    append_error_response(out, c.status, "something went wrong");
    const ParsedResponse r = split_response(out.view());
    EXPECT_EQ(r.status_line, c.status_line);
    EXPECT_TRUE(has_header(r, "Connection: close"));
    EXPECT_TRUE(has_header(r, "Content-Type: text/plain"));
    EXPECT_TRUE(has_header(r, "Content-Length: 21"));
    EXPECT_EQ(r.body, "something went wrong\n");
    EXPECT_EQ(has_header(r, "Sec-WebSocket-Version: 13"), c.is_426);
    EXPECT_EQ(has_header(r, "Upgrade: websocket"), c.is_426);
    EXPECT_EQ(has_header(r, "Retry-After: " + std::to_string(kRetryAfterSeconds)),
              c.status == UpgradeStatus::kUnavailable);
  }
}

TEST(ParseUpgrade, OriginIsReportedWhenPresent) {
  const UpgradeRequest chrome = parse_upgrade_request(kChromeRequest, kLimit);
  ASSERT_EQ(chrome.status, UpgradeStatus::kOk);
  EXPECT_TRUE(chrome.has_origin);
  EXPECT_EQ(chrome.origin, "https://app.example.org");
  const UpgradeRequest plain = parse_upgrade_request(request(), kLimit);
  ASSERT_EQ(plain.status, UpgradeStatus::kOk);
  EXPECT_FALSE(plain.has_origin) << "not a browser";
  const std::string empty_origin = request("/key", {{"Origin", ""}});
  EXPECT_TRUE(parse_upgrade_request(empty_origin, kLimit).has_origin);
}

TEST(ParseUpgrade, TwoOriginsAreABadRequest) {
  std::string twice = request("/key", {{"Origin", "https://a.example"}});
  twice.insert(twice.size() - 2, "Origin: https://b.example\r\n");
  EXPECT_EQ(status_of(twice), UpgradeStatus::kBadRequest);
}

TEST(ErrorResponse, EmptyReason) {
  Buffer out;
  append_error_response(out, UpgradeStatus::kBadRequest, "");
  const ParsedResponse r = split_response(out.view());
  EXPECT_TRUE(has_header(r, "Content-Length: 1"));
  EXPECT_EQ(r.body, "\n");
}

}  // namespace
}  // namespace sigver::ws
