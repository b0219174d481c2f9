#pragma once
// TLS session tickets shared by every worker. A browser's next connection may be accepted by
// any worker, so the keys that seal tickets cannot be each worker's own (OpenSSL's default):
// the master makes them (RAND_bytes, memory only, never a file), rotates them every ticket
// lifetime and on HUP, and sends the set to every worker. A worker seals new tickets with
// the newest key and opens tickets sealed with any key it still holds; a ticket it cannot
// open (an unknown or forgotten key) just means a full handshake.
//
// Why a retired key stays for one lifetime: a ticket sealed just before a rotation is valid
// for a whole lifetime after it was issued, and OpenSSL itself refuses tickets older than
// the lifetime, so keys need to live no longer than that.
#include <openssl/ssl.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sigver {

struct TicketKey {
  std::array<unsigned char, 16> name{};  // sent in the clear inside each ticket
  std::array<unsigned char, 32> aes{};   // AES-256-CBC
  std::array<unsigned char, 32> hmac{};  // HMAC-SHA256
};

// What a worker needs: the settings and the keys, newest (the one that seals) first.
struct TicketKeySet {
  bool enabled = false;
  uint32_t lifetime_s = 3600;
  std::vector<TicketKey> keys;
};

// A self-delimiting byte form for the master -> worker channel (and TlsMaterial).
std::string encode_ticket_keys(const TicketKeySet& set);
bool decode_ticket_keys(std::string_view bytes, TicketKeySet& out);

// The master's side: makes and retires keys.
class TicketKeyRing {
 public:
  // Keys kept at most: the sealing one and the retired ones still within their lifetime.
  // More HUPs within one lifetime than this forget the oldest (its tickets: full handshake).
  static constexpr size_t kMaxKeys = 4;

  // Settings from the configuration (start-up, HUP). Off forgets every key at once.
  void configure(bool enabled, uint32_t lifetime_s);
  // A new sealing key; the one it replaces still opens tickets for one lifetime, older
  // retired ones are forgotten once theirs is over. False if RAND_bytes failed (the keys
  // are then left as they were). Does nothing but forget when tickets are off.
  bool rotate(uint64_t now_ms);
  // The next scheduled rotation (UINT64_MAX when off or never rotated).
  uint64_t next_rotation_ms() const;
  bool due(uint64_t now_ms) const { return now_ms >= next_rotation_ms(); }
  const TicketKeySet& keys() const { return set_; }

 private:
  void forget_all();

  TicketKeySet set_;
  std::vector<uint64_t> retired_at_ms_;  // by key, as in set_.keys (0 = the sealing key)
  uint64_t rotated_at_ms_ = 0;
  bool rotated_ = false;
};

// The worker's side: the keys in force, and the OpenSSL ticket key callback that uses them.
// The SSL_CTXs it is applied to point at it, so it must outlive them (and their SSLs).
class TicketKeyTable {
 public:
  TicketKeyTable() = default;
  ~TicketKeyTable();
  TicketKeyTable(const TicketKeyTable&) = delete;
  TicketKeyTable& operator=(const TicketKeyTable&) = delete;

  void install(TicketKeySet set);
  // From the master's message; false (and nothing changed) when malformed.
  bool install(std::string_view encoded);
  // Turns tickets on in `ctx` with these keys and lifetime, or off. New connections see the
  // change; SSLs made before keep the settings they were made with.
  void apply(SSL_CTX* ctx);
  const TicketKeySet& keys() const { return set_; }

 private:
  static int callback(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                      EVP_MAC_CTX* mac, int encrypt);
  int seal(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac);
  int open(const unsigned char* name, const unsigned char* iv, EVP_CIPHER_CTX* cipher,
           EVP_MAC_CTX* mac);
  void wipe();

  TicketKeySet set_;
};

}  // namespace sigver
