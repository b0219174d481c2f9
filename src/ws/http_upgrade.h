#pragma once
// Parsing the client's HTTP/1.1 WebSocket upgrade request (with llhttp) and writing the
// server's answer. Stateless: callers keep the raw request bytes (they may need to hand
// them to another worker) and parse them again as more arrive.
#include <cstddef>
#include <string>
#include <string_view>

#include "core/buffer.h"

namespace sigver::ws {

enum class UpgradeStatus {
  kNeedMore,         // no complete header block yet, nothing wrong so far
  kOk,               // a valid upgrade request
  kBadRequest,       // 400: malformed HTTP, not GET, missing/invalid Sec-WebSocket-Key, ...
  kUpgradeRequired,  // 426: a plain HTTP request without "Upgrade: websocket"
  kBadVersion,       // 426 + "Sec-WebSocket-Version: 13": another WebSocket version
  kHeadersTooLarge,  // 431: the header block is over the limit
  // Not found by the parser; the server's answers to a valid request it refuses:
  kForbidden,    // 403: the page's Origin is not allowed
  kUnavailable,  // 503 + Retry-After: over a limit, or no worker can take the connection
};

struct UpgradeRequest {
  UpgradeStatus status = UpgradeStatus::kNeedMore;
  // With kOk: the request target's path after its first '/', query string removed, not
  // percent-decoded (may contain '/', may be empty). Points into the parsed bytes.
  std::string_view key;
  // With kOk: the request target's query string, after its '?' and before any '#' (empty
  // without one). Points into the parsed bytes.
  std::string_view query;
  // With kOk: the Origin header's value (a browser page's origin), empty without one.
  std::string_view origin;
  bool has_origin = false;
  // With kOk: the Sec-WebSocket-Accept value to answer with.
  std::string accept;
  // With kOk: the size of the request (through the blank line); bytes after it are already
  // WebSocket frames.
  size_t header_size = 0;
  // With an error status: a short human-readable reason (for the log and the response body).
  std::string error;
};

// Parses `bytes` (everything received so far). Never reads past `bytes`.
UpgradeRequest parse_upgrade_request(std::string_view bytes, size_t max_header_size);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2: base64(SHA-1(key + GUID))).
std::string compute_accept(std::string_view sec_websocket_key);

// Appends "HTTP/1.1 101 Switching Protocols" with the upgrade headers.
void append_upgrade_response(Buffer& out, std::string_view accept);
// Appends a complete error response (status line, Connection: close, Content-Length, a short
// text body; 426 also gets "Sec-WebSocket-Version: 13" / "Upgrade: websocket", 503 gets
// "Retry-After").
inline constexpr unsigned kRetryAfterSeconds = 10;
// The HTTP status code of an error status (400, 403, 426, 431, 503).
int http_status(UpgradeStatus status);
void append_error_response(Buffer& out, UpgradeStatus status, std::string_view reason);

}  // namespace sigver::ws
