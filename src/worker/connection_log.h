#pragma once
// Error-log lines about one connection: the message, then the connection's number in its
// worker and the client's address, as nginx writes them:
//   2026/12/02 09:00:00 [info] 1234#0: rejected upgrade request: ..., *17 client: 10.0.0.5:53211
// The address is looked up only when a line is written (lines about connections are rare
// next to the connections themselves), so a connection keeps no copy of it.
#include "core/log.h"
#include "worker/connection.h"

namespace sigver {

void log_connection(log::Level level, const Connection& c, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

}  // namespace sigver

#define SIGVER_CONN_LOG(lvl, conn, ...)                                         \
  do {                                                                          \
    if (::sigver::log::Level::lvl >= ::sigver::log::level())                    \
      ::sigver::log_connection(::sigver::log::Level::lvl, (conn), __VA_ARGS__); \
  } while (0)
#define CONN_DEBUG(conn, ...) SIGVER_CONN_LOG(kDebug, conn, __VA_ARGS__)
#define CONN_INFO(conn, ...) SIGVER_CONN_LOG(kInfo, conn, __VA_ARGS__)
#define CONN_WARN(conn, ...) SIGVER_CONN_LOG(kWarn, conn, __VA_ARGS__)
#define CONN_ERROR(conn, ...) SIGVER_CONN_LOG(kError, conn, __VA_ARGS__)
