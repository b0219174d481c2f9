#pragma once
// Going to the background (double fork + setsid) with a readiness report: the process that
// was started waits until the daemon says it is serving (pid file written) or failed, and
// exits with 0 or 1 accordingly, so `sigverd` with daemon = on fails visibly on a bad start.
#include <string>

#include "core/unique_fd.h"

namespace sigver {

class Daemonizer {
 public:
  enum class Role { kDaemon, kOriginal, kError };

  // In the daemon returns kDaemon. In the original process waits for the report and returns
  // kOriginal with `exit_code` set. kError (no fork happened) sets `error`.
  Role start(int& exit_code, std::string& error);
  // Daemon only: report the outcome of start-up. Success also detaches stderr (stdin and
  // stdout went to /dev/null at once; stderr stays until now so start-up errors are seen).
  void report_ready();
  void report_failure();
  // The fd a forked worker must not keep (it would hold the original process waiting).
  int report_fd() const { return report_.get(); }

 private:
  void report(char status);
  UniqueFd report_;
};

}  // namespace sigver
