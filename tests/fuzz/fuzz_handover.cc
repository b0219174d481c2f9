// libFuzzer target: the decoders of what two masters and their workers exchange on a binary
// upgrade (core/handover.h) on any bytes. The first byte picks the decoder. An environment
// variable that decodes must hold only what the new master may rely on (descriptor numbers
// >= 0, a ring size within the queues it names) and, from our version, encode to a text that
// decodes to the same; a hello or an upgrade message that decodes must encode back to itself
// (ours) or say another version.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/handover.h"
#include "fuzz_check.h"

namespace {

using namespace sigver;
using sigver::fuzz::require;

bool same(const HandoverEnv& a, const HandoverEnv& b) {
  return a.version == b.version && a.control == b.control && a.listeners == b.listeners &&
         a.tls_listeners == b.tls_listeners && a.status == b.status &&
         a.old_queues == b.old_queues && a.old_count == b.old_count && a.listen == b.listen &&
         a.listen_tls == b.listen_tls && a.status_listen == b.status_listen;
}

bool all_descriptors(const std::vector<int>& fds) {
  for (int fd : fds) {
    if (fd < 0) return false;
  }
  return true;
}

void check_env(std::string_view text) {
  const std::optional<HandoverEnv> env = decode_handover_env(text);
  if (!env) return;
  require(env->control >= 0, "a control descriptor below 0");
  require(env->status >= -1, "a status descriptor below -1");
  require(all_descriptors(env->listeners) && all_descriptors(env->tls_listeners) &&
              all_descriptors(env->old_queues),
          "a listener or queue descriptor below 0");
  if (!env->same_version()) {
    require(env->old_count == 0, "a ring size read from another version");
    return;
  }
  require(env->old_count >= 1 && static_cast<size_t>(env->old_count) <= env->old_queues.size(),
          "a ring size the queues do not cover");
  const std::optional<HandoverEnv> again = decode_handover_env(encode_handover_env(*env));
  require(again && same(*env, *again), "an environment that does not survive encoding");
}

void check_hello(std::string_view payload) {
  const std::optional<HandoverHello> hello = decode_hello(payload);
  if (!hello) return;
  if (hello->version != kHandoverVersion) return;  // only its version is read
  require(hello->workers >= 1, "a hello with no workers");
  require(encode_hello(*hello) == payload, "a hello that does not encode back to itself");
}

void check_upgrade(std::string_view payload) {
  const std::optional<uint32_t> count = decode_upgrade(payload);
  if (!count) return;
  require(*count >= 1, "an upgrade to no workers");
  require(encode_upgrade(*count) == payload, "an upgrade that does not encode back to itself");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      check_env(rest);
      break;
    case 1:
      check_hello(rest);
      break;
    default:
      check_upgrade(rest);
      break;
  }
  return 0;
}
