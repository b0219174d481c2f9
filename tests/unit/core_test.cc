// Buffer and DeadlineQueue: the two data structures every connection uses.
#include <gtest/gtest.h>

#include <string>

#include "core/buffer.h"
#include "core/deadline_queue.h"

namespace sigver {
namespace {

TEST(Buffer, EmptyBufferOwnsNoMemory) {
  Buffer b;
  EXPECT_EQ(b.capacity(), 0u);
  b.append("hello", 5);
  EXPECT_GT(b.capacity(), 0u);
  EXPECT_EQ(b.view(), "hello");
  b.consume(5);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), 0u) << "a drained buffer must free its memory";
}

TEST(Buffer, PartialConsumeKeepsOrderAcrossGrowth) {
  Buffer b;
  std::string expect;
  for (int i = 0; i < 1000; ++i) {
    std::string chunk = std::to_string(i) + ",";
    b.append(chunk);
    expect += chunk;
    if (i % 3 == 0) {
      b.consume(2);
      expect.erase(0, 2);
    }
  }
  EXPECT_EQ(b.view(), expect);
}

TEST(Buffer, PrepareCommit) {
  Buffer b;
  char* p = b.prepare(3);
  p[0] = 'a';
  p[1] = 'b';
  b.commit(2);
  EXPECT_EQ(b.view(), "ab");
  b.release();
  EXPECT_TRUE(b.empty());
}

struct Item : DeadlineNode {
  int id = 0;
};

TEST(DeadlineQueue, ExpiresInOrderAndCancels) {
  DeadlineQueue q;
  Item a, b, c;
  a.id = 1;
  b.id = 2;
  c.id = 3;
  q.push(a, 100);
  q.push(b, 200);
  q.push(c, 300);
  EXPECT_EQ(q.pop_expired(99), nullptr);
  DeadlineQueue::remove(b);
  EXPECT_FALSE(b.linked());
  EXPECT_EQ(static_cast<Item*>(q.pop_expired(1000))->id, 1);
  EXPECT_EQ(static_cast<Item*>(q.pop_expired(1000))->id, 3);
  EXPECT_EQ(q.pop_expired(1000), nullptr);
  EXPECT_TRUE(q.empty());
}

TEST(DeadlineQueue, PushMovesBetweenQueues) {
  DeadlineQueue q1, q2;
  Item a;
  q1.push(a, 10);
  q2.push(a, 20);
  EXPECT_TRUE(q1.empty());
  EXPECT_EQ(q2.front(), &a);
  EXPECT_EQ(a.deadline_ms, 20u);
  q2.push(a, 30);  // re-arm in the same queue
  EXPECT_EQ(q2.pop_expired(30), &a);
  EXPECT_TRUE(q2.empty());
}

TEST(DeadlineQueue, ClampBringsLaterDeadlinesForwardInOrder) {
  DeadlineQueue q;
  Item a, b, c;
  q.push(a, 100);
  q.push(b, 5000);
  q.push(c, 9000);
  q.clamp(300);
  EXPECT_EQ(a.deadline_ms, 100u);
  EXPECT_EQ(b.deadline_ms, 300u);
  EXPECT_EQ(c.deadline_ms, 300u);
  EXPECT_EQ(q.pop_expired(300), &a);
  EXPECT_EQ(q.pop_expired(300), &b);
  EXPECT_EQ(q.pop_expired(300), &c);
}

}  // namespace
}  // namespace sigver
