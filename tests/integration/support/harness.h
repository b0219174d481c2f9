#pragma once
// The gtest side of the integration tests: a fixture that owns one sigverd per test, and
// assertion helpers that print what was actually received.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "support/server_process.h"
#include "support/sigver_peer.h"

namespace sigver::itest {

// Paths of the built binaries. Test executables get them as compile definitions; this
// library does not, so they register themselves at start-up (see the end of this file).
void RegisterBinaries(const char* sigverd, const char* sigver);
const std::string& SigverdBinary();
const std::string& SigverBinary();

// Assertions on what a peer received.
::testing::AssertionResult IsIsFirst(const Received& got, bool expected);
::testing::AssertionResult IsContent(const Received& got, uint32_t id, std::string_view data);
// A content carrying these flags and no data, with this id (0 = absent on the wire).
::testing::AssertionResult IsFlags(const Received& got, uint32_t id, bool is_end, bool is_error);
::testing::AssertionResult IsClose(const Received& got, uint16_t code);
::testing::AssertionResult IsClose(const CloseResult& got, uint16_t code);
// Nothing but the sync pong arrived (see Peer::sync).
::testing::AssertionResult ReceivedNothing(const std::vector<Received>& got);
// Sends 32 KiB contents from a joiner to its member until something comes back (the server
// dropping a member that does not read tells its joiners), at most 256 MiB or 40 s: a
// broken server cannot keep a test busy forever. Returns what came back (a timeout if
// nothing did); `sent` says how much went out. A send that fails adds a test failure.
Received FloodUntilAnswered(Peer& flooder, size_t& sent);

class SigverTest : public ::testing::Test {
 protected:
  void TearDown() override;

  // Starts sigverd with `config`; fails the test (fatally) if it does not come up.
  void Start(ServerConfig config = {});
  ServerProcess& server() { return *server_; }
  uint16_t port() const { return server_->port(); }
  Peer NewPeer() const { return Peer(server_->port()); }

  // Joins `key` and checks the isFirst answer.
  void Join(Peer& peer, std::string_view key, bool expect_first);
  // Joins `key` (a fresh one if empty) as the first peer, then a joiner bound to it; the
  // joiner sends "hello-member" so that the member learns the routing id, returned in `id`.
  void MakePair(Peer& member, Peer& joiner, uint32_t& id, std::string_view key = {});
  // Receives a content at a member and returns its id after checking the data.
  void ExpectContentAtMember(Peer& member, std::string_view data, uint32_t& id);

  // Replaces `from` by `to` in the server's config file, then sends SIGHUP (fatal failure if
  // `from` is not in the file).
  void RewriteConfigAndReload(const std::string& from, const std::string& to);
  // Waits until the error log holds at least `count` occurrences of `needle`.
  bool WaitForLog(const std::string& needle, size_t count = 1,
                  std::chrono::milliseconds bound = std::chrono::seconds(15));

  // A brand new group on this server still forms and relays both ways.
  ::testing::AssertionResult ServerHealthy();

  std::unique_ptr<ServerProcess> server_;
};

#ifdef SIGVERD_BIN
namespace {
[[maybe_unused]] const bool kBinariesRegistered = (RegisterBinaries(SIGVERD_BIN, SIGVER_BIN), true);
}  // namespace
#endif

}  // namespace sigver::itest
