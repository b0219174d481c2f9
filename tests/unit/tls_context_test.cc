// Building TLS server contexts from certificate files: what is sent to clients, which
// mistakes are refused, and how the messages name the files at fault.
#include "core/tls_context.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fstream>

#include "../integration/support/test_certs.h"
#include "core/tls_material.h"

namespace sigver {
namespace {

class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(certs_.create(error)) << error;
    config_.tls_certificate = certs_.server_cert();
    config_.tls_certificate_key = certs_.server_key();
    config_.tls_ca = certs_.intermediate();
    config_.listen_tls = ListenAddress{"127.0.0.1", 8443};
  }

  // Loads `config_` like the master does; returns the context (null on failure).
  SslCtxPtr Load(std::string& error, TlsContextInfo* info = nullptr) {
    TlsMaterial material;
    if (!read_tls_material(config_, material, error)) return nullptr;
    return create_tls_context(material, error, info);
  }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(certs_.path(name)) << text;
  }
  std::string Read(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  testcerts::TestCerts certs_;
  Config config_;
};

TEST_F(TlsContextTest, LoadsCertificateKeyAndIntermediate) {
  std::string error;
  TlsContextInfo info;
  SslCtxPtr ctx = Load(error, &info);
  ASSERT_TRUE(ctx) << error;
  EXPECT_NE(info.subject.find("CN = localhost"), std::string::npos) << info.subject;
  EXPECT_FALSE(info.not_after.empty());
  EXPECT_EQ(info.chain_length, 1);
  EXPECT_TRUE(info.warnings.empty()) << info.warnings.front();
  // The intermediate is part of what the server sends.
  STACK_OF(X509)* chain = nullptr;
  ASSERT_EQ(SSL_CTX_get0_chain_certs(ctx.get(), &chain), 1);
  ASSERT_NE(chain, nullptr);
  ASSERT_EQ(sk_X509_num(chain), 1);
  char name[256];
  X509_NAME_oneline(X509_get_subject_name(sk_X509_value(chain, 0)), name, sizeof name);
  EXPECT_STREQ(name, "/CN=sigver test intermediate");
}

TEST_F(TlsContextTest, OnlyTls12AndTls13ByDefault) {
  std::string error;
  SslCtxPtr ctx = Load(error);
  ASSERT_TRUE(ctx) << error;
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx.get()), TLS1_3_VERSION);
  // No session state kept per worker: tickets and cache are off.
  EXPECT_NE(SSL_CTX_get_options(ctx.get()) & SSL_OP_NO_TICKET, 0u);
  EXPECT_EQ(SSL_CTX_get_num_tickets(ctx.get()), 0u);
}

TEST_F(TlsContextTest, ProtocolsAreConfigurable) {
  std::string error;
  config_.tls_protocols = "TLSv1.3";
  SslCtxPtr ctx = Load(error);
  ASSERT_TRUE(ctx) << error;
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_3_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx.get()), TLS1_3_VERSION);

  config_.tls_protocols = "TLSv1.2";
  ctx = Load(error);
  ASSERT_TRUE(ctx) << error;
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx.get()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_max_proto_version(ctx.get()), TLS1_2_VERSION);

  config_.tls_protocols = "SSLv3";
  EXPECT_FALSE(Load(error));
  EXPECT_NE(error.find("[tls] protocols"), std::string::npos) << error;
}

TEST_F(TlsContextTest, CiphersAreConfigurableAndCheckedByOpenssl) {
  std::string error;
  config_.tls_ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256";
  SslCtxPtr ctx = Load(error);
  ASSERT_TRUE(ctx) << error;
  STACK_OF(SSL_CIPHER)* list = SSL_CTX_get_ciphers(ctx.get());
  bool has_chosen = false;
  bool has_other_tls12 = false;
  for (int i = 0; i < sk_SSL_CIPHER_num(list); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(list, i);
    const std::string name = SSL_CIPHER_get_name(c);
    if (name == "ECDHE-ECDSA-AES128-GCM-SHA256") has_chosen = true;
    if (std::string(SSL_CIPHER_get_version(c)) != "TLSv1.3" &&
        name != "ECDHE-ECDSA-AES128-GCM-SHA256")
      has_other_tls12 = true;
  }
  EXPECT_TRUE(has_chosen);
  EXPECT_FALSE(has_other_tls12);

  config_.tls_ciphers = "NO-SUCH-CIPHER";
  EXPECT_FALSE(Load(error));
  EXPECT_NE(error.find("[tls] ciphers \"NO-SUCH-CIPHER\""), std::string::npos) << error;

  config_.tls_ciphers = Config{}.tls_ciphers;
  config_.tls_ciphersuites = "TLS_NOPE";
  EXPECT_FALSE(Load(error));
  EXPECT_NE(error.find("[tls] ciphersuites"), std::string::npos) << error;
}

TEST_F(TlsContextTest, KeyOfAnotherCertificateIsAClearError) {
  config_.tls_certificate_key = certs_.other_key();
  std::string error;
  EXPECT_FALSE(Load(error));
  EXPECT_NE(error.find("the private key in " + certs_.other_key() +
                       " does not match the certificate in " + certs_.server_cert()),
            std::string::npos)
      << error;
}

TEST_F(TlsContextTest, MissingFilesNameTheSettingAndTheFile) {
  std::string error;
  config_.tls_certificate = certs_.path("missing.crt");
  EXPECT_FALSE(Load(error));
  EXPECT_NE(error.find("[tls] certificate " + certs_.path("missing.crt")), std::string::npos)
      << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;

  config_.tls_certificate = certs_.server_cert();
  config_.tls_certificate_key = certs_.path("missing.key");
  EXPECT_FALSE(Load(error));
  EXPECT_NE(error.find("[tls] certificate_key " + certs_.path("missing.key")), std::string::npos)
      << error;

  config_.tls_certificate_key = certs_.server_key();
  config_.tls_ca = certs_.path("missing-ca.crt");
  EXPECT_FALSE(Load(error));
  EXPECT_NE(error.find("[tls] ca " + certs_.path("missing-ca.crt")), std::string::npos) << error;
}

