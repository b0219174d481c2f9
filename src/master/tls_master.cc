#include "master/tls_master.h"

#include <cstring>

#include "core/channel.h"
#include "core/log.h"
#include "core/tls_context.h"
#include "core/worker_stats.h"
#include "master/listeners.h"

namespace sigver {

bool load_tls_material(const Config& config, TlsMaterial& out, std::string& error) {
  TlsMaterial material;
  TlsContextInfo info;
  if (!check_tls_files(config, material, error, &info)) return false;
  for (const std::string& warning : info.warnings) LOG_WARN("%s", warning.c_str());
  LOG_INFO("TLS certificate %s: %s, valid until %s, %d intermediate%s",
           material.certificate_file.c_str(), info.subject.c_str(), info.not_after.c_str(),
           info.chain_length, info.chain_length == 1 ? "" : "s");
  out = std::move(material);
  return true;
}

void send_tls_material(const std::vector<HandoffQueue>& queues, int count,
                       const TlsMaterial& material) {
  const std::string encoded = encode_tls_material(material);
  for (int i = 0; i < count && i < static_cast<int>(queues.size()); ++i) {
    const int queue = queues[static_cast<size_t>(i)].outbox.get();
    if (int err = channel_send(queue, ChannelType::kTlsMaterial, encoded, nullptr, 0)) {
      LOG_ERROR(
          "cannot pass the new TLS certificate to worker %d: %s; it keeps the old one "
          "until it is restarted",
          i, std::strerror(err));
    }
  }
}

void update_ticket_keys(const Config& config, TicketKeyRing& ring, bool rotate,
                        TlsMaterial& material) {
  ring.configure(config.tls_session_tickets, config.tls_session_ticket_lifetime);
  if (rotate && !ring.rotate(monotonic_ms())) {
    LOG_ERROR("cannot make a session ticket key (RAND_bytes failed): %s; keeping the old keys",
              take_openssl_error().c_str());
  }
  material.tickets = encode_ticket_keys(ring.keys());
}

void send_ticket_keys(const std::vector<HandoffQueue>& queues, int count,
                      const TlsMaterial& material) {
  for (int i = 0; i < count && i < static_cast<int>(queues.size()); ++i) {
    const int queue = queues[static_cast<size_t>(i)].outbox.get();
    if (int err = channel_send(queue, ChannelType::kTicketKeys, material.tickets, nullptr, 0)) {
      LOG_ERROR(
          "cannot pass new session ticket keys to worker %d: %s; its tickets resume on it "
          "alone until the next rotation",
          i, std::strerror(err));
    }
  }
}

std::string describe_listen_addresses(const Config& config) {
  const std::string listen = format_listen_address(config.listen);
  if (config.listen_speaks_tls) return listen + " (TLS)";
  if (!config.listen_tls) return listen;
  return listen + ", TLS on " + format_listen_address(*config.listen_tls);
}

}  // namespace sigver
