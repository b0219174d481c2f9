#pragma once
// What the access log says of one connection when it ends. Kept only while an access log is
// configured (a pointer in the connection otherwise), so idle peers pay 8 bytes without one.
#include <cstdint>
#include <string>
#include <string_view>

namespace sigver {

struct AccessRecord {
  uint64_t opened_ms = 0;     // loop time when the connection arrived here
  std::string remote = "-";   // "address:port" of the client ("-" behind a TLS relay)
  std::string key = "-";      // as access_log_keys says: a hash, the key, or "-"
  uint64_t bytes_in = 0;      // read from the client
  uint64_t bytes_out = 0;     // sent to the client
  uint32_t messages_in = 0;   // WebSocket messages (and control frames) from the client
  uint32_t messages_out = 0;  // messages queued to the client
  uint16_t code = 0;          // close code (or the HTTP status of a refused upgrade); 0 = none
  char closed_by = '-';       // 's' server, 'c' client
  bool tls = false;

  // One line: time worker remote key seconds in(bytes/msgs) out(bytes/msgs) code by tls.
  std::string line(int worker, uint64_t now_ms) const;
};

// The form of a key in the access log: "hash" (16 hex digits of a keyed hash), "full", "off".
std::string access_log_key(std::string_view key, std::string_view mode);

}  // namespace sigver
