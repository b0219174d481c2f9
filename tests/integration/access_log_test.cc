// [log] access_log through the real binary: one line per connection when it ends, with the
// worker, address, key (hashed by default), bytes and messages each way, close code and who
// closed; USR1 reopens the file after rotation.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "support/harness.h"
#include "support/worker_probe.h"

namespace sigver::itest {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return lines;
}

class AccessLogTest : public SigverTest {
 protected:
  std::string path_ = "/tmp/sigver-access-" + std::to_string(::getpid()) + ".log";
  void TearDown() override {
    SigverTest::TearDown();
    std::remove(path_.c_str());
    std::remove((path_ + ".1").c_str());
  }
};

TEST_F(AccessLogTest, OneLinePerConnectionWithWhatItDid) {
  Start({.server = {"worker_processes = 2"}, .log = {"access_log = " + path_}});
  const std::string key = random_key("access");
  Peer member, joiner;
  uint32_t id = 0;
  ASSERT_NO_FATAL_FAILURE(MakePair(member, joiner, id, key));
  ASSERT_TRUE(member.send_content(id, "down"));
  ASSERT_TRUE(IsContent(joiner.receive(), 0, "down"));
  EXPECT_EQ(joiner.close_cleanly().close.code, 1000);
  EXPECT_EQ(member.close_cleanly().close.code, 1000);
  // The harness's own probes (connections that never sent a request) are lines too; the
  // pair's are the two that closed with 1000.
  std::vector<std::string> pair;
  ASSERT_TRUE(WaitUntil(
      [&] {
        pair.clear();
        for (const std::string& line : Lines(read_file_text(path_))) {
          if (line.find(" close=1000 ") != std::string::npos) pair.push_back(line);
        }
        return pair.size() >= 2;
      },
      std::chrono::seconds(10)))
      << read_file_text(path_);
  EXPECT_EQ(pair.size(), 2u);
  for (const std::string& line : pair) {
    EXPECT_NE(line.find(" remote=127.0.0.1:"), std::string::npos) << line;
    EXPECT_EQ(line.find(key), std::string::npos) << "keys are hashed by default: " << line;
    EXPECT_EQ(line.find(" key=-"), std::string::npos) << line;
    EXPECT_NE(line.find(" close=1000 by=client tls=no"), std::string::npos) << line;
    // Each sent its joining heartbeat and one content (the close frame is not a message)
    // and got at least two.
    EXPECT_NE(line.find("/2 out="), std::string::npos) << "two messages in: " << line;
    EXPECT_EQ(line.find(" out=0/"), std::string::npos) << line;
  }
  // A refused upgrade is a line too, with its HTTP status.
  UniqueFd plain = connect_loopback(port());
  const std::string request = "GET /x HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::write(plain.get(), request.data(), request.size()),
            static_cast<ssize_t>(request.size()));
  EXPECT_TRUE(WaitUntil(
      [&] { return read_file_text(path_).find(" close=426 by=server") != std::string::npos; },
      std::chrono::seconds(10)))
      << read_file_text(path_);
}

TEST_F(AccessLogTest, FullKeysAndReopenOnUsr1) {
  Start({.log = {"access_log = " + path_, "access_log_keys = full"}});
  const std::string key = random_key("full");
  Peer peer = NewPeer();
  bool is_first = false;
  ASSERT_TRUE(peer.join(key, is_first));
  ASSERT_EQ(peer.close_cleanly().close.code, 1000);
  EXPECT_TRUE(WaitUntil(
      [&] { return read_file_text(path_).find(" key=" + key + " ") != std::string::npos; },
      std::chrono::seconds(10)))
      << read_file_text(path_);

  // Rotation: the file is moved away, USR1 makes the server write to a new one.
  ASSERT_EQ(std::rename(path_.c_str(), (path_ + ".1").c_str()), 0);
  ASSERT_TRUE(server().send_signal(SIGUSR1));
  // The master passes USR1 on to the workers: connections that end before a worker reopened
  // still go to the old file, so keep making some until the new file has a line.
  bool reopened = false;
  for (int i = 0; i < 100 && !reopened; ++i) {
    Peer next = NewPeer();
    ASSERT_TRUE(next.join(random_key("full"), is_first));
    ASSERT_EQ(next.close_cleanly().close.code, 1000);
    reopened =
        WaitUntil([&] { return !read_file_text(path_).empty(); }, std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(reopened) << "no new file after USR1";
  EXPECT_GE(Lines(read_file_text(path_ + ".1")).size(), 1u) << "the old file keeps its lines";
}

}  // namespace
}  // namespace sigver::itest
