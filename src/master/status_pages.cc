#include "master/status_pages.h"

#include <dirent.h>
#include <openssl/opensslv.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace sigver {
namespace {

// Limits' label values, in worker/limits.h order (master does not depend on worker).
constexpr const char* kLimitNames[kLimitSlots] = {
    "max_outbound_total",      "max_inbound_total",      "max_connections",
    "max_connections_per_ip",  "max_pending_handshakes", "max_peers_per_key",
    "max_messages_per_second", "allowed_origins"};

class Exposition {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // name{labels} value; `labels` already formatted (`worker="0",code="1000"`), may be empty.
  void sample(const char* name, const std::string& labels, uint64_t value) {
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string worker_label(int index) { return "worker=\"" + std::to_string(index) + "\""; }

uint64_t resident_bytes(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  uint64_t size = 0;
  uint64_t resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

uint64_t open_fds(pid_t pid) {
  uint64_t count = 0;
  const std::string path = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* dir = ::opendir(path.c_str())) {
    while (const dirent* entry = ::readdir(dir)) count += entry->d_name[0] != '.';
    ::closedir(dir);
  }
  return count;
}

using Field = WorkerStats::Counter WorkerStats::*;

}  // namespace

StatusResponse metrics_page(const StatusInputs& in) {
  Exposition x;
  std::vector<std::pair<int, const WorkerStats*>> pages;
  for (const WorkerSlot& w : in.workers) {
    if (const WorkerStats* s = in.stats ? in.stats->worker(w.index) : nullptr) {
      pages.emplace_back(w.index, s);
    }
  }
  auto per_worker = [&](const char* name, const char* type, const char* help, Field field) {
    x.family(name, type, help);
    for (auto [index, s] : pages) x.sample(name, worker_label(index), WorkerStats::get(s->*field));
  };
  per_worker("sigverd_connections", "gauge",
             "Client connections held, upgraded or not (a TLS client's plain side).",
             &WorkerStats::connections);
  per_worker("sigverd_connections_accepted_total", "counter", "TCP connections accepted.",
             &WorkerStats::accepted);
  x.family("sigverd_upgrades_failed_total", "counter",
           "Connections that did not become a WebSocket, by reason.");
  for (auto [index, s] : pages) {
    for (size_t r = 0; r < static_cast<size_t>(UpgradeFailure::kCount); ++r) {
      x.sample("sigverd_upgrades_failed_total",
               worker_label(index) + ",reason=\"" +
                   upgrade_failure_name(static_cast<UpgradeFailure>(r)) + "\"",
               WorkerStats::get(s->upgrades_failed[r]));
    }
  }
  per_worker("sigverd_groups", "gauge", "Groups (keys with peers).", &WorkerStats::groups);
  per_worker("sigverd_peers", "gauge", "Peers in a group.", &WorkerStats::peers);
  per_worker("sigverd_messages_relayed_total", "counter",
             "Contents relayed from one peer to another.", &WorkerStats::messages_relayed);
  per_worker("sigverd_bytes_relayed_total", "counter", "Encoded bytes of the relayed contents.",
             &WorkerStats::bytes_relayed);
  per_worker("sigverd_handoffs_total", "counter",
             "Connections passed to the worker that owns their key.", &WorkerStats::handoffs);
  per_worker("sigverd_handoff_failures_total", "counter",
             "Connections that could not be passed on (answered 503).",
             &WorkerStats::handoff_failures);
  x.family("sigverd_closes_total", "counter",
           "WebSocket closes by code (sent by the server, or the client's own).");
  for (auto [index, s] : pages) {
    for (size_t c = 0; c < kCloseCodeSlots; ++c) {
      const std::string code =
          c < std::size(kCountedCloseCodes) ? std::to_string(kCountedCloseCodes[c]) : "other";
      x.sample("sigverd_closes_total", worker_label(index) + ",code=\"" + code + "\"",
               WorkerStats::get(s->closes[c]));
    }
  }
  per_worker("sigverd_heartbeat_timeouts_total", "counter",
             "Peers closed with 4002 for missing heartbeats.", &WorkerStats::heartbeat_timeouts);
  x.family("sigverd_limit_rejections_total", "counter",
           "Times a [limits] setting (or allowed_origins) acted, by setting.");
  for (auto [index, s] : pages) {
    for (size_t l = 0; l < kLimitSlots; ++l) {
      x.sample("sigverd_limit_rejections_total",
               worker_label(index) + ",limit=\"" + kLimitNames[l] + "\"",
               WorkerStats::get(s->limit_rejections[l]));
    }
  }
  per_worker("sigverd_tls_handshakes_total", "counter", "Completed TLS handshakes.",
             &WorkerStats::tls_handshakes);
  per_worker("sigverd_tls_resumptions_total", "counter",
             "TLS handshakes that resumed a session from a ticket (counted among the handshakes).",
             &WorkerStats::tls_resumptions);
  per_worker("sigverd_outbound_bytes", "gauge", "Queued output of all peers.",
             &WorkerStats::outbound_bytes);
  x.family("sigverd_worker_restarts_total", "counter", "Workers restarted after dying.");
  x.sample("sigverd_worker_restarts_total", "", in.worker_restarts);
  x.family("process_resident_memory_bytes", "gauge", "Resident memory of each worker process.");
  for (const WorkerSlot& w : in.workers) {
    if (w.pid > 0)
      x.sample("process_resident_memory_bytes", worker_label(w.index), resident_bytes(w.pid));
  }
  x.family("process_open_fds", "gauge", "Open file descriptors of each worker process.");
  for (const WorkerSlot& w : in.workers) {
    if (w.pid > 0) x.sample("process_open_fds", worker_label(w.index), open_fds(w.pid));
  }
  x.family("sigverd_build_info", "gauge", "Versions sigverd was built with.");
  x.sample("sigverd_build_info",
           std::string("version=\"") + SIGVER_VERSION + "\",openssl=\"" + OPENSSL_VERSION_TEXT +
               "\",protobuf=\"" + SIGVER_PROTOBUF_VERSION + "\",llhttp=\"" + SIGVER_LLHTTP_VERSION +
               "\"",
           1);
  return {200, "text/plain; version=0.0.4; charset=utf-8", x.take()};
}

StatusResponse health_page(const StatusInputs& in) {
  std::string late;
  for (const WorkerSlot& w : in.workers) {
    const WorkerStats* s = in.stats ? in.stats->worker(w.index) : nullptr;
    const uint64_t progress = s ? WorkerStats::get(s->progress_ms) : 0;
    const bool running = w.pid > 0 && progress != 0;
    const uint64_t age = running && in.now_ms > progress ? in.now_ms - progress : 0;
    if (running && age <= kHealthyWithinMs) continue;
    if (!late.empty()) late += ",";
    late += "{\"worker\":" + std::to_string(w.index) + ",\"pid\":" + std::to_string(w.pid) +
            (running ? ",\"ms_since_progress\":" + std::to_string(age) : ",\"running\":false") +
            "}";
  }
  const std::string workers = std::to_string(in.workers.size());
  if (late.empty()) {
    return {200, "application/json", "{\"status\":\"ok\",\"workers\":" + workers + "}\n"};
  }
  return {503, "application/json",
          "{\"status\":\"late\",\"workers\":" + workers + ",\"late\":[" + late + "]}\n"};
}

StatusResponse status_page(std::string_view path, const StatusInputs& in) {
  if (path == "/metrics") return metrics_page(in);
  if (path == "/health") return health_page(in);
  return {404, "text/plain; charset=utf-8", "try /metrics or /health\n"};
}

}  // namespace sigver
