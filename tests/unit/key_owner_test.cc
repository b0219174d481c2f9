#include "core/key_owner.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sigver {
namespace {

TEST(KeyOwner, StableAndInRange) {
  for (int n = 1; n <= 16; ++n) {
    for (int i = 0; i < 1000; ++i) {
      std::string key = "key-" + std::to_string(i);
      int owner = key_owner(key, n);
      ASSERT_GE(owner, 0);
      ASSERT_LT(owner, n);
      ASSERT_EQ(owner, key_owner(key, n));
    }
  }
}

TEST(KeyOwner, SpreadsEvenly) {
  const int n = 4, keys = 40000;
  std::vector<int> count(n);
  for (int i = 0; i < keys; ++i) ++count[key_owner("k" + std::to_string(i), n)];
  for (int c : count) {
    EXPECT_GT(c, keys / n * 9 / 10);
    EXPECT_LT(c, keys / n * 11 / 10);
  }
}

TEST(KeyOwner, GrowingMovesKeysOnlyToTheNewWorker) {
  const int keys = 20000;
  int moved = 0;
  for (int i = 0; i < keys; ++i) {
    std::string key = "room/" + std::to_string(i);
    int before = key_owner(key, 4), after = key_owner(key, 5);
    if (before != after) {
      ++moved;
      EXPECT_EQ(after, 4);
    }
  }
  // About 1/5 of the keys move.
  EXPECT_GT(moved, keys / 5 * 8 / 10);
  EXPECT_LT(moved, keys / 5 * 12 / 10);
}

}  // namespace
}  // namespace sigver
