// Linked into the test build `sigverd-next-handover` in place of
// src/core/handover_version.cc: a binary that speaks another handover version, so that an
// upgrade to it must drain instead of moving groups (tests/integration/upgrade_test.cc).
#include "core/handover.h"

namespace sigver {

extern const uint32_t kHandoverVersion = 1000;

}  // namespace sigver
