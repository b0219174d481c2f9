// A peer that stops reading while another floods it: once its outbound queue passes
// max_outbound it is closed with 1008 and its bindings end, and the flooder stays connected
// (spec "Errors and limits").
#include <chrono>

#include "support/harness.h"

namespace sigver::itest {
namespace {

class BackpressureTest : public SigverTest {
 protected:
  void SetUp() override { Start({.protocol = {"max_outbound = 256k", "heartbeat_interval = 60"}}); }
};

TEST_F(BackpressureTest, SlowReaderIsClosedWith1008AndFlooderStays) {
  const std::string key = random_key();
  Peer slow = NewPeer(), flooder = NewPeer();
  slow.ws().set_receive_buffer(4096);
  ASSERT_NO_FATAL_FAILURE(Join(slow, key, true));
  ASSERT_NO_FATAL_FAILURE(Join(flooder, key, false));

  // A bystander group on the same server must not notice anything.
  Peer other_member, other_joiner;
  uint32_t other_id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(other_member, other_joiner, other_id));

  // Flood until the server tells the flooder that its member is gone.
  size_t sent = 0;
  const Received notice = FloodUntilAnswered(flooder, sent);
  ASSERT_NE(notice.kind, Received::Kind::kTimeout)
      << "the slow reader was not dropped after " << sent << " bytes";
  EXPECT_TRUE(IsFlags(notice, 0, false, true)) << "after " << sent << " bytes";

  // The flooder is still connected and usable: its member is gone, so it starts over.
  EXPECT_TRUE(ReceivedNothing(flooder.sync()));
  ASSERT_TRUE(flooder.send(try_another_message()));
  EXPECT_TRUE(IsIsFirst(flooder.receive(), true));

  // The slow reader finally reads: whatever was queued, then a 1008 close.
  const CloseResult closed = slow.ws().wait_close(Millis(20000));
  EXPECT_TRUE(IsClose(closed, 1008));

  ASSERT_TRUE(other_joiner.send_content(0, "unaffected"));
  EXPECT_TRUE(IsContent(other_member.receive(), other_id, "unaffected"));
  EXPECT_TRUE(ServerHealthy());
}

TEST_F(BackpressureTest, ReaderThatKeepsUpIsNotClosed) {
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  // Four times max_outbound in total, read as it arrives.
  const std::string chunk(16 * 1024, 'r');
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(joiner.send_content(0, chunk));
    const Received got = member.receive();
    ASSERT_TRUE(got.is_content()) << "message " << i << ": " << got.describe();
    ASSERT_EQ(got.content().data().size(), chunk.size());
  }
  EXPECT_TRUE(ReceivedNothing(joiner.sync()));
}

}  // namespace
}  // namespace sigver::itest
