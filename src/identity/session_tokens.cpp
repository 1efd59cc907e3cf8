// Gatehouse session tokens; see session_tokens.h.
#include "identity/session_tokens.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "core/files.h"
#include "core/hex.h"
#include "identity/tokens.h"

namespace gatehouse::identity {

namespace json = boost::json;

namespace {

// Clocks of gateway instances sharing a store may differ a little.
constexpr int64_t kLeewaySeconds = 30;

Result<std::string> newTokenId() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    return makeError("cannot generate a token id: no randomness from OpenSSL");
  return "gst_" + core::toHex(bytes.data(), bytes.size());
}

Result<std::vector<std::string>> stringArray(const json::object& claims, std::string_view name) {
  std::vector<std::string> out;
  const auto* v = claims.if_contains(name);
  if (!v) return out;
  if (!v->is_array()) return makeError("claim '" + std::string(name) + "' is not an array");
  for (const auto& item : v->as_array()) {
    if (!item.is_string()) return makeError("claim '" + std::string(name) + "' holds a non-string");
    out.emplace_back(item.as_string());
  }
  return out;
}

std::string stringClaim(const json::object& claims, std::string_view name) {
  const auto* v = claims.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

bool looksLikeJwt(std::string_view secret) {
  std::size_t dots = 0;
  for (char c : secret) {
    if (c == '.') {
      ++dots;
    } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                 c == '_')) {
      return false;
    }
  }
  return dots == 2 && secret.size() > 16;
}

Result<IssuedSessionToken> SessionTokens::issue(const SessionIdentity& identity, int64_t now_us) {
  if (identity.subject.empty()) return makeError("a session token needs a subject");
  auto id = newTokenId();
  if (!id) return id.error();
  const int64_t now_s = now_us / 1'000'000;
  const int64_t exp_s = now_s + ttl_.count();
  json::array groups;
  for (const auto& g : identity.groups) groups.emplace_back(g);
  const json::object claims{{"iss", kIssuer}, {"aud", kIssuer},         {"sub", identity.subject},
                            {"groups", groups}, {"src", identity.source}, {"iat", now_s},
                            {"exp", exp_s},     {"jti", *id}};
  auto token = jws::sign(claims, key_);
  if (!token) return token.error();
  // Recorded before it is handed out: a token the store does not know is refused (see verify).
  const store::SessionTokenRow row{.id = *id,
                                   .subject = identity.subject,
                                   .groups = identity.groups,
                                   .source = identity.source,
                                   .issued_at_us = now_s * 1'000'000,
                                   .expires_at_us = exp_s * 1'000'000,
                                   .revoked_at_us = std::nullopt};
  if (auto r = store_->recordSessionToken(row); !r) return r.error();
  return IssuedSessionToken{.token = std::move(*token), .id = std::move(*id), .expires_at_us = row.expires_at_us};
}

Result<VerifiedSessionToken> SessionTokens::verify(std::string_view token, int64_t now_us) const {
  auto parsed = jws::parse(token);
  if (!parsed) return parsed.error();
  if (jws::kidOf(*parsed) != key_.kid()) return makeError("session token signed by an unknown key");
  if (auto r = jws::verify(*parsed, key_); !r) return r.error();
  const jws::ClaimRules rules{.issuer = std::string(kIssuer),
                              .audiences = {std::string(kIssuer)},
                              .now_s = now_us / 1'000'000,
                              .leeway_s = kLeewaySeconds,
                              .require_exp = true,
                              .max_lifetime_s = 0};
  if (auto r = jws::checkClaims(parsed->claims, rules); !r) return r.error();
  VerifiedSessionToken out;
  out.id = stringClaim(parsed->claims, "jti");
  out.identity.subject = stringClaim(parsed->claims, "sub");
  out.identity.source = stringClaim(parsed->claims, "src");
  if (out.id.empty() || out.identity.subject.empty()) return makeError("session token without jti or sub");
  auto groups = stringArray(parsed->claims, "groups");
  if (!groups) return groups.error();
  out.identity.groups = std::move(*groups);
  const auto* exp = parsed->claims.if_contains("exp");
  out.expires_at_us = exp && exp->is_int64() ? exp->as_int64() * 1'000'000 : 0;
  // Fail closed: a store that cannot answer refuses the token.
  auto recorded = store_->findSessionToken(out.id);
  if (!recorded) return makeError("cannot check the session token's revocation: " + recorded.error().message);
  if (!*recorded) return makeError("session token " + out.id + " was not issued by this gateway's store");
  if ((*recorded)->revoked_at_us) return makeError("session token " + out.id + " is revoked");
  return out;
}

