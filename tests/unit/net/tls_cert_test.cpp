// The generated self-signed certificate, read back with OpenSSL: key matches, names, validity, file modes,
// and that an existing pair is left alone.
#include "support/temp_dir.h"
#include "net/tls_cert.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>

namespace gatehouse::net {
namespace {

namespace fs = std::filesystem;

using gatehouse::testing::TempDir;

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct NamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};

std::unique_ptr<X509, X509Free> readCert(const fs::path& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "r"), &std::fclose);
  if (!f) return nullptr;
  return std::unique_ptr<X509, X509Free>(PEM_read_X509(f.get(), nullptr, nullptr, nullptr));
}

std::unique_ptr<EVP_PKEY, PkeyFree> readKey(const fs::path& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "r"), &std::fclose);
  if (!f) return nullptr;
  return std::unique_ptr<EVP_PKEY, PkeyFree>(PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr));
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

unsigned modeOf(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// "DNS:name" or "IP:a.b.c.d" / "IP:::1" for each subjectAltName entry.
std::set<std::string> altNames(X509* cert) {
  std::set<std::string> out;
  std::unique_ptr<GENERAL_NAMES, NamesFree> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      out.insert("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                      static_cast<size_t>(ASN1_STRING_length(dns))));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      const unsigned char* b = ASN1_STRING_get0_data(ip);
      if (ASN1_STRING_length(ip) == 4) {
        out.insert("IP:" + std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
                   std::to_string(b[3]));
      } else if (ASN1_STRING_length(ip) == 16) {
        const std::array<unsigned char, 16> loopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        out.insert(std::equal(loopback.begin(), loopback.end(), b) ? "IP:::1" : "IP:v6");
      }
    }
  }
  return out;
}

std::string commonName(X509* cert) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
  return buf;
}

TEST(SelfSignedCertificate, GeneratesMatchingKeyAndCertificate) {
  TempDir dir;
  const fs::path cert_path = dir.path() / "tls" / "gateway.crt";  // parent does not exist yet
  const fs::path key_path = dir.path() / "tls" / "gateway.key";
  auto made = ensureSelfSignedCertificate(cert_path, key_path, "gw.example.com");
  ASSERT_TRUE(made) << made.error().message;

  auto cert = readCert(cert_path);
  auto key = readKey(key_path);
  ASSERT_TRUE(cert);
  ASSERT_TRUE(key);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_EQ(EVP_PKEY_get_base_id(key.get()), EVP_PKEY_EC);
  char group[64] = {};
  size_t group_len = 0;
  ASSERT_EQ(EVP_PKEY_get_group_name(key.get(), group, sizeof group, &group_len), 1);
  EXPECT_STREQ(group, "prime256v1");

  EXPECT_EQ(X509_get_version(cert.get()), X509_VERSION_3);
  EXPECT_EQ(commonName(cert.get()), "gw.example.com");
  EXPECT_EQ(altNames(cert.get()),
            (std::set<std::string>{"DNS:localhost", "IP:127.0.0.1", "IP:::1", "DNS:gw.example.com"}));
  // Self-signed: its own public key verifies its signature.
  std::unique_ptr<EVP_PKEY, PkeyFree> pub(X509_get_pubkey(cert.get()));
  EXPECT_EQ(X509_verify(cert.get(), pub.get()), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "other.example.com", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0), 1);

  // Valid now, and for about one year from now.
  int days = 0;
  int seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(cert.get())), 1);
  EXPECT_TRUE(days == 365 || (days == 364 && seconds > 86000)) << days << "d " << seconds << "s";
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(cert.get())), 0);

  EXPECT_EQ(modeOf(key_path), 0600u);
  EXPECT_EQ(modeOf(cert_path), 0644u);
  size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(cert_path.parent_path())) ++entries;
  EXPECT_EQ(entries, 2u);  // no temporary files left
}

TEST(SelfSignedCertificate, IpCommonNameBecomesIpAltName) {
  TempDir dir;
  ASSERT_TRUE(ensureSelfSignedCertificate(dir.path() / "c.pem", dir.path() / "k.pem", "10.1.2.3"));
  auto cert = readCert(dir.path() / "c.pem");
  ASSERT_TRUE(cert);
  EXPECT_EQ(altNames(cert.get()), (std::set<std::string>{"DNS:localhost", "IP:127.0.0.1", "IP:::1", "IP:10.1.2.3"}));
}

TEST(SelfSignedCertificate, KeyIsPrivateEvenWithPermissiveUmask) {
  TempDir dir;
  const mode_t old_umask = ::umask(0);
  auto made = ensureSelfSignedCertificate(dir.path() / "c.pem", dir.path() / "k.pem", "localhost");
  ::umask(old_umask);
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_EQ(modeOf(dir.path() / "k.pem"), 0600u);
  EXPECT_EQ(modeOf(dir.path() / "c.pem"), 0644u);
}

TEST(SelfSignedCertificate, SecondCallKeepsExistingFiles) {
  TempDir dir;
  const fs::path cert_path = dir.path() / "c.pem";
  const fs::path key_path = dir.path() / "k.pem";
  ASSERT_TRUE(ensureSelfSignedCertificate(cert_path, key_path, "localhost"));
  const std::string cert_before = slurp(cert_path);
  const std::string key_before = slurp(key_path);
  ASSERT_FALSE(cert_before.empty());
  ASSERT_TRUE(ensureSelfSignedCertificate(cert_path, key_path, "another-name"));
  EXPECT_EQ(slurp(cert_path), cert_before);
  EXPECT_EQ(slurp(key_path), key_before);
}

TEST(SelfSignedCertificate, MissingHalfRegeneratesAMatchingPair) {
  TempDir dir;
  const fs::path cert_path = dir.path() / "c.pem";
  const fs::path key_path = dir.path() / "k.pem";
  ASSERT_TRUE(ensureSelfSignedCertificate(cert_path, key_path, "localhost"));
  const std::string cert_before = slurp(cert_path);
  fs::remove(key_path);
  ASSERT_TRUE(ensureSelfSignedCertificate(cert_path, key_path, "localhost"));
  EXPECT_NE(slurp(cert_path), cert_before);
  auto cert = readCert(cert_path);
  auto key = readKey(key_path);
  ASSERT_TRUE(cert && key);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
}

TEST(SelfSignedCertificate, RefusesCommonNamesThatAreNotHostNames) {
  TempDir dir;
  for (const std::string& name : {std::string(), std::string("a,DNS:evil.example"), std::string("has space"),
                                  std::string(65, 'a')}) {
    auto made = ensureSelfSignedCertificate(dir.path() / "c.pem", dir.path() / "k.pem", name);
    EXPECT_FALSE(made) << name;
    EXPECT_FALSE(fs::exists(dir.path() / "k.pem"));
  }
}

}  // namespace
}  // namespace gatehouse::net
