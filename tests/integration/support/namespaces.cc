#include "support/namespaces.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace sigver::itest {
namespace {

using Clock = std::chrono::steady_clock;

std::string Failed(const std::string& what) { return what + ": " + std::strerror(errno); }

// Namespaces belong to threads: the calling thread's, not the main thread's.
UniqueFd OpenOwnNamespace(const char* type) {
  const std::string path = std::string("/proc/thread-self/ns/") + type;
  return UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
}

bool BringLoopbackUp(std::string& error) {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    error = Failed("socket");
    return false;
  }
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(fd.get(), SIOCGIFFLAGS, &request) != 0) {
    error = Failed("SIOCGIFFLAGS(lo)");
    return false;
  }
  request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
  if (::ioctl(fd.get(), SIOCSIFFLAGS, &request) != 0) {
    error = Failed("SIOCSIFFLAGS(lo)");
    return false;
  }
  return true;
}

const char* IpBinary() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (::access(path, X_OK) == 0) return path;
  return nullptr;
}

constexpr const char* kNearName = "sgv-near";
constexpr const char* kFarName = "sgv-far";

}  // namespace

int RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds bound,
               std::string* output) {
  int pipe_fds[2];
  if (argv.empty() || ::pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& arg : copy) args.push_back(arg.data());
  args.push_back(nullptr);
  const pid_t child = ::fork();
  if (child < 0) return -1;
  if (child == 0) {
    ::dup2(write_end.get(), STDOUT_FILENO);
    ::dup2(write_end.get(), STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  write_end.reset();
  const auto deadline = Clock::now() + bound;
  std::string text;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{read_end.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[4096];
    const ssize_t got = ::read(read_end.get(), chunk, sizeof chunk);
    if (got <= 0) break;  // EOF: the command closed its output, it is ending
    text.append(chunk, static_cast<size_t>(got));
  }
  if (output) *output = text;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (done < 0) return -1;
    if (Clock::now() >= deadline) {
      ::kill(child, SIGKILL);  // our own child, by its pid
      ::waitpid(child, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

PrivateNetwork::PrivateNetwork() {
  original_ = OpenOwnNamespace("net");
  if (!original_) {
    error_ = Failed("open /proc/thread-self/ns/net");
    return;
  }
  if (::unshare(CLONE_NEWNET) != 0) {
    error_ = Failed("unshare(CLONE_NEWNET)");
    original_.reset();
    return;
  }
  BringLoopbackUp(error_);
}

PrivateNetwork::~PrivateNetwork() {
  if (original_) ::setns(original_.get(), CLONE_NEWNET);
}

PrivateMounts::PrivateMounts() {
  original_ = OpenOwnNamespace("mnt");
  if (!original_) {
    error_ = Failed("open /proc/thread-self/ns/mnt");
    return;
  }
  if (::unshare(CLONE_NEWNS) != 0) {
    error_ = Failed("unshare(CLONE_NEWNS)");
    original_.reset();
    return;
  }
  // Without this, mounts made here would propagate to the machine's namespace.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    error_ = Failed("making / private");
}

PrivateMounts::~PrivateMounts() {
  for (const std::string& dir : mounts_) ::umount2(dir.c_str(), MNT_DETACH);
  if (original_) {
    // Joining a mount namespace moves the working directory to its root: keep ours.
    UniqueFd cwd(::open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ::setns(original_.get(), CLONE_NEWNS);
    if (cwd && ::fchdir(cwd.get()) != 0) error_ = Failed("fchdir");
  }
  for (const std::string& dir : mounts_) ::rmdir(dir.c_str());
}

std::string PrivateMounts::mount_tmpfs(size_t bytes) {
  if (!ok()) return "";
  char pattern[] = "/tmp/sigver-tmpfs-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) {
    error_ = Failed("mkdtemp");
    return "";
  }
  const std::string options = "size=" + std::to_string(bytes) + ",mode=0755";
  if (::mount("tmpfs", pattern, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.c_str()) != 0) {
    error_ = Failed(std::string("mount tmpfs on ") + pattern);
    ::rmdir(pattern);
    return "";
  }
  mounts_.push_back(pattern);
  return pattern;
}

VethLink::~VethLink() {
  if (exists_) cut();
}

bool VethLink::run_ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{IpBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string output;
  if (RunCommand(argv, std::chrono::seconds(10), &output) == 0) return true;
  error_ = "ip";
  for (const auto& arg : args) error_ += " " + arg;
  error_ += " failed: " + output;
  return false;
}

bool VethLink::create() {
  if (IpBinary() == nullptr) {
    error_ = "iproute2 (ip) is not installed";
    return false;
  }
  near_ = OpenOwnNamespace("net");
  if (!near_) {
    error_ = Failed("open /proc/thread-self/ns/net");
    return false;
  }
  // The far namespace: made by unsharing once more, kept by its descriptor.
  if (::unshare(CLONE_NEWNET) != 0) {
    error_ = Failed("unshare(CLONE_NEWNET)");
    return false;
  }
  far_ = OpenOwnNamespace("net");
  if (::setns(near_.get(), CLONE_NEWNET) != 0 || !far_) {
    error_ = Failed("back to the near namespace");
    return false;
  }
  // ip runs in a child: the far namespace is named by a path through our descriptor table.
  const std::string far_path =
      "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(far_.get());
  if (!run_ip(
          {"link", "add", kNearName, "type", "veth", "peer", "name", kFarName, "netns", far_path}))
    return false;
  exists_ = true;
  if (!run_ip({"addr", "add", std::string(kNearAddress) + "/24", "dev", kNearName}) ||
      !run_ip({"link", "set", kNearName, "up"}))
    return false;
  if (::setns(far_.get(), CLONE_NEWNET) != 0) {
    error_ = Failed("setns(far)");
    return false;
  }
  const bool far_ok = run_ip({"addr", "add", std::string(kFarAddress) + "/24", "dev", kFarName}) &&
                      run_ip({"link", "set", kFarName, "up"});
  if (::setns(near_.get(), CLONE_NEWNET) != 0) {
    error_ = Failed("setns(near)");
    return false;
  }
  return far_ok;
}

UniqueFd VethLink::connect_from_far_side(uint16_t port, std::chrono::milliseconds bound) {
  if (::setns(far_.get(), CLONE_NEWNET) != 0) {
    error_ = Failed("setns(far)");
    return UniqueFd();
  }
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const int saved = errno;
  if (::setns(near_.get(), CLONE_NEWNET) != 0) {
    error_ = Failed("setns(near)");
    return UniqueFd();
  }
  if (!fd) {
    errno = saved;
    error_ = Failed("socket");
    return fd;
  }
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, kNearAddress, &addr.sin_addr);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
      errno != EINPROGRESS) {
    error_ = Failed("connect");
    return UniqueFd();
  }
  pollfd pfd{fd.get(), POLLOUT, 0};
  int so_error = 0;
  socklen_t len = sizeof so_error;
  if (::poll(&pfd, 1, static_cast<int>(bound.count())) != 1 ||
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0) {
    error_ = std::string("connect from the far side: ") +
             (so_error ? std::strerror(so_error) : "timed out");
    return UniqueFd();
  }
  return fd;
}

bool VethLink::cut() {
  // Deleting one end deletes the pair; the far sockets keep their namespace, now unlinked.
  if (!exists_) return true;
  exists_ = false;
  return run_ip({"link", "del", kNearName});
}

}  // namespace sigver::itest
