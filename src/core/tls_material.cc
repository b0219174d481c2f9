#include "core/tls_material.h"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>

namespace sigver {
namespace {

bool read_pem(const std::string& path, const char* setting, std::string& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::string("cannot open [tls] ") + setting + " " + path + ": " + std::strerror(errno);
    return false;
  }
  std::string text;
  char chunk[8192];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxTlsMaterialBytes) {
      error = std::string("[tls] ") + setting + " " + path + " is larger than 128 KiB";
      return false;
    }
  }
  if (in.bad()) {
    error = std::string("cannot read [tls] ") + setting + " " + path + ": " + std::strerror(errno);
    return false;
  }
  out = std::move(text);
  return true;
}

std::string TlsMaterial::*const kFields[] = {
    &TlsMaterial::certificate_file, &TlsMaterial::key_file, &TlsMaterial::ca_file,
    &TlsMaterial::certificate_pem,  &TlsMaterial::key_pem,  &TlsMaterial::ca_pem,
    &TlsMaterial::protocols,        &TlsMaterial::ciphers,  &TlsMaterial::ciphersuites,
    &TlsMaterial::tickets,
};

}  // namespace

bool tls_enabled(const Config& config) {
  return config.listen_speaks_tls || config.listen_tls.has_value();
}

bool read_tls_material(const Config& config, TlsMaterial& out, std::string& error) {
  TlsMaterial m;
  m.certificate_file = config.tls_certificate;
  m.key_file = config.tls_certificate_key;
  m.ca_file = config.tls_ca;
  if (m.certificate_file.empty() || m.key_file.empty()) {
    error = "TLS needs [tls] certificate and certificate_key (--cert and --key)";
    return false;
  }
  if (!read_pem(m.certificate_file, "certificate", m.certificate_pem, error) ||
      !read_pem(m.key_file, "certificate_key", m.key_pem, error) ||
      (!m.ca_file.empty() && !read_pem(m.ca_file, "ca", m.ca_pem, error))) {
    return false;
  }
  m.protocols = config.tls_protocols;
  m.ciphers = config.tls_ciphers;
  m.ciphersuites = config.tls_ciphersuites;
  if (encode_tls_material(m).size() > kMaxTlsMaterialBytes) {
    error = "the [tls] files are larger than 128 KiB together";
    return false;
  }
  out = std::move(m);
  return true;
}

// Each field as a 4-byte little-endian length followed by its bytes, in kFields order.
std::string encode_tls_material(const TlsMaterial& material) {
  std::string out;
  for (auto field : kFields) {
    const std::string& value = material.*field;
    const auto size = static_cast<uint32_t>(value.size());
    for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>(size >> shift));
    out += value;
  }
  return out;
}

bool decode_tls_material(std::string_view bytes, TlsMaterial& out) {
  TlsMaterial m;
  for (auto field : kFields) {
    if (bytes.size() < 4) return false;
    uint32_t size = 0;
    for (int i = 0; i < 4; ++i) size |= uint32_t{static_cast<uint8_t>(bytes[i])} << (8 * i);
    bytes.remove_prefix(4);
    if (bytes.size() < size) return false;
    m.*field = std::string(bytes.substr(0, size));
    bytes.remove_prefix(size);
  }
  if (!bytes.empty()) return false;
  out = std::move(m);
  return true;
}

}  // namespace sigver
