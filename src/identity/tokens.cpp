// Static access tokens: issue, hash, verify. See tokens.h.
#include "identity/tokens.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>

#include "core/hex.h"

namespace gatehouse::identity {

namespace {

constexpr size_t kSecretBytes = 32;

// OpenSSL only has standard base64; the URL alphabet without padding keeps the token safe in URLs, shells and
// libpq connection strings (no '+', '/', '=').
std::string base64Url(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  while (!out.empty() && out.back() == '=') {
    out.pop_back();
  }
  for (char& c : out) {
    if (c == '+') {
      c = '-';
    } else if (c == '/') {
      c = '_';
    }
  }
  return out;
}

}  // namespace

// A plain SHA-256 is enough here: the secret is 256 random bits, so nobody can guess it from its hash, and a
// slow password hash (Argon2, scrypt) only protects low-entropy, human-chosen secrets. A fast hash also lets us
// find the token by an indexed lookup on every connection.
std::string hashToken(std::string_view secret) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest.data());
  return core::toHex(digest.data(), digest.size());
}

Result<IssuedToken> issueToken(store::Store& store, std::string_view user, const std::vector<std::string>& groups) {
  if (user.empty()) {
    return makeError("a token needs a user");
  }
  for (const auto& g : groups) {
    if (g.empty()) {
      return makeError("group names must not be empty");
    }
  }
  std::array<unsigned char, kSecretBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return makeError("cannot generate a token: no randomness from OpenSSL");
  }
  std::string secret = std::string(kTokenPrefix) + base64Url(bytes.data(), bytes.size());
  auto info = store.createToken(user, groups, hashToken(secret));
  if (!info) {
    return info.error();
  }
  return IssuedToken{.id = std::move(info->id), .secret = std::move(secret)};
}

// No constant-time comparison is needed: the presented secret is never compared with a stored secret. It is
// hashed and the hash looked up in an index, so the lookup's timing can at most reveal something about the
// hash of the attacker's own guess, and knowing a prefix of a stored SHA-256 does not help find its preimage.
Result<store::TokenInfo> verifyToken(store::Store& store, std::string_view presented, std::string_view user) {
  auto info = identifyToken(store, presented);
  if (!info) {
    return info.error();
  }
  if (info->user != user) {
    return makeError("token " + info->id + " belongs to user '" + info->user + "', not '" + std::string(user) + "'");
  }
  return info;
}

Result<store::TokenInfo> identifyToken(store::Store& store, std::string_view presented) {
  if (!presented.starts_with(kTokenPrefix)) {
    return makeError("password is not a gatehouse token (no " + std::string(kTokenPrefix) + " prefix)");
  }
  auto found = store.findTokenByHash(hashToken(presented));
  if (!found) {
    return makeError("token lookup failed: " + found.error().message);
  }
  if (!*found) {
    return makeError("unknown token");
  }
  store::TokenInfo& info = **found;
  if (info.revoked_at_us) {
    return makeError("token " + info.id + " is revoked");
  }
  return std::move(info);
}

}  // namespace gatehouse::identity
