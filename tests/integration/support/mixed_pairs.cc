#include "support/mixed_pairs.h"

#include "support/harness.h"

namespace sigver::itest {
namespace {

// Not text: bytes that a relay must carry as they are.
std::string Numbered(const char* stream, uint32_t seq) {
  std::string data = std::string(stream) + "#" + std::to_string(seq) + ":";
  for (uint32_t i = 0; i < 16; ++i) data.push_back(static_cast<char>((seq * 37 + i * 11) & 0xFF));
  return data;
}

}  // namespace

::testing::AssertionResult SendNumbered(MixedPairs& p, uint32_t count) {
  for (uint32_t n = 0; n < count; ++n, ++p.sent) {
    const bool sent = p.j1.send_content(0, Numbered("1u", p.sent)) &&
                      p.m1.send_content(p.id1, Numbered("1d", p.sent)) &&
                      p.j2.send_content(2, 0, Numbered("2u", p.sent)) &&
                      p.m2.send_content(0, p.id2, Numbered("2d", p.sent));
    if (!sent) return ::testing::AssertionFailure() << p.key << ": send " << p.sent << " failed";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ReceiveNumbered(MixedPairs& p) {
  for (; p.received < p.sent; ++p.received) {
    const uint32_t n = p.received;
    for (auto ok : {IsContent(p.m1.receive(), p.id1, Numbered("1u", n)),
                    IsContent(p.j1.receive(), 0, Numbered("1d", n)),
                    IsContent2(p.m2.receive(), p.id2, 0, Numbered("2u", n)),
                    IsContent2(p.j2.receive(), 0, p.id2, Numbered("2d", n))}) {
      if (!ok) return ::testing::AssertionFailure() << p.key << " #" << n << ": " << ok.message();
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult NothingMore(MixedPairs& p) {
  for (auto ok : {ReceivedNothing(p.m1.sync()), ReceivedNothing(p.j1.sync()),
                  ReceivedNothing(p.m2.sync()), ReceivedNothing(p.j2.sync())}) {
    if (!ok) return ::testing::AssertionFailure() << p.key << ": " << ok.message();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace sigver::itest
