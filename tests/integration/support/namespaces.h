#pragma once
// Linux namespaces for tests that need what a shared machine must not be given: a file
// system that fills up, a client whose packets vanish. Each object changes only the calling
// process (the test) and what it starts while the object lives; the machine's own mounts
// and network are never touched. Tests skip themselves when the kernel or the sandbox does
// not allow namespaces (see error()).
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/unique_fd.h"

namespace sigver::itest {

// Runs `argv` (argv[0] an absolute path) and waits up to `bound`; returns its exit code,
// or -1 if it could not run or did not end in time (then it is killed). Its stdout and
// stderr go to `output` when given.
int RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds bound,
               std::string* output = nullptr);

// The calling process in a fresh network namespace whose loopback is up; back in its
// original namespace when destroyed. A server started meanwhile stays in the new one (and
// listens where nothing else can reach it).
class PrivateNetwork {
 public:
  PrivateNetwork();
  ~PrivateNetwork();
  PrivateNetwork(const PrivateNetwork&) = delete;
  PrivateNetwork& operator=(const PrivateNetwork&) = delete;
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  UniqueFd original_;
  std::string error_;
};

// The calling process in a fresh mount namespace in which / is private, so that nothing
// mounted here shows outside; back in the original one when destroyed. mount_tmpfs()
// mounts a small tmpfs (unmounted again by the destructor).
class PrivateMounts {
 public:
  PrivateMounts();
  ~PrivateMounts();
  PrivateMounts(const PrivateMounts&) = delete;
  PrivateMounts& operator=(const PrivateMounts&) = delete;
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  // A new empty directory with a tmpfs of `bytes` on it; "" on failure (see error()).
  std::string mount_tmpfs(size_t bytes);

 private:
  UniqueFd original_;
  std::vector<std::string> mounts_;
  std::string error_;
};

// A veth link from the current network namespace (10.213.0.1/24 here) to a namespace of
// its own (10.213.0.2/24 there), made with iproute2. Sockets from connect_from_far_side()
// belong to that far namespace while the test process holds them; cut() deletes the link,
// after which their packets go nowhere: their peer sees neither a FIN nor a reset.
class VethLink {
 public:
  static constexpr const char* kNearAddress = "10.213.0.1";
  static constexpr const char* kFarAddress = "10.213.0.2";

  VethLink() = default;
  ~VethLink();
  VethLink(const VethLink&) = delete;
  VethLink& operator=(const VethLink&) = delete;
  // False with error() when iproute2 or namespaces are unavailable.
  bool create();
  // A TCP connection from the far side to kNearAddress:port (invalid fd on failure).
  UniqueFd connect_from_far_side(uint16_t port, std::chrono::milliseconds bound);
  bool cut();
  const std::string& error() const { return error_; }

 private:
  bool run_ip(const std::vector<std::string>& args);

  UniqueFd near_;  // the namespace the link was made from
  UniqueFd far_;
  bool exists_ = false;
  std::string error_;
};

}  // namespace sigver::itest