Result<store::TokenInfo> identifyPresented(store::Store& store, const SessionTokens* session_tokens,
                                           const OidcProviders* oidc, std::string_view presented, int64_t now_us) {
  if (!looksLikeJwt(presented)) return identifyToken(store, presented);
  if (auto* provider = oidc ? oidc->forToken(presented) : nullptr) {
    auto who = provider->verify(presented, now_us / 1'000'000);
    if (!who) return makeError("OIDC token from " + provider->config().name + ": " + who.error().message);
    return store::TokenInfo{.id = "oidc:" + provider->config().name + ":" + who->subject,
                            .user = who->username,
                            .groups = who->groups,
                            .created_at_us = 0,
                            .revoked_at_us = std::nullopt};
  }
  if (!session_tokens) return makeError("session tokens are not enabled on this gateway");
  auto verified = session_tokens->verify(presented, now_us);
  if (!verified) return verified.error();
  return store::TokenInfo{.id = verified->id,
                          .user = verified->identity.subject,
                          .groups = verified->identity.groups,
                          .created_at_us = verified->expires_at_us - session_tokens->ttl().count() * 1'000'000,
                          .revoked_at_us = std::nullopt};
}

namespace {
int64_t nowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

OidcProvider* awaitingKeys(const OidcProviders* oidc, std::string_view presented) {
  auto* provider = oidc ? oidc->forToken(presented) : nullptr;
  return provider && provider->refreshWanted() ? provider : nullptr;
}

Result<store::TokenInfo> identifyPresentedWaiting(store::Store& store, const SessionTokens* session_tokens,
                                                  const OidcProviders* oidc, std::string_view presented,
                                                  std::chrono::milliseconds wait) {
  auto who = identifyPresented(store, session_tokens, oidc, presented, nowMicros());
  if (who) return who;
  const auto* provider = awaitingKeys(oidc, presented);
  if (!provider) return who;
  const auto until = std::chrono::steady_clock::now() + wait;
  while (provider->refreshWanted() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return identifyPresented(store, session_tokens, oidc, presented, nowMicros());
}

Result<jws::Key> loadOrCreateSigningKey(const std::filesystem::path& path) {
  std::string seed;
  if (std::ifstream in(path, std::ios::binary); in) {
    seed.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (seed.size() != 32)
      return makeError("the session signing key " + path.string() + " is not a 32-byte Ed25519 seed");
  } else {
    auto fresh = jws::Key::generateEd25519("new");
    if (!fresh) return fresh.error();
    auto bytes = fresh->ed25519Seed();
    if (!bytes) return bytes.error();
    seed = std::move(*bytes);
    if (auto w = core::writeFileAtomically(path, seed, 0600); !w) return w.error();
  }
  auto key = jws::Key::ed25519FromSeed(seed, "new");
  if (!key) return key.error();
  // The key id: the first 8 bytes of the SHA-256 of the public key's JWK "x", hex.
  const auto jwk = key->publicJwk();
  const auto* x = jwk.if_contains("x");
  if (!x || !x->is_string()) return makeError("cannot derive the signing key's id");
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(x->as_string().data()), x->as_string().size(), digest.data());
  return jws::Key::ed25519FromSeed(seed, "gh-" + core::toHex(digest.data(), 8));
}

}  // namespace gatehouse::identity
