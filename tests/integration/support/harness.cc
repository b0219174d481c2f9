#include "support/harness.h"

#include <csignal>
#include <fstream>
#include <iostream>
#include <thread>

namespace sigver::itest {

using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;

namespace {
std::string& sigverd_path() {
  static std::string path;
  return path;
}
std::string& sigver_path() {
  static std::string path;
  return path;
}
}  // namespace

void RegisterBinaries(const char* sigverd, const char* sigver) {
  sigverd_path() = sigverd;
  sigver_path() = sigver;
}
const std::string& SigverdBinary() { return sigverd_path(); }
const std::string& SigverBinary() { return sigver_path(); }

AssertionResult IsIsFirst(const Received& got, bool expected) {
  if (got.is_message() && got.message.type_case() == pb::Message::kIsFirst &&
      got.message.isfirst() == expected)
    return AssertionSuccess();
  return AssertionFailure() << "expected isFirst=" << expected << ", got " << got.describe();
}

AssertionResult IsContent(const Received& got, uint32_t id, std::string_view data) {
  if (!got.is_content())
    return AssertionFailure() << "expected content{id:" << id << " data:\"" << data << "\"}, got "
                              << got.describe();
  const pb::Content& content = got.content();
  if (content.id() != id || content.data() != data || content.isend() || content.iserror())
    return AssertionFailure() << "expected content{id:" << id << " data:\"" << data << "\"}, got "
                              << got.describe();
  // id 0 must be absent on the wire, not an explicit zero.
  if (id == 0 && wire::find(wire::content_fields(got.raw), 1) != nullptr)
    return AssertionFailure() << "id 0 is present on the wire: " << got.describe();
  return AssertionSuccess();
}

AssertionResult IsFlags(const Received& got, uint32_t id, bool is_end, bool is_error) {
  if (!got.is_content() || got.content().id() != id || got.content().isend() != is_end ||
      got.content().iserror() != is_error || !got.content().data().empty())
    return AssertionFailure() << "expected content{id:" << id << " isEnd:" << is_end
                              << " isError:" << is_error << "}, got " << got.describe();
  if (id == 0 && wire::find(wire::content_fields(got.raw), 1) != nullptr)
    return AssertionFailure() << "id 0 is present on the wire: " << got.describe();
  return AssertionSuccess();
}

AssertionResult IsClose(const Received& got, uint16_t code) {
  if (got.kind == Received::Kind::kClose && got.close.has_code && got.close.code == code)
    return AssertionSuccess();
  return AssertionFailure() << "expected close " << code << ", got " << got.describe();
}

AssertionResult IsClose(const CloseResult& got, uint16_t code) {
  if (got.status == ReadStatus::kFrame && got.close.has_code && got.close.code == code)
    return AssertionSuccess();
  return AssertionFailure() << "expected close " << code << ", got " << got.describe();
}

AssertionResult ReceivedNothing(const std::vector<Received>& got) {
  if (got.empty()) return AssertionSuccess();
  auto failure = AssertionFailure() << "expected nothing before the sync pong, got:";
  for (const auto& item : got) failure << "\n  " << item.describe();
  return failure;
}

void SigverTest::TearDown() {
  if (!server_) return;
  // Whatever a test did to it, a running server must still serve a new group.
  if (server_->running()) {
    EXPECT_TRUE(ServerHealthy()) << "at the end of the test";
  }
  server_->stop();
  // A worker that crashed and was respawned can hide behind a passing test: the master logs
  // it; sanitizers print to stderr, which may be our output file or the error log.
  const std::string log = server_->log_text();
  const std::string everything = log + server_->output_text();
  for (const char* sign : {"killed by SIG", "Sanitizer", "runtime error:"}) {
    const size_t at = everything.find(sign);
    EXPECT_EQ(at, std::string::npos) << "the server crashed or a sanitizer complained: "
                                     << everything.substr(at == std::string::npos ? 0 : at, 300);
  }
  if (HasFailure()) std::cerr << server_->diagnostics() << std::endl;
  server_.reset();
}

void SigverTest::Start(ServerConfig config) {
  server_ = std::make_unique<ServerProcess>(SigverdBinary(), std::move(config));
  ASSERT_TRUE(server_->ready()) << "sigverd did not start; its config, log and output follow";
}

void SigverTest::Join(Peer& peer, std::string_view key, bool expect_first) {
  bool is_first = false;
  ASSERT_TRUE(peer.join(key, is_first)) << peer.error();
  ASSERT_EQ(is_first, expect_first) << "isFirst for key " << key;
}

void SigverTest::ExpectContentAtMember(Peer& member, std::string_view data, uint32_t& id) {
  const Received got = member.receive();
  ASSERT_TRUE(got.is_content()) << got.describe();
  ASSERT_NE(got.content().id(), 0u) << got.describe();
  ASSERT_EQ(got.content().data(), data) << got.describe();
  id = got.content().id();
}

void SigverTest::MakePair(Peer& member, Peer& joiner, uint32_t& id, std::string_view key) {
  const std::string group = key.empty() ? random_key("p") : std::string(key);
  member = NewPeer();
  joiner = NewPeer();
  ASSERT_NO_FATAL_FAILURE(Join(member, group, true));
  ASSERT_NO_FATAL_FAILURE(Join(joiner, group, false));
  ASSERT_TRUE(joiner.send_content(0, "hello-member")) << joiner.error();
  ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(member, "hello-member", id));
}

