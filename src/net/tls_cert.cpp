// Self-signed certificate generation with OpenSSL 3's EVP and X509 APIs.
#include "net/tls_cert.h"

#include "core/files.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string_view>
#include <system_error>

namespace gatehouse::net {
namespace {

namespace fs = std::filesystem;

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using OctetsPtr = std::unique_ptr<ASN1_OCTET_STRING, Deleter<ASN1_OCTET_STRING_free>>;

constexpr long kValiditySeconds = 365L * 24 * 60 * 60;
// Backdated so that a client whose clock is a little behind does not see a certificate from the future.
constexpr long kBackdateSeconds = 5 * 60;

// The OpenSSL error queue as text, emptied so that it does not leak into an unrelated later call.
Error sslError(std::string what) {
  std::string detail;
  while (const unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    detail += detail.empty() ? ": " : "; ";
    detail += buf;
  }
  return makeError("self-signed certificate: " + what + detail);
}

// The name goes into an OpenSSL config string ("DNS:<name>"), so only host name and IP literal characters
// are allowed: a ',' would add names to the certificate.
bool isValidCommonName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '-' || c == ':';
    if (!ok) return false;
  }
  return true;
}

std::string subjectAltNames(const std::string& common_name) {
  std::string names = "DNS:localhost,IP:127.0.0.1,IP:::1";
  if (common_name == "localhost" || common_name == "127.0.0.1" || common_name == "::1") return names;
  const OctetsPtr ip(a2i_IPADDRESS(common_name.c_str()));
  return names + (ip ? ",IP:" : ",DNS:") + common_name;
}

Result<void> addExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  const ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) return sslError("cannot add extension " + value);
  return {};
}

Result<X509Ptr> makeCertificate(EVP_PKEY* key, const std::string& common_name) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return sslError("X509_new");

  // RFC 5280 4.1.2.2: positive, at most 20 octets; random so that a regenerated certificate never repeats one.
  const BnPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return sslError("cannot make a serial number");
  }
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), kValiditySeconds) == nullptr) {
    return sslError("cannot set the validity");
  }

  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Gatehouse"),
                                 -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 || X509_set_pubkey(cert.get(), key) != 1) {
    return sslError("cannot set the names");
  }

  for (const auto& [nid, value] : {std::pair<int, std::string>{NID_basic_constraints, "critical,CA:FALSE"},
                                   {NID_key_usage, "critical,digitalSignature"},
                                   {NID_ext_key_usage, "serverAuth"},
                                   {NID_subject_key_identifier, "hash"},
                                   {NID_subject_alt_name, subjectAltNames(common_name)}}) {
    if (auto added = addExtension(cert.get(), nid, value); !added) return added.error();
  }
  if (X509_sign(cert.get(), key, EVP_sha256()) <= 0) return sslError("cannot sign");
  return cert;
}

// PEM text through a memory BIO. `secret`: the BIO clears its buffer when freed.
template <class Write>
Result<std::string> toPem(bool secret, Write write) {
  const BioPtr bio(BIO_new(secret ? BIO_s_secmem() : BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return sslError("cannot write PEM");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  if (size <= 0 || data == nullptr) return sslError("empty PEM");
  return std::string(data, static_cast<size_t>(size));
}

Result<void> createParent(const fs::path& path) {
  if (!path.has_parent_path()) return {};
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return makeError("cannot create directory " + path.parent_path().string() + ": " + ec.message());
  return {};
}

}  // namespace

Result<void> ensureSelfSignedCertificate(const fs::path& cert, const fs::path& key, const std::string& common_name) {
  std::error_code ec_cert;
  std::error_code ec_key;
  const bool have_cert = fs::exists(cert, ec_cert);
  const bool have_key = fs::exists(key, ec_key);
  if (ec_cert) return makeError("cannot check " + cert.string() + ": " + ec_cert.message());
  if (ec_key) return makeError("cannot check " + key.string() + ": " + ec_key.message());
  if (have_cert && have_key) return {};

  if (!isValidCommonName(common_name)) {
    return makeError("self-signed certificate: '" + common_name +
                     "' is not a host name or IP address (letters, digits, '.', '-', ':'; at most 64)");
  }
  ERR_clear_error();
  const PkeyPtr pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!pkey) return sslError("cannot generate an EC P-256 key");
  auto x509 = makeCertificate(pkey.get(), common_name);
  if (!x509) return x509.error();

  auto key_pem = toPem(true, [&](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  if (!key_pem) return key_pem.error();
  auto cert_pem = toPem(false, [&](BIO* bio) { return PEM_write_bio_X509(bio, x509->get()); });
  if (!cert_pem) {
    OPENSSL_cleanse(key_pem->data(), key_pem->size());
    return cert_pem.error();
  }

  // A stale certificate goes first and the new one comes last: if we stop anywhere in between, the certificate
  // is missing and the next start makes both again, rather than finding a certificate that does not match its key.
  auto written = createParent(key);
  if (written) written = createParent(cert);
  if (written && have_cert && ::unlink(cert.c_str()) != 0 && errno != ENOENT) {
    written = makeError("cannot replace " + cert.string() + ": " + std::generic_category().message(errno));
  }
  if (written) written = core::writeFileAtomically(key, *key_pem, 0600);
  OPENSSL_cleanse(key_pem->data(), key_pem->size());
  if (written) written = core::writeFileAtomically(cert, *cert_pem, 0644);
  return written;
}

}  // namespace gatehouse::net
