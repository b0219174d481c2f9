#pragma once
#include "core/worker_setup.h"

namespace sigver {

// Entry point of a worker process (a WorkerMain): runs its event loop until told to stop.
int run_worker(WorkerSetup& setup);

}  // namespace sigver
