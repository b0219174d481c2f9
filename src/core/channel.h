#pragma once
// Messages with file descriptors between processes over SOCK_SEQPACKET sockets (each worker's
// queue). One message = a type byte, a payload, and up to kMaxFds descriptors (SCM_RIGHTS).
// Receiving never leaks a descriptor: every fd that arrived is owned by the result, also
// when the message is rejected.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/unique_fd.h"

namespace sigver {

enum class ChannelType : uint8_t {
  kHandoff = 'H',      // worker -> owner: a client socket + the bytes read from it
  kListeners = 'L',    // master -> worker: replace the plain listening sockets
  kResize = 'R',       // master -> worker: new worker count + every queue's send end
  kMigrate = 'G',      // worker -> new owner: one peer of a group that moves, with its state
  kTlsMaterial = 'T',  // master -> worker: new certificate, key and TLS settings (HUP)
  kTicketKeys = 'K',   // master -> worker: session ticket keys (rotation, HUP)
  // A binary upgrade (core/handover.h):
  kHello = 'h',       // new master -> old master: its version, its queues' send ends
  kUpgrade = 'U',     // old master -> old worker: move every group to the new workers
  kCommit = 'C',      // old master -> new master, and each master -> its workers: done
  kRollback = 'B',    // old master -> old worker: the new master failed, serve as before
  kUpgradeEnd = 'E',  // old worker -> new worker, on a rollback: nothing more comes from me
};

inline constexpr size_t kChannelMaxFds = 128;

// Sends one message without blocking. Returns 0, or the errno (EAGAIN when the queue is
// full: nothing was sent).
int channel_send(int socket, ChannelType type, std::string_view payload, const int* fds,
                 size_t fd_count);
// Two-part payload (header + body) without copying them together.
int channel_send(int socket, ChannelType type, std::string_view head, std::string_view body,
                 const int* fds, size_t fd_count);

struct ChannelMessage {
  ChannelType type{};
  std::string_view payload;   // into the caller's buffer
  std::vector<UniqueFd> fds;  // every descriptor that came with it
};

enum class ChannelResult { kMessage, kEmpty, kClosed, kMalformed, kError };

// Receives one message into `buffer` (which must hold the largest message). kClosed: every
// sender's end is closed (a message is never empty, so an empty read is the end).
// kMalformed: a truncated message or control data; its fds are closed.
ChannelResult channel_receive(int socket, char* buffer, size_t capacity, ChannelMessage& out);

}  // namespace sigver
