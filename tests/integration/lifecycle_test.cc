// Process-level behaviour seen by clients: shutdown closes peers with 1001, and the seed's
// `sigver` command line serves the same protocol.
#include <sys/wait.h>

#include "support/harness.h"

namespace sigver::itest {
namespace {

class LifecycleTest : public SigverTest {};

TEST_F(LifecycleTest, ShutdownClosesPeersWith1001) {
  ASSERT_NO_FATAL_FAILURE(Start({.server = {"worker_processes = 2"}}));
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id));
  const int status = server().stop();
  EXPECT_TRUE(IsClose(member.receive(), 1001));
  EXPECT_TRUE(IsClose(joiner.receive(), 1001));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "sigverd should exit cleanly on SIGTERM, status " << status;
  // Nothing listens any more.
  WsClient late;
  EXPECT_FALSE(late.connect(port(), Millis(500)));
}

TEST_F(LifecycleTest, SeedCommandLineServesTheProtocol) {
  server_ = std::make_unique<ServerProcess>(
      SigverBinary(), ServerConfig{.args = {"-h", "127.0.0.1", "-p", "{port}"}});
  ASSERT_TRUE(server_->ready());
  EXPECT_TRUE(ServerHealthy());
}

}  // namespace
}  // namespace sigver::itest
