#pragma once
// The master's part of TLS: it reads and checks the certificate files (at start-up, so a bad
// certificate or a key of another certificate fails `sigverd` with exit code 1, and on HUP),
// and passes what it read to the workers, which may lack the rights to read the key file.
#include <string>
#include <vector>

#include "core/config.h"
#include "core/tls_material.h"
#include "core/tls_tickets.h"
#include "master/handoff_queues.h"

namespace sigver {

// Reads the files named by `config` and builds a context from them to check them; logs the
// warnings (expired certificate, chain in the wrong order). False with an error message.
bool load_tls_material(const Config& config, TlsMaterial& out, std::string& error);

// Sends `material` to workers 0..count-1 on their queues; a worker whose queue is full keeps
// its certificate until it is restarted (logged).
void send_tls_material(const std::vector<HandoffQueue>& queues, int count,
                       const TlsMaterial& material);

// Session tickets ([tls] session_tickets, session_ticket_lifetime) for `material` and the
// workers: applies the settings to `ring`, rotates its keys when `rotate` (start-up, HUP, the
// schedule) and stores the result in `material.tickets`, which new and respawned workers
// get at fork. Logs a failure to make a key (the old keys stay).
void update_ticket_keys(const Config& config, TicketKeyRing& ring, bool rotate,
                        TlsMaterial& material);
// Sends `material.tickets` alone to workers 0..count-1 (a scheduled rotation, or a HUP whose
// certificate could not be reloaded).
void send_ticket_keys(const std::vector<HandoffQueue>& queues, int count,
                      const TlsMaterial& material);

// "0.0.0.0:8000, TLS on 0.0.0.0:8443", for the start-up log line.
std::string describe_listen_addresses(const Config& config);

}  // namespace sigver
