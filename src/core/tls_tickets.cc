#include "core/tls_tickets.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

namespace sigver {
namespace {

constexpr size_t kKeyBytes =
    sizeof(TicketKey::name) + sizeof(TicketKey::aes) + sizeof(TicketKey::hmac);
static_assert(sizeof(TicketKey) == kKeyBytes, "TicketKey is its three arrays, unpadded");

void put_u32(std::string& out, uint32_t value) {
  for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>(value >> shift));
}

void cleanse(std::vector<TicketKey>& keys) {
  if (!keys.empty()) OPENSSL_cleanse(keys.data(), keys.size() * sizeof(TicketKey));
  keys.clear();
}

}  // namespace

// enabled (1 byte), lifetime (4 bytes little-endian), key count (1 byte), then each key's
// name, AES and HMAC bytes.
std::string encode_ticket_keys(const TicketKeySet& set) {
  std::string out;
  out.push_back(set.enabled ? 1 : 0);
  put_u32(out, set.lifetime_s);
  out.push_back(static_cast<char>(set.keys.size()));
  for (const TicketKey& key : set.keys) {
    out.append(reinterpret_cast<const char*>(key.name.data()), key.name.size());
    out.append(reinterpret_cast<const char*>(key.aes.data()), key.aes.size());
    out.append(reinterpret_cast<const char*>(key.hmac.data()), key.hmac.size());
  }
  return out;
}

bool decode_ticket_keys(std::string_view bytes, TicketKeySet& out) {
  if (bytes.size() < 6) return false;
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  if (byte(0) > 1) return false;
  const bool enabled = byte(0) == 1;
  uint32_t lifetime = 0;
  for (size_t i = 0; i < 4; ++i) lifetime |= uint32_t{byte(1 + i)} << (8 * i);
  const size_t count = byte(5);
  bytes.remove_prefix(6);
  if (lifetime == 0 || count > TicketKeyRing::kMaxKeys || bytes.size() != count * kKeyBytes) {
    return false;
  }
  TicketKeySet set;
  set.enabled = enabled;
  set.lifetime_s = lifetime;
  set.keys.resize(count);
  for (TicketKey& key : set.keys) {
    std::memcpy(key.name.data(), bytes.data(), key.name.size());
    bytes.remove_prefix(key.name.size());
    std::memcpy(key.aes.data(), bytes.data(), key.aes.size());
    bytes.remove_prefix(key.aes.size());
    std::memcpy(key.hmac.data(), bytes.data(), key.hmac.size());
    bytes.remove_prefix(key.hmac.size());
  }
  cleanse(out.keys);
  out = std::move(set);
  return true;
}

// ---- the master's ring ----

void TicketKeyRing::configure(bool enabled, uint32_t lifetime_s) {
  set_.enabled = enabled;
  set_.lifetime_s = std::max<uint32_t>(lifetime_s, 1);
  if (!enabled) forget_all();
}

void TicketKeyRing::forget_all() {
  cleanse(set_.keys);
  retired_at_ms_.clear();
  rotated_ = false;
}

