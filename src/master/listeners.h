#pragma once
// The listening sockets: one per worker, all bound to the same address with SO_REUSEPORT so
// the kernel spreads new connections over the workers. The master owns them for its whole
// life, so a respawned worker gets its socket (and its accept backlog) back intact.
#include <string>
#include <vector>

#include "core/config.h"
#include "core/unique_fd.h"

namespace sigver {

// "127.0.0.1:8000" or "[::1]:8000".
std::string format_listen_address(const ListenAddress& address);

// Opens `count` non-blocking listening sockets on `address` (IPv4/IPv6 literal or host name).
// Port 0 picks a free port once and binds every socket to it; `bound_port` reports it.
// On failure returns false with an error naming the address and the errno text.
bool open_listeners(const ListenAddress& address, int count, std::vector<UniqueFd>& out,
                    uint16_t& bound_port, std::string& error);

// Makes the kernel choose among the first `count` sockets of the SO_REUSEPORT group that
// `sockets` belong to (a classic BPF program on the group), so that sockets beyond it (those
// of workers a smaller count retires) get no new connections and can be emptied before they
// close: closing a listener resets whatever is still queued on it. Sockets are numbered in
// the order they joined the group, which is the workers' order: the group only grows and
// shrinks at its end. False with `error` if the kernel refused the program.
bool steer_new_connections(const std::vector<UniqueFd>& sockets, int count, std::string& error);

}  // namespace sigver
