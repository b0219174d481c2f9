#include "core/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace sigver {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr memory_bio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Never prompt on a terminal for a passphrase: encrypted keys are refused.
int no_passphrase(char*, int, int, void*) { return -1; }

std::string with_reason(std::string message) {
  std::string reason = take_openssl_error();
  if (!reason.empty()) message += " (" + reason + ")";
  return message;
}

// Reads every PEM certificate left in `bio`; false on a damaged one (not on the end).
bool read_all_certificates(BIO* bio, std::vector<X509Ptr>& out) {
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
    if (cert) {
      out.push_back(std::move(cert));
      continue;
    }
    unsigned long code = ERR_peek_last_error();
    if (ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE) {
      ERR_clear_error();  // just the end of the file
      return true;
    }
    return false;
  }
}

std::string print_name(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string print_time(const ASN1_TIME* time) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(bio.get(), time);
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

bool apply_protocols(SSL_CTX* ctx, const std::string& protocols, std::string& error) {
  TlsProtocols wanted;
  if (!parse_tls_protocols(protocols, wanted)) {
    error = "[tls] protocols \"" + protocols + "\": expected TLSv1.2, TLSv1.3 or both";
    return false;
  }
  SSL_CTX_set_min_proto_version(ctx, wanted.tls1_2 ? TLS1_2_VERSION : TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, wanted.tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  return true;
}

bool apply_ciphers(SSL_CTX* ctx, const TlsMaterial& m, std::string& error) {
  if (SSL_CTX_set_cipher_list(ctx, m.ciphers.c_str()) != 1) {
    error = with_reason("[tls] ciphers \"" + m.ciphers + "\" selects no usable cipher");
    return false;
  }
  if (SSL_CTX_set_ciphersuites(ctx, m.ciphersuites.c_str()) != 1) {
    error = with_reason("[tls] ciphersuites \"" + m.ciphersuites +
                        "\" selects no usable TLS 1.3 ciphersuite");
    return false;
  }
  return true;
}

// The certificate, the chain that follows it in the same file, then the ca file.
bool load_certificates(SSL_CTX* ctx, const TlsMaterial& m, std::string& error,
                       TlsContextInfo& info) {
  BioPtr bio = memory_bio(m.certificate_pem);
  X509Ptr leaf(PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr));
  if (!leaf) {
    error = with_reason("no PEM certificate in [tls] certificate " + m.certificate_file);
    return false;
  }
  std::vector<X509Ptr> chain;
  if (!read_all_certificates(bio.get(), chain)) {
    error = with_reason("damaged certificate after the first one in [tls] certificate " +
                        m.certificate_file);
    return false;
  }
  if (!m.ca_file.empty()) {
    BioPtr ca_bio = memory_bio(m.ca_pem);
    const size_t before = chain.size();
    if (!read_all_certificates(ca_bio.get(), chain) || chain.size() == before) {
      error = with_reason("no valid PEM certificate in [tls] ca " + m.ca_file);
      return false;
    }
  }
  if (SSL_CTX_use_certificate(ctx, leaf.get()) != 1) {
    error = with_reason("cannot use the certificate in " + m.certificate_file);
    return false;
  }
  info.subject = print_name(X509_get_subject_name(leaf.get()));
  info.not_after = print_time(X509_get0_notAfter(leaf.get()));
  info.chain_length = static_cast<int>(chain.size());
  if (X509_cmp_current_time(X509_get0_notAfter(leaf.get())) < 0) {
    info.warnings.push_back("the certificate in " + m.certificate_file + " expired on " +
                            info.not_after);
  }
  if (!chain.empty() && X509_check_issued(chain.front().get(), leaf.get()) != X509_V_OK) {
    info.warnings.push_back("the first intermediate certificate (" +
                            print_name(X509_get_subject_name(chain.front().get())) +
                            ") did not issue the certificate in " + m.certificate_file +
                            ": clients may fail to verify the chain");
  }
  for (X509Ptr& cert : chain) {
    if (SSL_CTX_add0_chain_cert(ctx, cert.get()) != 1) {
      error = with_reason("cannot add an intermediate certificate");
      return false;
    }
    (void)cert.release();  // owned by the context now
  }
  return true;
}

bool load_key(SSL_CTX* ctx, const TlsMaterial& m, std::string& error) {
  BioPtr bio = memory_bio(m.key_pem);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    error = with_reason("no usable PEM private key in [tls] certificate_key " + m.key_file +
                        " (keys protected by a passphrase are not supported)");
    return false;
  }
  // SSL_CTX_use_PrivateKey already refuses a key of another certificate; the explicit
  // check keeps that promise whatever the key type.
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    error = with_reason("the private key in " + m.key_file + " does not match the certificate in " +
                        m.certificate_file);
    return false;
  }
  return true;
}

}  // namespace

std::string take_openssl_error() {
  std::string first;
  while (unsigned long code = ERR_get_error()) {
    if (!first.empty()) continue;
    const char* reason = ERR_reason_error_string(code);
    if (reason != nullptr) {
      first = reason;
    } else {
      char text[256];
      ERR_error_string_n(code, text, sizeof text);
      first = text;
    }
  }
  return first;
}

SslCtxPtr create_tls_context(const TlsMaterial& material, std::string& error,
                             TlsContextInfo* info) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    error = with_reason("SSL_CTX_new() failed");
    return nullptr;
  }
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                     SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                     SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
  // Partial writes with a moving buffer let the relay keep only what is left to send;
  // released buffers make an idle TLS connection cost no read/write buffers.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
  // One read(2) for every record that arrived, instead of two per record (header, body).
  SSL_CTX_set_read_ahead(ctx.get(), 1);
  TlsContextInfo local;
  TlsContextInfo& out = info != nullptr ? *info : local;
  out = TlsContextInfo{};
  if (!apply_protocols(ctx.get(), material.protocols, error) ||
      !apply_ciphers(ctx.get(), material, error) ||
      !load_certificates(ctx.get(), material, error, out) ||
      !load_key(ctx.get(), material, error)) {
    return nullptr;
  }
  return ctx;
}

bool check_tls_files(const Config& config, TlsMaterial& material, std::string& error,
                     TlsContextInfo* info) {
  if (!read_tls_material(config, material, error)) return false;
  return create_tls_context(material, error, info) != nullptr;
}

}  // namespace sigver
