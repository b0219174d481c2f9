#pragma once
// Applying a reloaded configuration in the master. `listen` and `worker_processes` change
// live (master.cc); the other settings that shape the processes (listen_tls, pid, user,
// group, daemon) need a restart: the new file's values are replaced by the running ones,
// with a warning each.
#include <string>
#include <vector>

#include "core/config.h"

namespace sigver {

// Copies the restart-only settings of `running` into `fresh`; returns one warning per
// setting that differed.
std::vector<std::string> keep_restart_only_settings(const Config& running, Config& fresh);

// Opens the log named by `config` (if it differs from the one in use) and sets its level.
// On failure nothing changed and `error` says why.
bool apply_log_settings(const Config& config, const std::string& current_path, std::string& error);

}  // namespace sigver
