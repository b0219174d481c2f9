#pragma once
// Timers that all share one duration (handshake timeout, close timeout, heartbeat period):
// appending now+duration keeps the list sorted by deadline, so arming and cancelling are
// O(1) and expiry only ever looks at the head. Intrusive: a node lives inside its owner and
// sits in at most one queue at a time.
#include <cstdint>

namespace sigver {

struct DeadlineNode {
  DeadlineNode* prev = nullptr;
  DeadlineNode* next = nullptr;
  uint64_t deadline_ms = 0;
  bool linked() const { return prev != nullptr; }
};

class DeadlineQueue {
 public:
  DeadlineQueue() { head_.prev = head_.next = &head_; }
  DeadlineQueue(const DeadlineQueue&) = delete;
  DeadlineQueue& operator=(const DeadlineQueue&) = delete;

  // Appends `node` (removing it from any queue first) to expire at `deadline_ms`. Callers
  // pass now + the queue's duration, which keeps the order; a smaller deadline than the
  // tail's only delays its expiry to the tail's.
  void push(DeadlineNode& node, uint64_t deadline_ms) {
    remove(node);
    node.deadline_ms = deadline_ms;
    node.prev = head_.prev;
    node.next = &head_;
    head_.prev->next = &node;
    head_.prev = &node;
  }
  // Inserts `node` in deadline order, searching from the tail: for timers whose durations
  // differ a little (a few round trips), so the search stops after a few nodes.
  void insert(DeadlineNode& node, uint64_t deadline_ms) {
    remove(node);
    node.deadline_ms = deadline_ms;
    DeadlineNode* after = head_.prev;
    while (after != &head_ && after->deadline_ms > deadline_ms) after = after->prev;
    node.prev = after;
    node.next = after->next;
    after->next->prev = &node;
    after->next = &node;
  }
  static void remove(DeadlineNode& node) {
    if (!node.linked()) return;
    node.prev->next = node.next;
    node.next->prev = node.prev;
    node.prev = node.next = nullptr;
  }
  // Brings every deadline forward to at most `latest` (a shorter duration after a reload).
  // Taking the minimum with one value keeps the list sorted.
  void clamp(uint64_t latest) {
    for (DeadlineNode* n = head_.next; n != &head_; n = n->next) {
      if (n->deadline_ms > latest) n->deadline_ms = latest;
    }
  }
  bool empty() const { return head_.next == &head_; }
  // The earliest node, or nullptr.
  DeadlineNode* front() { return empty() ? nullptr : head_.next; }
  // Removes and returns the front node if it has expired at `now_ms`, else nullptr.
  DeadlineNode* pop_expired(uint64_t now_ms) {
    DeadlineNode* node = front();
    if (!node || node->deadline_ms > now_ms) return nullptr;
    remove(*node);
    return node;
  }

 private:
  DeadlineNode head_;
};

}  // namespace sigver
