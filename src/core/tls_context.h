#pragma once
// OpenSSL server contexts built from TlsMaterial, with errors that name the file at fault.
// A connection's SSL object holds its own reference to the SSL_CTX it was made from, so
// replacing a context (HUP) leaves existing connections on the old certificate.
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <vector>

#include "core/tls_material.h"

namespace sigver {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

struct TlsContextInfo {
  std::string subject;                // of the server certificate, e.g. "CN = example.org"
  std::string not_after;              // e.g. "Jan  2 03:04:05 2027 GMT"
  int chain_length = 0;               // intermediate certificates sent along with it
  std::vector<std::string> warnings;  // usable, but probably not what was meant
};

// Builds a server context: certificate + chain + ca sent to clients, key checked against
// the certificate, protocols and ciphers applied, no session cache, and no session tickets
// until a TicketKeyTable (tls_tickets.h) applies the keys every worker shares. Returns
// nullptr with `error` on failure.
SslCtxPtr create_tls_context(const TlsMaterial& material, std::string& error,
                             TlsContextInfo* info = nullptr);

// Reads the files named by `config` and builds a context from them, to check them (start-up,
// `sigverd -t`, HUP in the master). False with an error message.
bool check_tls_files(const Config& config, TlsMaterial& material, std::string& error,
                     TlsContextInfo* info = nullptr);

// Empties this thread's OpenSSL error queue and returns its first reason ("" if none).
// OpenSSL requires an empty queue before each I/O call for SSL_get_error to be reliable.
std::string take_openssl_error();

}  // namespace sigver
