// The master's worker bookkeeping and its crash-loop back-off, with a fake clock.
#include <gtest/gtest.h>

#include "master/process_table.h"

namespace sigver {
namespace {

using Clock = ProcessTable::Clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

class ProcessTableTest : public ::testing::Test {
 protected:
  Clock::time_point now = Clock::time_point() + seconds(1000);
  ProcessTable table{2};
  pid_t next_pid = 100;

  pid_t start(int index) {
    table.on_spawned(index, next_pid, now);
    return next_pid++;
  }
  // Starts worker 0, lets it live `lived`, then reaps it (not fatal); returns the wait.
  Clock::duration crash_after(Clock::duration lived) {
    pid_t pid = start(0);
    now += lived;
    ProcessTable::Exit exit = table.on_exit(pid, false, false, now);
    EXPECT_EQ(exit.index, 0);
    EXPECT_TRUE(exit.respawn);
    now += exit.respawn_after;
    return exit.respawn_after;
  }
};

TEST_F(ProcessTableTest, FirstDeathRestartsAtOnce) {
  EXPECT_EQ(crash_after(seconds(30)), Clock::duration::zero());
  EXPECT_EQ(table.due_for_respawn(now), std::vector<int>{0});
}

TEST_F(ProcessTableTest, QuickDeathsDoubleTheDelayUpToTheCap) {
  std::vector<Clock::duration> waits;
  for (int i = 0; i < 8; ++i) waits.push_back(crash_after(milliseconds(100)));
  std::vector<Clock::duration> expected = {Clock::duration::zero(),
                                           milliseconds(250),
                                           milliseconds(500),
                                           seconds(1),
                                           seconds(2),
                                           seconds(4),
                                           seconds(5),
                                           seconds(5)};
  EXPECT_EQ(waits, expected);
}

TEST_F(ProcessTableTest, ALongLifeResetsTheBackOff) {
  for (int i = 0; i < 5; ++i) crash_after(milliseconds(10));
  EXPECT_EQ(crash_after(seconds(10)), Clock::duration::zero());
  // The sequence starts over: one immediate restart, then the first delay.
  EXPECT_EQ(crash_after(milliseconds(10)), Clock::duration::zero());
  EXPECT_EQ(crash_after(milliseconds(10)), milliseconds(250));
}

TEST_F(ProcessTableTest, AMediumLifeKeepsTheCurrentDelay) {
  for (int i = 0; i < 3; ++i) crash_after(milliseconds(10));  // next delay is 1 s
  EXPECT_EQ(crash_after(seconds(5)), seconds(1));
  EXPECT_EQ(crash_after(seconds(5)), seconds(1));
}

TEST_F(ProcessTableTest, RespawnIsDueOnlyAfterTheDelay) {
  crash_after(milliseconds(10));
  pid_t pid = start(0);
  now += milliseconds(10);
  ProcessTable::Exit exit = table.on_exit(pid, false, false, now);
  ASSERT_EQ(exit.respawn_after, milliseconds(250));
  EXPECT_TRUE(table.due_for_respawn(now).empty());
  ASSERT_TRUE(table.next_respawn().has_value());
  EXPECT_EQ(*table.next_respawn(), now + milliseconds(250));
  EXPECT_EQ(table.due_for_respawn(now + milliseconds(250)), std::vector<int>{0});
}

TEST_F(ProcessTableTest, FatalExitIsNeverRestarted) {
  pid_t first = start(0);
  start(1);
  ProcessTable::Exit exit = table.on_exit(first, true, false, now);
  EXPECT_EQ(exit.index, 0);
  EXPECT_FALSE(exit.respawn);
  EXPECT_EQ(table.slot(0).state, ProcessTable::State::kFatal);
  EXPECT_FALSE(table.next_respawn().has_value());
  EXPECT_FALSE(table.all_fatal());
  table.on_exit(table.slot(1).pid, true, false, now);
  EXPECT_TRUE(table.all_fatal());
}

TEST_F(ProcessTableTest, NothingRestartsDuringShutdown) {
  pid_t pid = start(0);
  start(1);
  ProcessTable::Exit exit = table.on_exit(pid, false, true, now);
  EXPECT_FALSE(exit.respawn);
  EXPECT_FALSE(table.next_respawn().has_value());
  EXPECT_EQ(table.running_pids(), std::vector<pid_t>{table.slot(1).pid});
  EXPECT_TRUE(table.any_running());
}

TEST_F(ProcessTableTest, UnknownPidIsNotAWorker) {
  start(0);
  EXPECT_EQ(table.on_exit(4242, false, false, now).index, -1);
  EXPECT_EQ(table.running_pids().size(), 1u);
}

TEST_F(ProcessTableTest, FailedForkIsRetriedWithBackOff) {
  table.on_spawn_failed(0, now);
  EXPECT_EQ(table.due_for_respawn(now), std::vector<int>{0});
  table.on_spawn_failed(0, now);
  EXPECT_TRUE(table.due_for_respawn(now).empty());
  EXPECT_EQ(table.due_for_respawn(now + milliseconds(250)), std::vector<int>{0});
}

}  // namespace
}  // namespace sigver
