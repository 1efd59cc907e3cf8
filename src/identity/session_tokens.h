// Gatehouse session tokens: what an identity proven some other way (an OIDC token, a service account key) is
// exchanged for at POST /api/token, and what every listener accepts. A JWT signed by the gateway's Ed25519 key
// (EdDSA), short-lived (15 minutes by default), carrying the identity, its groups and what it was exchanged for.
// Each is recorded by its id (jti) in the store, so that it can be listed and revoked; a revoked token is refused
// at the next authentication on every listener and every gateway instance sharing the store.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "identity/jws.h"
#include "identity/oidc.h"
#include "store/store.h"

namespace gatehouse::identity {

struct SessionIdentity {
  std::string subject;  // the user name or service account name a client must log in as
  std::vector<std::string> groups;
  std::string source;   // "oidc:<issuer>", "service_account:<key id>"
};

struct IssuedSessionToken {
  std::string token;
  std::string id;
  int64_t expires_at_us = 0;
};

struct VerifiedSessionToken {
  std::string id;
  SessionIdentity identity;
  int64_t expires_at_us = 0;
};

class SessionTokens {
 public:
  // The token's iss and aud.
  static constexpr std::string_view kIssuer = "gatehouse";

  SessionTokens(jws::Key signing_key, std::chrono::seconds ttl, store::Store& store)
      : key_(std::move(signing_key)), ttl_(ttl), store_(&store) {}

  Result<IssuedSessionToken> issue(const SessionIdentity& identity, int64_t now_us);
  // Signature (this gateway's key only), issuer, audience, expiry, and that its id was issued and not revoked.
  // Each failure has a reason for the log; a client is only told that authentication failed.
  Result<VerifiedSessionToken> verify(std::string_view token, int64_t now_us) const;

  std::chrono::seconds ttl() const { return ttl_; }
  const jws::Key& key() const { return key_; }

 private:
  jws::Key key_;
  std::chrono::seconds ttl_;
  store::Store* store_;
};

// Who a presented secret (a PostgreSQL password, an HTTP bearer token) says its holder is. Shaped like a JWT: a
// token of a configured OIDC provider when its iss names one (the user is its username claim), else a session
// token (refused when `session_tokens` is null). Otherwise a static access token. Whoever it belongs to: a
// listener that knows the user name checks it. Never fetches (see OidcProvider).
Result<store::TokenInfo> identifyPresented(store::Store& store, const SessionTokens* session_tokens,
                                           const OidcProviders* oidc, std::string_view presented, int64_t now_us);

// When identifyPresented refused an OIDC token because its key id is unknown and the provider's keys are being
// fetched again: that provider (wait until its refreshWanted() clears, then try once more). Null otherwise.
OidcProvider* awaitingKeys(const OidcProviders* oidc, std::string_view presented);

// identifyPresented, waiting (blocking, at most `wait`) for such a fetch and trying once more. For threads that may
// block (the HTTP API's pool); a gateway worker waits on a timer instead.
Result<store::TokenInfo> identifyPresentedWaiting(store::Store& store, const SessionTokens* session_tokens,
                                                  const OidcProviders* oidc, std::string_view presented,
                                                  std::chrono::milliseconds wait);

// Whether a presented secret is shaped like a JWT (three base64url parts) rather than a Gatehouse access token.
bool looksLikeJwt(std::string_view secret);

// The gateway's signing key, from a file holding its 32-byte seed, created (mode 0600) the first time. Its key id
// is derived from the public key, so that every instance sharing the file names it alike.
Result<jws::Key> loadOrCreateSigningKey(const std::filesystem::path& path);

}  // namespace gatehouse::identity
