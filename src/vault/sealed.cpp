// Master key handling, seal/unseal with libsodium secretbox, and resolving secret references.
// Nothing here ever puts a secret or key text into an error message.
#include "vault/sealed.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <system_error>
#include <vector>

namespace gatehouse::vault {
namespace {

constexpr size_t kMaxKeyFileBytes = 4096;
constexpr size_t kMaxSealedFileBytes = 1 << 20;

bool sodiumReady() {
  static std::once_flag once;
  static bool ready = false;
  std::call_once(once, [] { ready = sodium_init() >= 0; });
  return ready;
}

std::string errnoText(int err) { return std::generic_category().message(err); }

std::string_view trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

// Closes a descriptor on every path out of a function.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

enum class Permissions { kAny, kPrivate };

// Reads a whole (small) file. kPrivate refuses files that others may read or write, or the group may write,
// checked on the opened descriptor so the file checked is the file read.
Result<std::string> readFile(const std::filesystem::path& path, size_t max_bytes, Permissions permissions) {
  Fd file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) return makeError("cannot open " + path.string() + ": " + errnoText(errno));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) return makeError("cannot stat " + path.string() + ": " + errnoText(errno));
  if (!S_ISREG(st.st_mode)) return makeError(path.string() + " is not a regular file");
  if (permissions == Permissions::kPrivate && (st.st_mode & (S_IRWXO | S_IWGRP)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return makeError("key file " + path.string() + " has mode " + mode +
                     ", which lets other users read or change it; run: chmod 600 " + path.string());
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    return makeError(path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::string contents;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(file.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return makeError("cannot read " + path.string() + ": " + errnoText(errno));
    if (n == 0) break;
    contents.append(buf, static_cast<size_t>(n));
    if (contents.size() > max_bytes) {
      sodium_memzero(contents.data(), contents.size());
      return makeError(path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  sodium_memzero(buf, sizeof buf);
  return contents;
}

// getenv returns nullptr for unset; an empty value is refused too, as it is almost always a missing export.
Result<std::string> readEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return makeError("environment variable " + name + " is not set");
  if (*value == '\0') return makeError("environment variable " + name + " is empty");
  return std::string(value);
}

Result<void> checkOneSource(const core::SecretRef& ref, std::string_view what) {
  if (!ref.env.empty() && !ref.sealed_file.empty()) {
    return makeError(std::string(what) + ": set either an environment variable or a file, not both");
  }
  if (ref.env.empty() && ref.sealed_file.empty()) {
    return makeError(std::string(what) + ": neither an environment variable nor a file is set");
  }
  return {};
}

}  // namespace

Result<MasterKey> generateMasterKey() {
  if (!sodiumReady()) return makeError("libsodium could not be initialized");
  MasterKey key;
  crypto_secretbox_keygen(key.bytes.data());
  return key;
}

Result<MasterKey> parseMasterKey(std::string_view text) {
  if (!sodiumReady()) return makeError("libsodium could not be initialized");
  const std::string_view t = trim(text);
  if (t.empty()) return makeError("master key is empty");
  MasterKey key;
  size_t len = 0;
  int rc = -1;
  if (t.size() == 2 * key.bytes.size()) {
    rc = sodium_hex2bin(key.bytes.data(), key.bytes.size(), t.data(), t.size(), nullptr, &len, nullptr);
  } else {
    const int variant =
        t.ends_with('=') ? sodium_base64_VARIANT_ORIGINAL : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
    rc = sodium_base642bin(key.bytes.data(), key.bytes.size(), t.data(), t.size(), nullptr, &len, nullptr, variant);
  }
  if (rc != 0 || len != key.bytes.size()) {
    return makeError("master key must be 32 bytes written as 64 hex digits or base64 "
                     "(generate one with `gatehouse secret keygen`)");
  }
  return key;
}

std::string formatMasterKey(const MasterKey& key) {
  std::string hex(2 * key.bytes.size() + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), key.bytes.data(), key.bytes.size());
  hex.pop_back();
  return hex;
}

Result<MasterKey> loadMasterKey(const core::SecretRef& ref) {
  if (auto one = checkOneSource(ref, "master key"); !one) return one.error();
  if (!ref.env.empty()) {
    auto text = readEnv(ref.env);
    if (!text) return makeError("master key: " + text.error().message);
    auto key = parseMasterKey(*text);
    sodium_memzero(text->data(), text->size());
    if (!key) return makeError(key.error().message + " (from environment variable " + ref.env + ")");
    return key;
  }
  auto text = readFile(ref.sealed_file, kMaxKeyFileBytes, Permissions::kPrivate);
  if (!text) return makeError("master key: " + text.error().message);
  auto key = parseMasterKey(*text);
  sodium_memzero(text->data(), text->size());
  if (!key) return makeError(key.error().message + " (in " + ref.sealed_file.string() + ")");
  return key;
}

std::string seal(std::string_view plaintext, const MasterKey& key) {
  // sodium_init only fails without an entropy source, and then randombytes_buf aborts rather than return weak
  // nonces, so there is no failure to report here.
  (void)sodiumReady();
  std::vector<unsigned char> box(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size());
  unsigned char* nonce = box.data();
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(box.data() + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(), nonce,
                        key.bytes.data());
  std::string b64(sodium_base64_ENCODED_LEN(box.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), box.data(), box.size(), sodium_base64_VARIANT_ORIGINAL);
  b64.pop_back();  // the NUL that sodium_base64_ENCODED_LEN counts
  return std::string(kSealedPrefix) + b64 + "\n";
}

Result<std::string> unseal(std::string_view sealed, const MasterKey& key) {
  if (!sodiumReady()) return makeError("libsodium could not be initialized");
  const std::string_view t = trim(sealed);
  if (!t.starts_with(kSealedPrefix)) {
    return makeError("not a Gatehouse sealed secret (it should start with " + std::string(kSealedPrefix) + ")");
  }
  const std::string_view b64 = t.substr(kSealedPrefix.size());
  std::vector<unsigned char> box(b64.size() / 4 * 3 + 3);
  size_t len = 0;
  if (sodium_base642bin(box.data(), box.size(), b64.data(), b64.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0) {
    return makeError("sealed secret is not valid base64 (truncated or corrupted)");
  }
  if (len < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return makeError("sealed secret is too short (truncated)");
  }
  const unsigned char* nonce = box.data();
  const unsigned char* cipher = box.data() + crypto_secretbox_NONCEBYTES;
  const size_t cipher_len = len - crypto_secretbox_NONCEBYTES;
  std::string plaintext(cipher_len - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plaintext.data()), cipher, cipher_len, nonce,
                                 key.bytes.data()) != 0) {
    return makeError("sealed secret cannot be opened: wrong master key, or the sealed data was modified");
  }
  return plaintext;
}

Result<std::string> resolveSecret(const core::SecretRef& ref, const MasterKey* key) {
  if (auto one = checkOneSource(ref, "secret"); !one) return one.error();
  if (!ref.env.empty()) return readEnv(ref.env);
  if (key == nullptr) {
    return makeError("secret " + ref.sealed_file.string() +
                     " is sealed, but no master key is configured (master_key in gatehouse.yaml)");
  }
  auto text = readFile(ref.sealed_file, kMaxSealedFileBytes, Permissions::kAny);
  if (!text) return text.error();
  auto secret = unseal(*text, *key);
  if (!secret) return makeError(ref.sealed_file.string() + ": " + secret.error().message);
  return secret;
}

}  // namespace gatehouse::vault
