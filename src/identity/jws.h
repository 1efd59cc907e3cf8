// JWS compact serialization and JWT claim checks (RFC 7515, 7517, 7518, 7519, 8037), limited to what Gatehouse
// needs: verifying identity providers' OIDC tokens (RS256, ES256, EdDSA) and signing and verifying the gateway's
// own short-lived session tokens (EdDSA with Ed25519).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <openssl/types.h>

#include "core/result.h"

namespace gatehouse::identity::jws {

// RFC 4648 §5 base64url without padding, as JWS uses it.
std::string base64UrlEncode(std::string_view bytes);
// Strict: the URL alphabet only, no padding, no whitespace; refuses lengths no encoder produces (len % 4 == 1)
// and non-zero trailing bits, so each byte string has exactly one accepted encoding.
Result<std::string> base64UrlDecode(std::string_view text);

enum class Alg { kRS256, kES256, kEdDSA };
// Exactly "RS256", "ES256" or "EdDSA"; anything else ("none", "HS256", "RS384", "rs256", ...) is nullopt.
std::optional<Alg> algFromName(std::string_view name);
std::string_view algName(Alg alg);

// A public (or, for Ed25519, private) key bound to exactly one algorithm: RSA -> RS256, EC P-256 -> ES256,
// OKP Ed25519 -> EdDSA. The binding comes from the key's type, never from a token's header.
class Key {
 public:
  // kty RSA (n, e; modulus at least 2048 bits) | EC (crv P-256, x, y; the point must be on the curve) |
  // OKP (crv Ed25519, x). Optional "kid"; "alg", if present, must be the key type's algorithm; "use", if present,
  // must be "sig". Private members (d, p, q, ...) are ignored: only the public key is loaded.
  static Result<Key> fromJwk(const boost::json::object& jwk);
  // A new private Ed25519 key.
  static Result<Key> generateEd25519(std::string kid);
  // A private Ed25519 key from its 32-byte seed (RFC 8032 §5.1.5), the form in which it is stored in a file.
  static Result<Key> ed25519FromSeed(std::string_view seed32, std::string kid);

  // The 32-byte seed of a private Ed25519 key; an error for any other key.
  Result<std::string> ed25519Seed() const;
  // {"kty", "crv" | "n", "e", "x", "y", "kid" (when not empty), "alg", "use": "sig"}: never private material.
  boost::json::object publicJwk() const;

  Alg alg() const { return alg_; }
  const std::string& kid() const { return kid_; }
  bool hasPrivate() const { return has_private_; }
  EVP_PKEY* pkey() const { return pkey_.get(); }  // for the OpenSSL calls in jws.cpp

 private:
  Key(std::shared_ptr<EVP_PKEY> pkey, Alg alg, std::string kid, bool has_private)
      : pkey_(std::move(pkey)), alg_(alg), kid_(std::move(kid)), has_private_(has_private) {}

  std::shared_ptr<EVP_PKEY> pkey_;  // immutable once built, so copies may share it
  Alg alg_;
  std::string kid_;
  bool has_private_;
};

struct Parsed {
  boost::json::object header;
  boost::json::object claims;
  std::string signing_input;  // "<b64 header>.<b64 payload>" exactly as received
  std::string signature;      // decoded bytes
};

// Longest token parse() accepts; real ID and session tokens are a few KiB at most.
inline constexpr size_t kMaxTokenBytes = size_t{16} * 1024;

// Splits a compact JWS (exactly three non-empty base64url parts) and decodes header and payload, each of which
// must be a JSON object. Checks nothing about the signature: call verify() before trusting anything in it.
Result<Parsed> parse(std::string_view token);
// The header's "kid" if it is a string, else "": which key of a JWKS to try.
std::string kidOf(const Parsed& p);
// The header's "alg" must be a string naming key.alg() exactly, "crit" must be absent (we understand no
// extensions), and the signature must verify with the key.
Result<void> verify(const Parsed& p, const Key& key);
// Signs `claims` with a private key: header {"alg", "typ": "JWT", "kid" (when not empty)}; returns the compact
// token. Only Ed25519 keys can be private here.
Result<std::string> sign(const boost::json::object& claims, const Key& key);

// Registered-claim checks (RFC 7519 §4.1) for a verified token.
struct ClaimRules {
  std::string issuer;                  // "iss" must equal it exactly (an empty issuer refuses every token)
  std::vector<std::string> audiences;  // "aud" (a string or array of strings) must hold one of them; empty: unchecked
  int64_t now_s = 0;                   // unix seconds
  int64_t leeway_s = 60;               // allowed clock skew between us and the issuer
  bool require_exp = true;
  int64_t max_lifetime_s = 0;          // 0: no limit; else exp - iat (or exp - now without iat) may not exceed it
};
// Each failure names the claim. Numeric dates must be JSON numbers (integer or not), never strings.
Result<void> checkClaims(const boost::json::object& claims, const ClaimRules& rules);

}  // namespace gatehouse::identity::jws