void SigverTest::RewriteConfigAndReload(const std::string& from, const std::string& to) {
  std::string text = read_file_text(server().config_path());
  const size_t at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from << " is not in:\n" << text;
  text.replace(at, from.size(), to);
  std::ofstream(server().config_path(), std::ios::trunc) << text;
  ASSERT_TRUE(server().send_signal(SIGHUP));
}

bool SigverTest::WaitForLog(const std::string& needle, size_t count,
                            std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    const std::string log = server().log_text();
    size_t found = 0;
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) {
      ++found;
    }
    if (found >= count) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Received FloodUntilAnswered(Peer& flooder, size_t& sent) {
  const std::string chunk(32 * 1024, 'f');
  const auto give_up_at = std::chrono::steady_clock::now() + std::chrono::seconds(40);
  sent = 0;
  Received notice;
  while (sent < (size_t{256} << 20) && std::chrono::steady_clock::now() < give_up_at) {
    if (!flooder.send_content(0, chunk)) {
      ADD_FAILURE() << "flooder could not send after " << sent << " bytes: " << flooder.error();
      break;
    }
    sent += chunk.size();
    notice = flooder.receive(Millis(0));
    if (notice.kind != Received::Kind::kTimeout) break;
  }
  return notice;
}

AssertionResult SigverTest::ServerHealthy() {
  const std::string key = random_key("h");
  Peer member = NewPeer();
  Peer joiner = NewPeer();
  bool first = false;
  if (!member.join(key, first) || !first)
    return AssertionFailure() << "health: first peer: " << member.error() << " first=" << first;
  if (!joiner.join(key, first) || first)
    return AssertionFailure() << "health: second peer: " << joiner.error() << " first=" << first;
  if (!joiner.send_content(0, "health-up")) return AssertionFailure() << joiner.error();
  const Received up = member.receive();
  if (!up.is_content() || up.content().id() == 0 || up.content().data() != "health-up")
    return AssertionFailure() << "health: member got " << up.describe();
  if (!member.send_content(up.content().id(), "health-down"))
    return AssertionFailure() << member.error();
  const Received down = joiner.receive();
  if (auto ok = IsContent(down, 0, "health-down"); !ok)
    return AssertionFailure() << "health: joiner: " << ok.message();
  return AssertionSuccess();
}

}  // namespace sigver::itest
