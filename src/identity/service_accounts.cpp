// Service accounts and their keys; see service_accounts.h.
#include "identity/service_accounts.h"

#include <openssl/rand.h>

#include <array>

#include "identity/jws.h"
#include "identity/tokens.h"

namespace gatehouse::identity {

namespace {

constexpr std::size_t kKeyBytes = 32;

Result<std::string> newSecret() {
  std::array<unsigned char, kKeyBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    return makeError("cannot generate a key: no randomness from OpenSSL");
  return std::string(kServiceKeyPrefix) +
         jws::base64UrlEncode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

Result<IssuedServiceKey> addKey(store::Store& store, std::string_view name, bool revoke_others) {
  auto secret = newSecret();
  if (!secret) return secret.error();
  // The key is 256 random bits: a fast hash is enough, as for access tokens (see hashToken).
  auto key = store.addServiceAccountKey(name, hashToken(*secret), revoke_others);
  if (!key) return key.error();
  return IssuedServiceKey{.account = std::string(name), .key_id = std::move(key->id), .secret = std::move(*secret)};
}

}  // namespace

Result<void> checkServiceAccountName(std::string_view name) {
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 63 || !ok(name.front()))
    return makeError("a service account name has 1 to 63 characters and starts with a lower-case letter or a digit");
  for (char c : name)
    if (!ok(c) && c != '.' && c != '_' && c != '-')
      return makeError("a service account name has only lower-case letters, digits, '.', '_' and '-'");
  return {};
}

Result<IssuedServiceKey> createServiceAccount(store::Store& store, std::string_view name,
                                              const std::vector<std::string>& groups) {
  if (auto r = checkServiceAccountName(name); !r) return r.error();
  if (groups.empty()) return makeError("a service account needs at least one group");
  for (const auto& g : groups)
    if (g.empty()) return makeError("group names must not be empty");
  if (auto a = store.createServiceAccount(name, groups); !a) return a.error();
  return addKey(store, name, false);
}

Result<IssuedServiceKey> rotateServiceAccountKey(store::Store& store, std::string_view name, bool keep_others) {
  return addKey(store, name, !keep_others);
}

// As for access tokens, no constant-time comparison is needed: the presented key is hashed and looked up.
Result<store::ServiceAccountKeyInfo> verifyServiceAccountKey(store::Store& store, std::string_view presented) {
  if (!presented.starts_with(kServiceKeyPrefix))
    return makeError("not a service account key (no " + std::string(kServiceKeyPrefix) + " prefix)");
  auto found = store.findServiceAccountKey(hashToken(presented));
  if (!found) return makeError("service account key lookup failed: " + found.error().message);
  if (!*found) return makeError("unknown service account key");
  if ((*found)->revoked_at_us) return makeError("service account key " + (*found)->key_id + " is revoked");
  return std::move(**found);
}

}  // namespace gatehouse::identity
