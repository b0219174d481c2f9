// The process channel (core/channel.h): a message and its descriptors arrive whole, nothing
// waiting reads as empty, and an end whose every sender is gone reads as closed, not as a
// malformed message (the masters tell a peer that exits from one that misbehaves by it).
#include "core/channel.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sigver {
namespace {

struct Pair {
  UniqueFd a, b;
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    a = UniqueFd(fds[0]);
    b = UniqueFd(fds[1]);
  }
};

TEST(Channel, MessageWithADescriptorArrivesWhole) {
  Pair p;
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  const int fd = write_end.get();
  ASSERT_EQ(channel_send(p.a.get(), ChannelType::kCommit, "N", &fd, 1), 0);
  char buffer[64];
  ChannelMessage msg;
  ASSERT_EQ(channel_receive(p.b.get(), buffer, sizeof buffer, msg), ChannelResult::kMessage);
  EXPECT_EQ(msg.type, ChannelType::kCommit);
  EXPECT_EQ(msg.payload, "N");
  ASSERT_EQ(msg.fds.size(), 1u);
  ASSERT_EQ(::write(msg.fds[0].get(), "x", 1), 1);  // the same pipe
  char got = 0;
  EXPECT_EQ(::read(read_end.get(), &got, 1), 1);
  EXPECT_EQ(got, 'x');
}

TEST(Channel, NothingWaitingIsEmptyAndAClosedPeerIsClosed) {
  Pair p;
  char buffer[64];
  ChannelMessage msg;
  EXPECT_EQ(channel_receive(p.b.get(), buffer, sizeof buffer, msg), ChannelResult::kEmpty);
  ASSERT_EQ(channel_send(p.a.get(), ChannelType::kCommit, "", nullptr, 0), 0);
  p.a.reset();
  // What was sent before the close is read first.
  ASSERT_EQ(channel_receive(p.b.get(), buffer, sizeof buffer, msg), ChannelResult::kMessage);
  EXPECT_EQ(msg.type, ChannelType::kCommit);
  EXPECT_TRUE(msg.payload.empty());
  EXPECT_EQ(channel_receive(p.b.get(), buffer, sizeof buffer, msg), ChannelResult::kClosed);
  EXPECT_EQ(channel_receive(p.b.get(), buffer, sizeof buffer, msg), ChannelResult::kClosed);
}

TEST(Channel, ATruncatedMessageIsMalformed) {
  Pair p;
  ASSERT_EQ(channel_send(p.a.get(), ChannelType::kCommit, std::string(100, 'x'), nullptr, 0), 0);
  char buffer[16];
  ChannelMessage msg;
  EXPECT_EQ(channel_receive(p.b.get(), buffer, sizeof buffer, msg), ChannelResult::kMalformed);
}

}  // namespace
}  // namespace sigver
