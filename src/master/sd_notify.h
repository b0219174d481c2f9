#pragma once
// The systemd readiness protocol (sd_notify(3)) without libsystemd: one datagram of
// "KEY=value" lines to the socket systemd names in $NOTIFY_SOCKET. A unit of Type=notify
// waits for "READY=1"; after a binary upgrade the new master sends "MAINPID=<pid>\nREADY=1"
// so that systemd follows it (which needs NotifyAccess=all: it is not the main pid yet).
#include <string>
#include <string_view>

namespace sigver {

// Sends `state` as one datagram to $NOTIFY_SOCKET: a file system path, or a name in the
// abstract namespace when it starts with '@'. Returns true without doing anything when the
// variable is unset or empty (not started by systemd, or by a unit that expects nothing).
// Never blocks. Returns false with an error naming the socket on failure; the caller logs it
// and goes on, since serving matters more than telling systemd. The variable is left set:
// a new master started by a binary upgrade inherits it and must be able to notify too.
bool sd_notify_send(std::string_view state, std::string& error);

}  // namespace sigver