TEST_F(TlsContextTest, DamagedFilesAreRefused) {
  std::string error;
  Write("garbage.crt", "this is not a certificate\n");
  config_.tls_certificate = certs_.path("garbage.crt");
  EXPECT_FALSE(Load(error));
  EXPECT_NE(error.find("no PEM certificate in [tls] certificate " + certs_.path("garbage.crt")),
            std::string::npos)
      << error;

  // A certificate cut in the middle (as when the file is being rewritten).
  const std::string pem = Read(certs_.server_cert());
  Write("cut.crt", pem.substr(0, pem.size() / 2));
  config_.tls_certificate = certs_.path("cut.crt");
  EXPECT_FALSE(Load(error));
  EXPECT_NE(error.find(certs_.path("cut.crt")), std::string::npos) << error;

  config_.tls_certificate = certs_.server_cert();
  Write("garbage.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  config_.tls_certificate_key = certs_.path("garbage.key");
  EXPECT_FALSE(Load(error));
  EXPECT_NE(error.find("no usable PEM private key in [tls] certificate_key"), std::string::npos)
      << error;

  config_.tls_certificate_key = certs_.server_key();
  Write("empty-ca.crt", "\n");
  config_.tls_ca = certs_.path("empty-ca.crt");
  EXPECT_FALSE(Load(error));
  EXPECT_NE(error.find("[tls] ca " + certs_.path("empty-ca.crt")), std::string::npos) << error;
}

TEST_F(TlsContextTest, EncryptedKeyIsRefusedWithoutPrompting) {
  std::string error;
  ASSERT_TRUE(
      certs_.run("openssl pkey -in server.key -aes256 -passout pass:secret "
                 "-out encrypted.key",
                 error))
      << error;
  config_.tls_certificate_key = certs_.path("encrypted.key");
  EXPECT_FALSE(Load(error));
  EXPECT_NE(error.find("passphrase"), std::string::npos) << error;
}

TEST_F(TlsContextTest, ChainInTheCertificateFileIsSentToo) {
  // certificate = leaf followed by the intermediate, no ca file: the usual fullchain.pem.
  Write("fullchain.pem", Read(certs_.server_cert()) + Read(certs_.intermediate()));
  config_.tls_certificate = certs_.path("fullchain.pem");
  config_.tls_ca.clear();
  std::string error;
  TlsContextInfo info;
  ASSERT_TRUE(Load(error, &info)) << error;
  EXPECT_EQ(info.chain_length, 1);
  EXPECT_TRUE(info.warnings.empty());
}

TEST_F(TlsContextTest, WrongIntermediateIsAWarning) {
  config_.tls_ca = certs_.ca();  // the root did not sign the server certificate
  std::string error;
  TlsContextInfo info;
  ASSERT_TRUE(Load(error, &info)) << error;
  ASSERT_EQ(info.warnings.size(), 1u);
  EXPECT_NE(info.warnings[0].find("did not issue"), std::string::npos) << info.warnings[0];
}

TEST_F(TlsContextTest, CheckTlsFilesReadsAndBuilds) {
  TlsMaterial material;
  std::string error;
  EXPECT_TRUE(check_tls_files(config_, material, error)) << error;
  EXPECT_EQ(material.certificate_file, certs_.server_cert());
  EXPECT_EQ(material.certificate_pem, Read(certs_.server_cert()));
  EXPECT_EQ(material.ca_pem, Read(certs_.intermediate()));
  config_.tls_certificate_key = certs_.other_key();
  EXPECT_FALSE(check_tls_files(config_, material, error));
}

TEST(TlsMaterial, EncodingRoundTripsAndRejectsDamage) {
  TlsMaterial m;
  m.certificate_file = "c.pem";
  m.key_file = "k.pem";
  m.certificate_pem = std::string("cert\0with nul", 13);
  m.key_pem = "key";
  m.protocols = "TLSv1.3";
  m.ciphers = "HIGH";
  m.ciphersuites = "TLS_AES_128_GCM_SHA256";
  const std::string bytes = encode_tls_material(m);
  TlsMaterial back;
  ASSERT_TRUE(decode_tls_material(bytes, back));
  EXPECT_EQ(back.certificate_file, "c.pem");
  EXPECT_EQ(back.key_file, "k.pem");
  EXPECT_EQ(back.ca_file, "");
  EXPECT_EQ(back.certificate_pem, m.certificate_pem);
  EXPECT_EQ(back.key_pem, "key");
  EXPECT_EQ(back.protocols, "TLSv1.3");
  EXPECT_EQ(back.ciphers, "HIGH");
  EXPECT_EQ(back.ciphersuites, "TLS_AES_128_GCM_SHA256");
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(decode_tls_material(std::string_view(bytes).substr(0, cut), back)) << cut;
  }
  EXPECT_FALSE(decode_tls_material(bytes + "x", back));
}

TEST(TlsMaterial, TlsIsEnabledByEitherListener) {
  Config c;
  EXPECT_FALSE(tls_enabled(c));
  c.listen_tls = ListenAddress{"0.0.0.0", 8443};
  EXPECT_TRUE(tls_enabled(c));
  c.listen_tls.reset();
  c.listen_speaks_tls = true;
  EXPECT_TRUE(tls_enabled(c));
}

}  // namespace
}  // namespace sigver
