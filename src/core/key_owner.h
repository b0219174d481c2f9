#pragma once
// Which worker owns a group key. Jump consistent hashing (Lamping & Veach, 2014): no table
// to build or share between processes, an even spread, and when the worker count goes from
// n to n+1 only 1/(n+1) of the keys move (all to the new worker), which keeps the groups
// that must migrate on a resize to the minimum. Workers are numbered 0..n-1, which is
// exactly the bucket space jump hashing needs.
#include <cstdint>
#include <string_view>

namespace sigver {

// 64-bit FNV-1a followed by a finalizer, so similar keys land far apart.
inline uint64_t hash_key(std::string_view key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

inline int jump_hash(uint64_t key, int buckets) {
  int64_t b = -1, j = 0;
  while (j < buckets) {
    b = j;
    key = key * 2862933555777941757ull + 1;
    j = static_cast<int64_t>(static_cast<double>(b + 1) * (static_cast<double>(1ll << 31) /
                                                           static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<int>(b);
}

inline int key_owner(std::string_view key, int workers) {
  return workers <= 1 ? 0 : jump_hash(hash_key(key), workers);
}

}  // namespace sigver
