#pragma once
// A byte queue for one connection's pending input or output. It owns no memory while empty
// (idle peers cost no buffer), grows geometrically while in use and compacts lazily.
// Sizes are 32-bit to keep it at 24 bytes (three of these sit in every connection): what
// one connection may hold is bounded far below 4 GiB by the configured limits.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace sigver {

class Buffer {
 public:
  Buffer() = default;
  Buffer(Buffer&&) noexcept = default;
  Buffer& operator=(Buffer&&) noexcept = default;
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
    mem_.reset();
    cap_ = head_ = tail_ = 0;
  }

 private:
  void grow(size_t n);

  std::unique_ptr<char[]> mem_;
  uint32_t cap_ = 0;
  uint32_t head_ = 0;
  uint32_t tail_ = 0;
};

}  // namespace sigver
