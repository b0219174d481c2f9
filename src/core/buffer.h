#pragma once
// A byte queue for one connection's pending input or output. It owns no memory while empty
// (idle peers cost no buffer), grows geometrically while in use and compacts lazily.
// Sizes are 32-bit to keep it at 24 bytes (three of these sit in every connection): what
// one connection may hold is bounded far below 4 GiB by the configured limits.
//
// A buffer may be charged to an account: the process keeps the sum of the capacities of
// every buffer of that account, so the worker knows exactly how much heap all queued
// output (or all partial input) takes without walking its connections, and can bound it.
// The account lives in the padding of the struct, so it costs nothing per buffer.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

namespace sigver {

class Buffer {
 public:
  enum class Account : uint8_t { kNone, kInbound, kOutbound, kCount };
  // Bytes held by every buffer of `account` in this process.
  static size_t total(Account account) { return totals_[static_cast<size_t>(account)]; }

  Buffer() = default;
  explicit Buffer(Account account) : account_(account) {}
  ~Buffer() { release(); }
  Buffer(Buffer&& other) noexcept { take(other); }
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  char* data() { return mem_.get() + head_; }
  const char* data() const { return mem_.get() + head_; }
  size_t size() const { return size_t{tail_} - head_; }
  bool empty() const { return head_ == tail_; }
  size_t capacity() const { return cap_; }
  std::string_view view() const { return {data(), size()}; }

  // Returns room for at least `n` more bytes at the tail; commit() what was written.
  char* prepare(size_t n) {
    if (size_t{cap_} - tail_ < n) grow(n);
    return mem_.get() + tail_;
  }
  void commit(size_t n) { tail_ += static_cast<uint32_t>(n); }
  void append(const void* p, size_t n) {
    if (n == 0) return;
    std::memcpy(prepare(n), p, n);
    commit(n);
  }
  void append(std::string_view s) { append(s.data(), s.size()); }

  // Drops `n` bytes from the head; frees the memory once everything was consumed.
  void consume(size_t n) {
    head_ += static_cast<uint32_t>(n);
    if (head_ >= tail_) release();
  }
  void release() {
    totals_[static_cast<size_t>(account_)] -= cap_;
    mem_.reset();
    cap_ = head_ = tail_ = 0;
  }
  // Keeps the first `n` bytes and frees the rest of the memory (copying them to a buffer of
  // their exact size): for a connection that is being closed with a large queue.
  void truncate(size_t n);

 private:
  void grow(size_t n);
  // Move: the bytes and the account go with the memory.
  void take(Buffer& other) {
    mem_ = std::move(other.mem_);
    cap_ = std::exchange(other.cap_, 0);
    head_ = std::exchange(other.head_, 0);
    tail_ = std::exchange(other.tail_, 0);
    account_ = other.account_;
  }

  static inline size_t totals_[static_cast<size_t>(Account::kCount)] = {};

  std::unique_ptr<char[]> mem_;
  uint32_t cap_ = 0;
  uint32_t head_ = 0;
  uint32_t tail_ = 0;
  Account account_ = Account::kNone;
};

}  // namespace sigver
