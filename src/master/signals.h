#pragma once
// Signals as events: the master blocks the signals it handles and reads them from a
// signalfd, so nothing runs inside a signal handler. Forked workers inherit the blocked
// mask and build their own signalfd from it.
#include <signal.h>

#include <string>

#include "core/unique_fd.h"

namespace sigver {

// HUP, QUIT, TERM, INT, USR1 and CHLD.
sigset_t master_signal_set();

// Blocks `set` for the calling process; remembers the previous mask in `previous`.
bool block_signals(const sigset_t& set, sigset_t& previous, std::string& error);

// A non-blocking, close-on-exec signalfd for `set`.
UniqueFd open_signalfd(const sigset_t& set, std::string& error);

// Reads one signal number; 0 when none is pending.
int read_signal(int signal_fd);

// "SIGHUP", or "signal 42" for numbers without a name.
std::string signal_name(int signo);

}  // namespace sigver
