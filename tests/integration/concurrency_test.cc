// Many peers at once: 200 connections over 50 keys (one member and three joiners each),
// with every relay checked for the right id and bytes, on one and on several workers
// (spec "Relay", "One server, many processes").
#include <set>

#include "support/harness.h"

namespace sigver::itest {
namespace {

constexpr int kGroups = 50;
constexpr int kJoinersPerGroup = 3;

struct Group {
  std::string key;
  Peer member;
  std::vector<Peer> joiners;
  std::vector<uint32_t> ids;  // the id the member sees for each joiner
};

std::string up_payload(int group, int joiner) {
  return "up g" + std::to_string(group) + " j" + std::to_string(joiner) +
         std::string(static_cast<size_t>(group * 13 + joiner), '.');
}

std::string down_payload(int group, int joiner) {
  return "down g" + std::to_string(group) + " j" + std::to_string(joiner);
}

class ConcurrencyTest : public SigverTest, public ::testing::WithParamInterface<int> {
 protected:
  void SetUp() override { Start({.server = {"worker_processes = " + std::to_string(GetParam())}}); }
};

TEST_P(ConcurrencyTest, TwoHundredPeersOverFiftyKeysRelayCorrectly) {
  std::vector<Group> groups(kGroups);
  // All members first, then all joiners: every connection stays open for the whole test.
  for (int g = 0; g < kGroups; ++g) {
    groups[g].key = random_key("c" + std::to_string(g) + "-");
    groups[g].member = NewPeer();
    ASSERT_NO_FATAL_FAILURE(Join(groups[g].member, groups[g].key, true)) << "group " << g;
  }
  for (int j = 0; j < kJoinersPerGroup; ++j) {
    for (int g = 0; g < kGroups; ++g) {
      groups[g].joiners.push_back(NewPeer());
      ASSERT_NO_FATAL_FAILURE(Join(groups[g].joiners.back(), groups[g].key, false))
          << "group " << g << " joiner " << j;
    }
  }
  // Every joiner talks before any member reads, so messages for all groups are in flight.
  for (int j = 0; j < kJoinersPerGroup; ++j)
    for (int g = 0; g < kGroups; ++g)
      ASSERT_TRUE(groups[g].joiners[j].send_content(0, up_payload(g, j)));

  for (int g = 0; g < kGroups; ++g) {
    Group& group = groups[g];
    std::set<uint32_t> distinct;
    for (int j = 0; j < kJoinersPerGroup; ++j) {
      // A member's messages from one joiner arrive in order, and joiner j sent in round j,
      // but rounds of different joiners may interleave: match by payload.
      const Received got = group.member.receive();
      ASSERT_TRUE(got.is_content()) << "group " << g << ": " << got.describe();
      ASSERT_NE(got.content().id(), 0u);
      int from = -1;
      for (int k = 0; k < kJoinersPerGroup; ++k)
        if (got.content().data() == up_payload(g, k)) from = k;
      ASSERT_GE(from, 0) << "group " << g << " got foreign bytes: " << got.describe();
      group.ids.resize(kJoinersPerGroup, 0);
      EXPECT_EQ(group.ids[from], 0u) << "duplicate message from joiner " << from;
      group.ids[from] = got.content().id();
      distinct.insert(got.content().id());
    }
    EXPECT_EQ(distinct.size(), static_cast<size_t>(kJoinersPerGroup)) << "group " << g;
  }
  if (GetParam() == 1) {
    // Ids are unique among live ids of one server process, not just within a group.
    std::set<uint32_t> all;
    for (const auto& group : groups) all.insert(group.ids.begin(), group.ids.end());
    EXPECT_EQ(all.size(), static_cast<size_t>(kGroups * kJoinersPerGroup));
  }
  for (int g = 0; g < kGroups; ++g)
    for (int j = 0; j < kJoinersPerGroup; ++j)
      ASSERT_TRUE(groups[g].member.send_content(groups[g].ids[j], down_payload(g, j)));
  for (int g = 0; g < kGroups; ++g)
    for (int j = 0; j < kJoinersPerGroup; ++j)
      EXPECT_TRUE(IsContent(groups[g].joiners[j].receive(), 0, down_payload(g, j)))
          << "group " << g << " joiner " << j;
  // Nothing stray anywhere.
  for (int g = 0; g < kGroups; ++g) {
    EXPECT_TRUE(ReceivedNothing(groups[g].member.sync())) << "group " << g;
    for (auto& joiner : groups[g].joiners) EXPECT_TRUE(ReceivedNothing(joiner.sync()));
  }
}

TEST_P(ConcurrencyTest, PeersOfOneKeyAlwaysMeetWhicheverWorkerAcceptsThem) {
  // With several workers, connections land on any of them; a key's peers must still form
  // one group (the connection is passed to the key's owner).
  for (int round = 0; round < 20; ++round) {
    const std::string key = random_key("w");
    Peer member = NewPeer(), joiner = NewPeer();
    ASSERT_NO_FATAL_FAILURE(Join(member, key, true)) << "round " << round;
    ASSERT_NO_FATAL_FAILURE(Join(joiner, key, false)) << "round " << round;
    ASSERT_TRUE(joiner.send_content(0, "meet"));
    uint32_t id = 0;
    ASSERT_NO_FATAL_FAILURE(ExpectContentAtMember(member, "meet", id));
  }
}

INSTANTIATE_TEST_SUITE_P(Workers, ConcurrencyTest, ::testing::Values(1, 2),
                         [](const ::testing::TestParamInfo<int>& param_info) {
                           return std::to_string(param_info.param) + "_workers";
                         });

}  // namespace
}  // namespace sigver::itest
