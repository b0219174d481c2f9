#pragma once
// What a TLS context is built from: the PEM text of the certificate, key and intermediate
// files plus the protocol and cipher settings. The master reads the files (it may be the
// only process allowed to read the key) and workers build their contexts from this copy,
// at fork and again after each HUP (sent over a channel), so every worker serves exactly
// the certificate the master checked, even while the files are being replaced.
#include <string>
#include <string_view>

#include "core/config.h"

namespace sigver {

struct TlsMaterial {
  std::string certificate_file;  // file names, for messages
  std::string key_file;
  std::string ca_file;          // "" = no intermediate file
  std::string certificate_pem;  // the certificate, optionally followed by its chain
  std::string key_pem;
  std::string ca_pem;
  std::string protocols;
  std::string ciphers;
  std::string ciphersuites;
  // Session ticket settings and keys (encode_ticket_keys, tls_tickets.h), made by the
  // master; "" = no tickets. Later versions also arrive alone as kTicketKeys messages.
  std::string tickets;

  bool empty() const { return certificate_pem.empty(); }
};

// The files together must stay below this, so that the material fits in one message of a
// worker's queue (see kQueueMessageMax); real chains are a few KiB.
inline constexpr size_t kMaxTlsMaterialBytes = 128 * 1024;

// True when `config` has a TLS listener (listen_tls, or `listen` itself for `sigver`).
bool tls_enabled(const Config& config);

// Reads the files named by `config`. On failure returns false with an error naming the
// setting and the file.
bool read_tls_material(const Config& config, TlsMaterial& out, std::string& error);

// A self-delimiting byte form for the master -> worker channel.
std::string encode_tls_material(const TlsMaterial& material);
bool decode_tls_material(std::string_view bytes, TlsMaterial& out);

}  // namespace sigver
