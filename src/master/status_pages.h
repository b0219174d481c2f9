#pragma once
// What the status listener answers: GET /metrics in the Prometheus text exposition format
// (version 0.0.4), every worker's page of counters (core/worker_stats.h) with a `worker`
// label, and GET /health, which is 200 while every worker made progress in the last 2 s.
#include <sys/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/worker_stats.h"
#include "master/status_server.h"

namespace sigver {

struct WorkerSlot {
  int index = 0;
  pid_t pid = 0;  // 0: not running (waiting to be restarted)
};

struct StatusInputs {
  const SharedStats* stats = nullptr;
  std::vector<WorkerSlot> workers;  // the workers in service
  uint64_t worker_restarts = 0;
  uint64_t now_ms = 0;  // CLOCK_MONOTONIC
};

inline constexpr uint64_t kHealthyWithinMs = 2000;

StatusResponse metrics_page(const StatusInputs& in);
StatusResponse health_page(const StatusInputs& in);
// Dispatches a path: /metrics, /health, anything else 404.
StatusResponse status_page(std::string_view path, const StatusInputs& in);

}  // namespace sigver
