// Alone in its file: the test build `sigverd-next-handover` links another definition in
// its place, to prove that masters of different versions fall back to a drain.
#include "core/handover.h"

namespace sigver {

extern const uint32_t kHandoverVersion = 1;

}  // namespace sigver
