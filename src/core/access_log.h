#pragma once
// The access log ([log] access_log): one line per connection, appended with one write so that
// the workers sharing the file never interleave inside a line. USR1 reopens it (rotation).
// A failed write is counted and reported in the error log, never retried in a loop.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/unique_fd.h"

namespace sigver {

class AccessLog {
 public:
  bool open(const std::string& path, std::string& error);
  bool reopen(std::string& error);
  bool enabled() const { return fd_.valid(); }
  void write(std::string_view line);

 private:
  std::string path_;
  UniqueFd fd_;
  uint64_t lost_ = 0;  // lines not written since the last report
};

}  // namespace sigver
