#include "worker/access_record.h"

#include <time.h>

#include <cstdio>
#include <ctime>

namespace sigver {

std::string AccessRecord::line(int worker, uint64_t now_ms) const {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  ::gmtime_r(&ts.tv_sec, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);
  const double seconds = now_ms > opened_ms ? static_cast<double>(now_ms - opened_ms) / 1000 : 0;
  const char* by = closed_by == 's' ? "server" : closed_by == 'c' ? "client" : "-";
  char tail[256];
  std::snprintf(tail, sizeof tail, " seconds=%.3f in=%llu/%u out=%llu/%u close=%u by=%s tls=%s\n",
                seconds, static_cast<unsigned long long>(bytes_in), messages_in,
                static_cast<unsigned long long>(bytes_out), messages_out, code, by,
                tls ? "yes" : "no");
  return std::string(stamp) + " worker=" + std::to_string(worker) + " remote=" + remote +
         " key=" + key + tail;
}

std::string access_log_key(std::string_view key, std::string_view mode) {
  if (mode == "off") return "-";
  if (mode == "full") {
    // The key is the client's text: keep the line one line and printable.
    std::string shown;
    for (char c : key.substr(0, 256)) shown += (c > 0x20 && c < 0x7f) ? c : '?';
    return shown.empty() ? "-" : shown;
  }
  // FNV-1a, 64-bit: enough to tell keys apart in a log, not to recover them.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ULL;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

}  // namespace sigver
