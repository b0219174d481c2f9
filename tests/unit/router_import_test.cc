// Router::import_group with routing state a buggy or hostile worker could send in kMigrate
// messages (found by tests/fuzz/fuzz_queue.cc): a binding must go to another peer that is a
// member, as the joining rules make them, or it is dropped.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <vector>

#include "worker/protocol/gen1/router.h"

namespace sigver::gen1 {
namespace {

class CountingOutput : public PeerOutput {
 public:
  char* begin_message(Peer&, size_t size) override {
    buffer.assign(size, '\0');
    return buffer.data();
  }
  void end_message(Peer& to, size_t) override { ++received[&to]; }
  void close(Peer& peer, uint16_t code, std::string_view) override { closed[&peer] = code; }
  uint32_t round_trip_us(Peer&) override { return 0; }

  std::vector<char> buffer;
  std::map<Peer*, int> received;
  std::map<Peer*, uint16_t> closed;
};

class RouterImportTest : public ::testing::Test {
 protected:
  RouterImportTest() { exported.reserve(8); }  // add() hands out references into it

  ExportedPeer& add(int member_position, int bound_to, uint32_t id) {
    ExportedPeer& e = exported.emplace_back();
    e.peer = &peers.emplace_back();
    e.generation = 1;
    e.member_position = member_position;
    e.bound_to = bound_to;
    e.id = id;
    e.up_open = e.down_open = true;
    return e;
  }

  CountingOutput out;
  Router router{out, 1};
  std::deque<Peer> peers;
  std::vector<ExportedPeer> exported;
};

TEST_F(RouterImportTest, BindingToItselfIsDropped) {
  ExportedPeer& self = add(0, 0, 8);  // the fuzzer's input: a member bound to itself
  router.import_group("room", exported);
  EXPECT_EQ(self.peer->member, nullptr);
  EXPECT_EQ(self.peer->id, 0u);
  EXPECT_FALSE(self.peer->up_open || self.peer->down_open);
  EXPECT_EQ(router.find_by_id(8), nullptr);
  EXPECT_EQ(router.binding_count(), 0u);
  EXPECT_TRUE(self.peer->is_member);
  router.leave(*self.peer);
  EXPECT_TRUE(out.received.empty()) << "no end notice to itself";
  EXPECT_EQ(router.counters().groups, 0u);
}

TEST_F(RouterImportTest, BindingToANonMemberIsDropped) {
  add(0, -1, 0);
  ExportedPeer& joiner = add(-1, -1, 0);
  ExportedPeer& bound = add(-1, 1, 9);  // bound to the other joiner
  router.import_group("room", exported);
  EXPECT_EQ(bound.peer->member, nullptr);
  EXPECT_EQ(router.find_by_id(9), nullptr);
  EXPECT_EQ(router.binding_count(), 0u);
  router.leave(*joiner.peer);
  EXPECT_EQ(out.received.count(bound.peer), 0u) << "no end notice for a binding that never was";
}

TEST_F(RouterImportTest, BindingToAMemberIsKept) {
  ExportedPeer& member = add(0, -1, 0);
  ExportedPeer& stable_joiner = add(1, 0, 10);  // a member keeps the binding it joined by
  ExportedPeer& joiner = add(-1, 1, 11);
  router.import_group("room", exported);
  EXPECT_EQ(stable_joiner.peer->member, member.peer);
  EXPECT_EQ(joiner.peer->member, stable_joiner.peer);
  EXPECT_EQ(router.find_by_id(10), stable_joiner.peer);
  EXPECT_EQ(router.find_by_id(11), joiner.peer);
  EXPECT_EQ(router.binding_count(), 2u);
}

}  // namespace
}  // namespace sigver::gen1
