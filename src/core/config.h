#pragma once
// The server's settings: defaults, loading from an INI file (inih), validation. Errors name
// the file, the line and the setting. Exceptions are not used; functions return an error.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sigver {

struct ListenAddress {
  std::string host = "0.0.0.0";  // IPv4 dotted quad, IPv6 literal (without brackets), or name
  uint16_t port = 8000;

  bool operator==(const ListenAddress&) const = default;
};

struct Config {
  // [server]
  ListenAddress listen;                     // listen = host:port ([v6]:port)
  std::optional<ListenAddress> listen_tls;  // listen_tls: wss:// listener, optional
  // HTTP status listener (/metrics, /health) served by the master; empty = off. Never the
  // public port.
  std::optional<ListenAddress> status_listen;
  // Not a file setting: the `sigver` command line with --key/--cert makes its one `listen`
  // address speak TLS (wss://) instead of plain ws://.
  bool listen_speaks_tls = false;
  int worker_processes = 1;  // number, or "auto" = number of CPUs
  std::string pid;           // pid file path ("" = none)
  std::string user;          // drop privileges of workers to this user ("" = keep)
  std::string group;         // and group
  bool daemon = false;       // daemon = on|off
  // Origins a browser page may connect from: exact origins ("https://example.org") and
  // wildcards ("*.example.org", "https://*.example.org"); empty = any origin.
  std::vector<std::string> allowed_origins;
  // [protocol]
  double heartbeat_interval = 5.0;      // seconds, decimals allowed, > 0
  int heartbeat_misses = 3;             // >= 1
  uint32_t max_key_length = 512;        // >= 1
  uint64_t max_message_size = 1 << 20;  // bytes, k/m suffixes
  double handshake_timeout = 10.0;      // seconds
  uint64_t max_outbound = 4 << 20;      // bytes per peer, k/m suffixes
  uint32_t max_header_size = 8192;      // bytes of the HTTP upgrade request
  double close_timeout = 2.0;           // seconds to wait for the peer's close frame
  // Sigver generations served ("1 2", "1" or "2"): protocol.md and protocol-v2.md.
  bool generation1 = true;
  bool generation2 = true;
  // With both: a client silent this long after its upgrade is generation 1. The wait is a
  // few of its round-trip times, within [min, max] seconds (protocol-v2.md).
  double detect_timeout_min = 0.1;
  double detect_timeout_max = 1.0;
  // [limits] (per worker unless said otherwise; 0 = off where allowed)
  uint64_t max_outbound_total = 256 << 20;  // queued output of all peers of one worker
  uint64_t max_inbound_total = 256 << 20;   // partial requests and frames of one worker
  uint32_t max_connections = 0;             // 0 = derived from the open-file limit ("auto")
  uint32_t max_connections_per_ip = 256;    // across all workers; IPv6 per /64; 0 = off
  uint32_t max_pending_handshakes = 1024;   // connections not yet upgraded
  uint32_t max_peers_per_key = 1024;        // members and joiners of one group
  double max_messages_per_second = 200;     // per peer, sustained; 0 = off
  uint32_t messages_burst = 400;            // per peer, messages above the rate at once
  // [tls]
  std::string tls_certificate;
  std::string tls_certificate_key;
  std::string tls_ca;
  std::string tls_protocols = "TLSv1.2 TLSv1.3";  // any of TLSv1.2 TLSv1.3, space separated
  std::string tls_ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20";  // TLS 1.2, OpenSSL cipher list
  std::string tls_ciphersuites =                            // TLS 1.3, OpenSSL ciphersuites list
      "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
  bool tls_session_tickets = true;              // session_tickets: resumption by ticket
  uint32_t tls_session_ticket_lifetime = 3600;  // seconds; also the ticket key rotation period
  // [log]
  std::string error_log = "stderr";      // path, or "stderr"
  std::string log_level = "info";        // debug | info | notice | warn | error
  std::string access_log;                // one line per ended connection; "" = off
  std::string access_log_keys = "hash";  // hash | full | off: how keys appear there

  std::string source;  // the file it was loaded from ("" = built-in defaults)

  // Every field, so that a setting added later is compared too (tests, fuzzing).
  bool operator==(const Config&) const = default;
};

// Loads `path` over the defaults in `config`. On failure returns false and sets `error` to
// "FILE:LINE: message naming the setting" (or "FILE: cannot open: reason").
bool load_config_file(const std::string& path, Config& config, std::string& error);
// Same for INI text held in memory (`name` is used in messages in place of a file name).
bool load_config_string(const std::string& text, const std::string& name, Config& config,
                        std::string& error);

// Value parsers shared by the file and the command line. Return false on a bad value.
bool parse_listen(const std::string& value, ListenAddress& out);
bool parse_size(const std::string& value, uint64_t& out);   // "4096", "64k", "1m", "1g"
bool parse_seconds(const std::string& value, double& out);  // "5", "0.25"
bool parse_bool(const std::string& value, bool& out);       // on/off, true/false, yes/no, 1/0
// "TLSv1.2 TLSv1.3", "TLSv1.3", ...: at least one, no repeats, nothing older than TLS 1.2.
struct TlsProtocols {
  bool tls1_2 = false;
  bool tls1_3 = false;
};
bool parse_tls_protocols(const std::string& value, TlsProtocols& out);

// Cross-setting checks after everything was loaded and overridden (e.g. TLS files given
// without a certificate). Returns false with a message.
bool validate_config(const Config& config, std::string& error);

// (section, name) of every setting a file may hold, in table order. A test checks the
// documentation (conf/sigver.conf, sigver.conf(5)) against it.
std::vector<std::pair<std::string, std::string>> setting_names();

}  // namespace sigver
