// sd_notify_send against datagram sockets standing in for systemd's: a path in a temporary
// directory and a name in the abstract namespace.
#include "master/sd_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "core/unique_fd.h"

namespace sigver {
namespace {

// Sets NOTIFY_SOCKET for one test and restores what was there before (ctest may run under
// systemd, whose variable must not leak into the other tests).
class NotifySocketEnv {
 public:
  explicit NotifySocketEnv(const char* value) {
    if (const char* old = std::getenv("NOTIFY_SOCKET")) saved_ = old;
    if (value == nullptr) {
      ::unsetenv("NOTIFY_SOCKET");
    } else {
      ::setenv("NOTIFY_SOCKET", value, 1);
    }
  }
  ~NotifySocketEnv() {
    if (saved_) {
      ::setenv("NOTIFY_SOCKET", saved_->c_str(), 1);
    } else {
      ::unsetenv("NOTIFY_SOCKET");
    }
  }

 private:
  std::optional<std::string> saved_;
};

// A bound datagram socket; `name` is a path or "@abstract" as in NOTIFY_SOCKET.
UniqueFd bind_datagram(const std::string& name) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, name.data(), name.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  if (name[0] == '@') {
    addr.sun_path[0] = '\0';
  } else {
    ++len;  // the terminating NUL
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) != 0) fd.reset();
  return fd;
}

// One datagram, waiting at most a second (sd_notify_send has sent it before returning).
std::string receive(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 1000) != 1) return "<nothing received>";
  char buf[512];
  ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0) return std::string("<recv: ") + std::strerror(errno) + ">";
  return std::string(buf, static_cast<size_t>(n));
}

class SdNotifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sd_notify_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr) << std::strerror(errno);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
};

TEST_F(SdNotifyTest, SendsEachStateAsOneDatagramToAPath) {
  std::string path = dir_ + "/notify";
  UniqueFd server = bind_datagram(path);
  ASSERT_TRUE(server) << std::strerror(errno);
  NotifySocketEnv env(path.c_str());

  std::string error;
  ASSERT_TRUE(sd_notify_send("READY=1", error)) << error;
  EXPECT_EQ(receive(server.get()), "READY=1");
  ASSERT_TRUE(sd_notify_send("MAINPID=123\nREADY=1", error)) << error;
  EXPECT_EQ(receive(server.get()), "MAINPID=123\nREADY=1");
}

TEST_F(SdNotifyTest, SendsToAnAbstractName) {
  // Unique per process and test directory, so parallel runs do not collide.
  std::string name = "@sigver-sd-notify-test-" + std::to_string(::getpid()) + "-" +
                     std::filesystem::path(dir_).filename().string();
  UniqueFd server = bind_datagram(name);
  ASSERT_TRUE(server) << std::strerror(errno);
  NotifySocketEnv env(name.c_str());

  std::string error;
  ASSERT_TRUE(sd_notify_send("READY=1", error)) << error;
  EXPECT_EQ(receive(server.get()), "READY=1");
  ASSERT_TRUE(sd_notify_send("MAINPID=123\nREADY=1", error)) << error;
  EXPECT_EQ(receive(server.get()), "MAINPID=123\nREADY=1");
}

TEST_F(SdNotifyTest, UnsetOrEmptyVariableIsANoOp) {
  std::string error;
  {
    NotifySocketEnv env(nullptr);
    EXPECT_TRUE(sd_notify_send("READY=1", error));
  }
  {
    NotifySocketEnv env("");
    EXPECT_TRUE(sd_notify_send("READY=1", error));
  }
  EXPECT_EQ(error, "");
}

TEST_F(SdNotifyTest, NobodyListeningIsAnErrorNamingTheSocket) {
  std::string path = dir_ + "/nobody";
  NotifySocketEnv env(path.c_str());
  std::string error;
  EXPECT_FALSE(sd_notify_send("READY=1", error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
}

TEST_F(SdNotifyTest, RelativeOrOverlongNamesAreRefused) {
  std::string error;
  {
    NotifySocketEnv env("relative/notify");
    EXPECT_FALSE(sd_notify_send("READY=1", error));
    EXPECT_NE(error.find("relative/notify"), std::string::npos) << error;
  }
  {
    std::string long_path = "/" + std::string(sizeof(sockaddr_un{}.sun_path), 'x');
    NotifySocketEnv env(long_path.c_str());
    error.clear();
    EXPECT_FALSE(sd_notify_send("READY=1", error));
    EXPECT_NE(error.find("too long"), std::string::npos) << error;
  }
}

TEST_F(SdNotifyTest, AFullReceiverDoesNotBlock) {
  // Nobody reads: once the queue is full the send fails with EAGAIN instead of waiting.
  std::string path = dir_ + "/full";
  UniqueFd server = bind_datagram(path);
  ASSERT_TRUE(server) << std::strerror(errno);
  NotifySocketEnv env(path.c_str());
  std::string state(4000, 'x');
  std::string error;
  bool failed = false;
  for (int i = 0; i < 100000 && !failed; ++i) failed = !sd_notify_send(state, error);
  EXPECT_TRUE(failed);
  EXPECT_NE(error.find(std::strerror(EAGAIN)), std::string::npos) << error;
}

}  // namespace
}  // namespace sigver
