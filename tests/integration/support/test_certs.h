#pragma once
// Throwaway certificates for TLS tests, made with the `openssl` command at test time in a
// temporary directory (nothing secret is committed): a root CA, an intermediate CA signed
// by it, and server certificates for localhost / 127.0.0.1 signed by the intermediate.
// Header-only so that unit tests (one file each) can use it as well as integration tests.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace sigver::testcerts {

class TestCerts {
 public:
  TestCerts() = default;
  TestCerts(const TestCerts&) = delete;
  TestCerts& operator=(const TestCerts&) = delete;
  ~TestCerts() {
    if (!dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(dir_, ignored);
    }
  }

  // Creates the CA, the intermediate and a first server certificate (organization "first").
  // False with `error` when openssl failed.
  bool create(std::string& error) {
    char pattern[] = "/tmp/sigver-certs-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) {
      error = "mkdtemp failed";
      return false;
    }
    dir_ = pattern;
    std::ofstream(path("ext.cnf"))
        << "[int_ext]\nbasicConstraints = critical, CA:true, pathlen:0\n"
           "keyUsage = critical, keyCertSign, cRLSign\n"
           "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
           "[srv_ext]\nbasicConstraints = critical, CA:false\n"
           "keyUsage = critical, digitalSignature, keyEncipherment\n"
           "extendedKeyUsage = serverAuth\n"
           "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
           "authorityKeyIdentifier = keyid\n";
    return run("openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
               "-keyout ca.key -out ca.crt -subj '/CN=sigver test root' -days 3 "
               "-addext 'basicConstraints=critical,CA:true' "
               "-addext 'keyUsage=critical,keyCertSign,cRLSign'",
               error) &&
           run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
               "-keyout intermediate.key -out intermediate.csr -subj '/CN=sigver test "
               "intermediate'",
               error) &&
           run("openssl x509 -req -in intermediate.csr -CA ca.crt -CAkey ca.key -set_serial 2 "
               "-days 3 -out intermediate.crt -extfile ext.cnf -extensions int_ext",
               error) &&
           issue_server("server.crt", "server.key", "first", error) &&
           run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key",
               error);
  }

  // Issues a new server certificate with a new key into `cert` and `key` (names in this
  // directory), with `organization` in its subject so tests can tell versions apart.
  bool issue_server(const std::string& cert, const std::string& key,
                    const std::string& organization, std::string& error) {
    static int serial = 100;
    ++serial;
    // Written next to the final names, then renamed: the server may read them any time.
    return run("openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
               "-keyout " +
                   key + ".new -out server.csr -subj '/O=" + organization + "/CN=localhost'",
               error) &&
           run("openssl x509 -req -in server.csr -CA intermediate.crt -CAkey intermediate.key "
               "-set_serial " +
                   std::to_string(serial) + " -days 2 -out " + cert +
                   ".new -extfile ext.cnf -extensions srv_ext",
               error) &&
           run("mv " + cert + ".new " + cert + " && mv " + key + ".new " + key, error);
  }

  // Runs a shell command in the directory; false with its output in `error` on failure.
  bool run(const std::string& command, std::string& error) const {
    const std::string log = path("openssl.log");
    const std::string line = "cd '" + dir_ + "' && (" + command + ") > '" + log + "' 2>&1";
    if (std::system(line.c_str()) == 0) return true;
    std::ifstream in(log);
    error = "command failed: " + command + "\n" +
            std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return false;
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  const std::string& dir() const { return dir_; }
  std::string ca() const { return path("ca.crt"); }
  std::string intermediate() const { return path("intermediate.crt"); }
  std::string server_cert() const { return path("server.crt"); }
  std::string server_key() const { return path("server.key"); }
  std::string other_key() const { return path("other.key"); }

 private:
  std::string dir_;
};

}  // namespace sigver::testcerts
