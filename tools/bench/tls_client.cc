#include "tls_client.h"

#include <openssl/err.h>
#include <openssl/objects.h>

namespace bench {

std::unique_ptr<TlsClient> TlsClient::create(const std::string& ca_file, bool resume,
                                             std::string& error) {
  std::unique_ptr<TlsClient> client(new TlsClient());
  client->resume_ = resume;
  client->ctx_ = SSL_CTX_new(TLS_client_method());
  if (client->ctx_ == nullptr) {
    error = "SSL_CTX_new failed";
    return nullptr;
  }
  SSL_CTX* ctx = client->ctx_;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // A peer that closes without close_notify reads as an end of stream, as plain TCP's FIN.
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  // conn.out may move between a partial write and its retry.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (ca_file.empty()) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  } else {
    if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
      error = "cannot load CA file " + ca_file;
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (resume) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, &TlsClient::on_new_session);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  SSL_CTX_set_app_data(ctx, client.get());
  return client;
}

TlsClient::~TlsClient() {
  if (last_session_ != nullptr) SSL_SESSION_free(last_session_);
  SSL_CTX_free(ctx_);
}

int TlsClient::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* self = static_cast<TlsClient*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (self->last_session_ != nullptr) SSL_SESSION_free(self->last_session_);
  self->last_session_ = session;
  return 1;  // the session is ours now
}

SslPtr TlsClient::start(int fd) {
  SslPtr ssl(SSL_new(ctx_));
  if (!ssl || SSL_set_fd(ssl.get(), fd) != 1) return nullptr;
  SSL_set_tlsext_host_name(ssl.get(), "localhost");
  if (resume_ && last_session_ != nullptr) SSL_set_session(ssl.get(), last_session_);
  SSL_set_connect_state(ssl.get());
  return ssl;
}

void TlsClient::handshake_done(SSL* ssl) {
  ++handshakes_;
  if (SSL_session_reused(ssl)) ++resumed_;
  if (!negotiated_.empty()) return;
  negotiated_ = std::string(SSL_get_version(ssl)) + " " + SSL_get_cipher_name(ssl);
  const int group = SSL_get_negotiated_group(ssl);
  const char* name = group > 0 ? OBJ_nid2sn(group) : nullptr;
  if (name != nullptr) negotiated_ += std::string(" ") + name;
}

}  // namespace bench
