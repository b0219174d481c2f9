#include "core/worker_stats.h"

#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace sigver {

const char* upgrade_failure_name(UpgradeFailure reason) {
  switch (reason) {
    case UpgradeFailure::kBadRequest:
      return "bad_request";
    case UpgradeFailure::kUpgradeRequired:
      return "upgrade_required";
    case UpgradeFailure::kBadVersion:
      return "bad_version";
    case UpgradeFailure::kHeadersTooLarge:
      return "headers_too_large";
    case UpgradeFailure::kOrigin:
      return "origin";
    case UpgradeFailure::kOverloaded:
      return "overloaded";
    case UpgradeFailure::kTimeout:
      return "timeout";
    case UpgradeFailure::kDropped:
      return "dropped";
    case UpgradeFailure::kCount:
      break;
  }
  return "other";
}

size_t close_code_slot(uint16_t code) {
  const auto* end = std::end(kCountedCloseCodes);
  const auto* it = std::find(std::begin(kCountedCloseCodes), end, code);
  return static_cast<size_t>(it - std::begin(kCountedCloseCodes));  // the last slot: other
}

SharedStats::SharedStats() {
  const size_t size = sizeof(WorkerStats) * kMaxWorkers;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return;
  // Zero-filled by the kernel, which is the state of every counter.
  pages_ = static_cast<WorkerStats*>(p);
}

SharedStats::~SharedStats() {
  if (pages_) ::munmap(pages_, sizeof(WorkerStats) * kMaxWorkers);
}

WorkerStats* SharedStats::worker(int index) const {
  if (!pages_ || index < 0 || index >= kMaxWorkers) return nullptr;
  return &pages_[index];
}

void SharedStats::clear(int index) {
  WorkerStats* s = worker(index);
  if (!s) return;
  // Every member is a Counter (checked in the header), so the page is an array of them.
  auto* counters = reinterpret_cast<WorkerStats::Counter*>(s);
  for (size_t i = 0; i < sizeof(WorkerStats) / sizeof(WorkerStats::Counter); ++i) {
    WorkerStats::set(counters[i], 0);
  }
}

uint64_t monotonic_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace sigver