bool TicketKeyRing::rotate(uint64_t now_ms) {
  if (!set_.enabled) {
    forget_all();
    return true;
  }
  TicketKey fresh;
  if (RAND_bytes(fresh.name.data(), static_cast<int>(fresh.name.size())) != 1 ||
      RAND_bytes(fresh.aes.data(), static_cast<int>(fresh.aes.size())) != 1 ||
      RAND_bytes(fresh.hmac.data(), static_cast<int>(fresh.hmac.size())) != 1) {
    OPENSSL_cleanse(&fresh, sizeof fresh);
    return false;
  }
  const uint64_t lifetime_ms = uint64_t{set_.lifetime_s} * 1000;
  if (!retired_at_ms_.empty()) retired_at_ms_.front() = now_ms;  // the sealing key retires
  // Forget the retired keys whose tickets have all expired, then the oldest beyond the cap.
  for (size_t i = set_.keys.size(); i-- > 0;) {
    const bool expired = now_ms >= retired_at_ms_[i] + lifetime_ms;
    if (expired || i + 1 >= kMaxKeys) {
      OPENSSL_cleanse(&set_.keys[i], sizeof(TicketKey));
      set_.keys.erase(set_.keys.begin() + static_cast<std::ptrdiff_t>(i));
      retired_at_ms_.erase(retired_at_ms_.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  set_.keys.insert(set_.keys.begin(), fresh);
  retired_at_ms_.insert(retired_at_ms_.begin(), 0);
  OPENSSL_cleanse(&fresh, sizeof fresh);
  rotated_at_ms_ = now_ms;
  rotated_ = true;
  return true;
}

uint64_t TicketKeyRing::next_rotation_ms() const {
  if (!set_.enabled || !rotated_) return UINT64_MAX;
  return rotated_at_ms_ + uint64_t{set_.lifetime_s} * 1000;
}

// ---- the worker's table ----

TicketKeyTable::~TicketKeyTable() { wipe(); }

void TicketKeyTable::wipe() { cleanse(set_.keys); }

void TicketKeyTable::install(TicketKeySet set) {
  wipe();
  set_ = std::move(set);
}

bool TicketKeyTable::install(std::string_view encoded) {
  TicketKeySet set;
  if (!decode_ticket_keys(encoded, set)) return false;
  install(std::move(set));
  return true;
}

void TicketKeyTable::apply(SSL_CTX* ctx) {
  SSL_CTX_set_app_data(ctx, this);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, &TicketKeyTable::callback);
  // No server-side cache either way: a ticket carries the whole session (stateless).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (set_.enabled && !set_.keys.empty()) {
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);
    // One TLS 1.3 ticket per handshake: a browser uses one per reconnection, and each
    // resumed handshake gets a fresh one.
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_timeout(ctx, static_cast<long>(set_.lifetime_s));
  } else {
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
}

int TicketKeyTable::callback(SSL* ssl, unsigned char* name, unsigned char* iv,
                             EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
  auto* table = static_cast<TicketKeyTable*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (table == nullptr) return encrypt ? -1 : 0;
  return encrypt ? table->seal(name, iv, cipher, mac) : table->open(name, iv, cipher, mac);
}

namespace {

bool set_hmac_key(EVP_MAC_CTX* mac, const TicketKey& key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(
          OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key.hmac.data()), key.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  return EVP_MAC_CTX_set_params(mac, params) == 1;
}

}  // namespace

// Returns 1 with a ticket to send, 0 for none (tickets off), -1 on failure.
int TicketKeyTable::seal(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                         EVP_MAC_CTX* mac) {
  if (!set_.enabled || set_.keys.empty()) return 0;
  const TicketKey& key = set_.keys.front();
  const int iv_size = EVP_CIPHER_get_iv_length(EVP_aes_256_cbc());
  if (RAND_bytes(iv, iv_size) != 1) return -1;
  std::memcpy(name, key.name.data(), key.name.size());
  if (EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1 ||
      !set_hmac_key(mac, key)) {
    return -1;
  }
  return 1;
}

// 1: opened with the sealing key; 2: opened with a retired key (OpenSSL then issues a fresh
// ticket); 0: no such key (a full handshake follows); -1 on failure.
int TicketKeyTable::open(const unsigned char* name, const unsigned char* iv, EVP_CIPHER_CTX* cipher,
                         EVP_MAC_CTX* mac) {
  for (size_t i = 0; i < set_.keys.size(); ++i) {
    const TicketKey& key = set_.keys[i];
    if (std::memcmp(name, key.name.data(), key.name.size()) != 0) continue;
    if (!set_hmac_key(mac, key) ||
        EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1) {
      return -1;
    }
    return i == 0 ? 1 : 2;
  }
  return 0;
}

}  // namespace sigver
