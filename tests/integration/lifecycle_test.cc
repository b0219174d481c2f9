// Process-level behaviour seen by clients: shutdown closes peers with 1001, and the seed's
// `sigver` command line serves the same protocol.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>

#include "support/harness.h"

namespace sigver::itest {
namespace {

class LifecycleTest : public SigverTest {};

// The next close a peer receives; contents before it are fine (a peer closed first leaves
// its group, so the others may be told before their own close).
Received NextClose(Peer& peer) {
  for (;;) {
    Received got = peer.receive();
    if (!got.is_content()) return got;
  }
}

TEST_F(LifecycleTest, GracefulShutdownClosesPeersWith1001) {
  ASSERT_NO_FATAL_FAILURE(Start({.server = {"worker_processes = 2"}}));
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  // SIGQUIT is the graceful stop (README); SIGTERM stops at once.
  ASSERT_TRUE(server().send_signal(SIGQUIT));
  EXPECT_TRUE(IsClose(NextClose(member), 1001));
  EXPECT_TRUE(IsClose(NextClose(joiner), 1001));
  member.ws().send_close(1001);  // completing the handshake lets the server finish now
  joiner.ws().send_close(1001);
  const int status = server().wait_exit(std::chrono::seconds(10));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "sigverd should exit cleanly on SIGTERM, status " << status;
  // Nothing listens any more.
  WsClient late;
  EXPECT_FALSE(late.connect(port(), Millis(500)));
}

TEST_F(LifecycleTest, FastStopEndsConnectionsAndExits) {
  ASSERT_NO_FATAL_FAILURE(Start({.server = {"worker_processes = 2"}}));
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  ASSERT_TRUE(server().send_signal(SIGTERM));
  EXPECT_TRUE(member.ws().wait_eof(Millis(5000)));
  EXPECT_TRUE(joiner.ws().wait_eof(Millis(5000)));
  const int status = server().wait_exit(std::chrono::seconds(5));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST_F(LifecycleTest, SeedCommandLineServesTheProtocol) {
  server_ = std::make_unique<ServerProcess>(
      SigverBinary(), ServerConfig{.args = {"-h", "127.0.0.1", "-p", "{port}"}});
  ASSERT_TRUE(server_->ready());
  EXPECT_TRUE(ServerHealthy());
}

}  // namespace
}  // namespace sigver::itest
