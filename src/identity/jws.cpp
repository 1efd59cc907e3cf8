// JWS compact tokens and JWT claim checks. See jws.h.
//
// Why this is written here rather than taken from a JWT library: the JWT libraries Debian 12 packages (libjwt 1.10,
// cjose 0.6, cpp-jwt) have no EdDSA, which the gateway's own session tokens use and some identity providers offer.
// OpenSSL 3 already verifies (and signs) RS256, ES256 and Ed25519 through one EVP interface, so all that is left
// is base64url, JSON and deciding which algorithm a key may be used with. That last part is where JWT libraries
// have repeatedly had algorithm-confusion bugs (accepting "none", or an HMAC "signature" keyed with an RSA public
// key), so here it is explicit: a key's algorithm comes from its type when it is loaded, and a token whose header
// names anything else is refused before any cryptography runs.
#include "identity/jws.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <array>
#include <bit>
#include <charconv>
#include <cmath>

#include <boost/json.hpp>

namespace gatehouse::identity::jws {

namespace json = boost::json;

namespace {

template <auto kFree>
struct Deleter {
  template <class T>
  void operator()(T* p) const { kFree(p); }
};
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr size_t kMinRsaBits = 2048;
constexpr size_t kP256CoordBytes = 32;
constexpr size_t kEd25519Bytes = 32;
constexpr size_t kShownChars = 40;  // how much of an attacker-chosen string an error message repeats

std::shared_ptr<EVP_PKEY> share(EVP_PKEY* raw) { return {raw, EVP_PKEY_free}; }

const unsigned char* bytesOf(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

// Error messages end up in logs; a token's header is chosen by whoever sent it, so repeat only a short, printable
// prefix of it.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kShownChars; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? s[i] : '?';
  }
  if (s.size() > kShownChars) {
    out += "...";
  }
  return out + "\"";
}

// A NumericDate for a message: 1700000000 prints as such, a fraction only when there is one, and no double that
// could be out of range is ever cast to an integer.
std::string seconds(double v) {
  std::array<char, 32> buf{};
  const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return {buf.data(), res.ptr};
}

int sextet(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

std::string bnBytes(const BIGNUM* bn) {
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// OpenSSL leaves the reason for a failed call on its thread-local error queue; drop it so it does not surface
// later as the cause of some unrelated failure (a TLS handshake on the same thread, say).
template <class T>
T clearErrors(T value) {
  ERR_clear_error();
  return value;
}

// --- JWK members ---

Result<std::string> jwkString(const json::object& jwk, std::string_view name) {
  const json::value* v = jwk.if_contains(name);
  if (v == nullptr) return makeError("JWK has no \"" + std::string(name) + "\"");
  if (!v->is_string()) return makeError("JWK \"" + std::string(name) + "\" is not a string");
  return std::string(v->get_string());
}

Result<std::string> jwkBytes(const json::object& jwk, std::string_view name) {
  auto text = jwkString(jwk, name);
  if (!text) return text.error();
  auto bytes = base64UrlDecode(*text);
  if (!bytes) return makeError("JWK \"" + std::string(name) + "\": " + bytes.error().message);
  return bytes;
}

std::string_view stripLeadingZeros(std::string_view b) {
  while (!b.empty() && b.front() == '\0') {
    b.remove_prefix(1);
  }
  return b;
}

// Builds a public key of `type` ("RSA", "EC") from OpenSSL parameters.
Result<std::shared_ptr<EVP_PKEY>> pkeyFromParams(const char* type, OSSL_PARAM_BLD* bld) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return clearErrors(makeError(std::string("OpenSSL refused the ") + type + " public key"));
  }
  return share(raw);
}

Result<std::shared_ptr<EVP_PKEY>> rsaFromJwk(const json::object& jwk) {
  auto n_bytes = jwkBytes(jwk, "n");
  if (!n_bytes) return n_bytes.error();
  auto e_bytes = jwkBytes(jwk, "e");
  if (!e_bytes) return e_bytes.error();
  const std::string_view n = stripLeadingZeros(*n_bytes);
  const std::string_view e = stripLeadingZeros(*e_bytes);
  if (n.empty()) return makeError("JWK RSA modulus is zero");
  const size_t bits = (n.size() - 1) * 8 + static_cast<size_t>(std::bit_width(static_cast<unsigned char>(n.front())));
  if (bits < kMinRsaBits) {
    return makeError("JWK RSA key of " + std::to_string(bits) + " bits is too short (at least " +
                     std::to_string(kMinRsaBits) + ")");
  }
  // e = 1 makes every message its own signature; an even e is no RSA key at all.
  if (e.empty() || (static_cast<unsigned char>(e.back()) & 1) == 0 || (e.size() == 1 && e.front() == '\1')) {
    return makeError("JWK RSA public exponent is not a usable odd number greater than 1");
  }
  BnPtr n_bn(BN_bin2bn(bytesOf(n), static_cast<int>(n.size()), nullptr));
  BnPtr e_bn(BN_bin2bn(bytesOf(e), static_cast<int>(e.size()), nullptr));
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!n_bn || !e_bn || !bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) != 1) {
    return clearErrors(makeError("out of memory building an RSA key"));
  }
  return pkeyFromParams("RSA", bld.get());
}

Result<std::shared_ptr<EVP_PKEY>> ecFromJwk(const json::object& jwk) {
  auto crv = jwkString(jwk, "crv");
  if (!crv) return crv.error();
  if (*crv != "P-256") return makeError("JWK EC curve " + quoted(*crv) + " is not supported (only P-256)");
  auto x = jwkBytes(jwk, "x");
  if (!x) return x.error();
  auto y = jwkBytes(jwk, "y");
  if (!y) return y.error();
  // RFC 7518 §6.2.1.2: each coordinate is exactly the size of the field.
  if (x->size() != kP256CoordBytes || y->size() != kP256CoordBytes) {
    return makeError("JWK EC coordinates must be 32 bytes each for P-256");
  }
  const std::string point = "\x04" + *x + *y;  // SEC 1 uncompressed point
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return clearErrors(makeError("out of memory building an EC key"));
  }
  auto pkey = pkeyFromParams("EC", bld.get());
  // An off-curve point invites invalid-curve attacks; OpenSSL checks it on import, and the explicit public-key
  // check makes that independent of how a given OpenSSL version imports.
  if (!pkey) return makeError("JWK EC point is not on the P-256 curve");
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey->get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    return clearErrors(makeError("JWK EC point is not on the P-256 curve"));
  }
  return pkey;
}

Result<std::shared_ptr<EVP_PKEY>> okpFromJwk(const json::object& jwk) {
  auto crv = jwkString(jwk, "crv");
  if (!crv) return crv.error();
  if (*crv != "Ed25519") return makeError("JWK OKP curve " + quoted(*crv) + " is not supported (only Ed25519)");
  auto x = jwkBytes(jwk, "x");
  if (!x) return x.error();
  if (x->size() != kEd25519Bytes) return makeError("JWK Ed25519 \"x\" must be 32 bytes");
  EVP_PKEY* raw = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytesOf(*x), x->size());
  if (raw == nullptr) return clearErrors(makeError("OpenSSL refused the Ed25519 public key"));
  return share(raw);
}

// --- tokens ---

Result<json::object> decodeObject(std::string_view part, std::string_view what) {
  auto bytes = base64UrlDecode(part);
  if (!bytes) return makeError("not a JWT: " + std::string(what) + " is not base64url (" + bytes.error().message + ")");
  // Of duplicate member names Boost.JSON keeps the last, one of the two behaviours RFC 7515 §5.2 allows.
  boost::system::error_code ec;
  json::value v = json::parse(*bytes, ec);
  if (ec) return makeError("not a JWT: " + std::string(what) + " is not JSON (" + ec.message() + ")");
  if (!v.is_object()) return makeError("not a JWT: " + std::string(what) + " is not a JSON object");
  return std::move(v.as_object());
}

// JWS carries ECDSA signatures as fixed-size r||s (RFC 7518 §3.4); OpenSSL wants DER.
Result<std::string> ecdsaRawToDer(std::string_view raw) {
  const size_t half = raw.size() / 2;
  BnPtr r(BN_bin2bn(bytesOf(raw), static_cast<int>(half), nullptr));
  BnPtr s(BN_bin2bn(bytesOf(raw.substr(half)), static_cast<int>(half), nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return clearErrors(makeError("out of memory converting an ES256 signature"));
  }
  (void)r.release();  // now owned by sig
  (void)s.release();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return clearErrors(makeError("cannot encode an ES256 signature"));
  std::string der(static_cast<size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return clearErrors(makeError("cannot encode an ES256 signature"));
  return der;
}

Result<std::optional<double>> numericDate(const json::object& claims, std::string_view name) {
  const json::value* v = claims.if_contains(name);
  if (v == nullptr) return std::optional<double>{};
  if (v->is_int64()) return std::optional<double>{static_cast<double>(v->get_int64())};
  if (v->is_uint64()) return std::optional<double>{static_cast<double>(v->get_uint64())};
  // Boost.JSON reads an out-of-range literal such as 1e400 as infinity, which no comparison should accept.
  if (v->is_double() && std::isfinite(v->get_double())) return std::optional<double>{v->get_double()};
  return makeError("token claim \"" + std::string(name) + "\" is not a finite number");
}

}  // namespace

// --- base64url ---

std::string base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3f];
    }
    acc &= (1u << bits) - 1;
  }
  if (bits > 0) {
    out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  }
  return out;
}

Result<std::string> base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return makeError("base64url of impossible length " + std::to_string(text.size()));
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = sextet(c);
    if (v < 0) return makeError("character outside the base64url alphabet");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
      acc &= (1u << bits) - 1;
    }
  }
  // What is left is padding inside the last character; a canonical encoder leaves it zero.
  if (acc != 0) return makeError("non-zero trailing bits in base64url");
  return out;
}

// --- algorithms ---

std::optional<Alg> algFromName(std::string_view name) {
  if (name == "RS256") return Alg::kRS256;
  if (name == "ES256") return Alg::kES256;
  if (name == "EdDSA") return Alg::kEdDSA;
  return std::nullopt;
}

std::string_view algName(Alg alg) {
  switch (alg) {
    case Alg::kRS256: return "RS256";
    case Alg::kES256: return "ES256";
    case Alg::kEdDSA: return "EdDSA";
  }
  return "?";
}

// --- Key ---

Result<Key> Key::fromJwk(const json::object& jwk) {
  auto kty = jwkString(jwk, "kty");
  if (!kty) return kty.error();
  Alg alg{};
  if (*kty == "RSA") {
    alg = Alg::kRS256;
  } else if (*kty == "EC") {
    alg = Alg::kES256;
  } else if (*kty == "OKP") {
    alg = Alg::kEdDSA;
  } else {
    return makeError("JWK kty " + quoted(*kty) + " is not supported (RSA, EC or OKP)");
  }
  if (const json::value* use = jwk.if_contains("use")) {
    if (!use->is_string() || use->get_string() != "sig") {
      return makeError("JWK \"use\" is not \"sig\": the key is not for signatures");
    }
  }
  if (const json::value* a = jwk.if_contains("alg")) {
    if (!a->is_string() || a->get_string() != algName(alg)) {
      const std::string shown = a->is_string() ? quoted(a->get_string()) : "(not a string)";
      return makeError("JWK alg " + shown + " does not match kty " + quoted(*kty) + ", which is used only with " +
                       std::string(algName(alg)));
    }
  }
  std::string kid;
  if (const json::value* k = jwk.if_contains("kid")) {
    if (!k->is_string()) return makeError("JWK \"kid\" is not a string");
    kid = std::string(k->get_string());
  }
  Result<std::shared_ptr<EVP_PKEY>> pkey = alg == Alg::kRS256   ? rsaFromJwk(jwk)
                                           : alg == Alg::kES256 ? ecFromJwk(jwk)
                                                                : okpFromJwk(jwk);
  if (!pkey) return pkey.error();
  return Key(std::move(*pkey), alg, std::move(kid), false);
}

Result<Key> Key::generateEd25519(std::string kid) {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (raw == nullptr) return clearErrors(makeError("cannot generate an Ed25519 key"));
  return Key(share(raw), Alg::kEdDSA, std::move(kid), true);
}

Result<Key> Key::ed25519FromSeed(std::string_view seed32, std::string kid) {
  if (seed32.size() != kEd25519Bytes) {
    return makeError("an Ed25519 seed is 32 bytes, not " + std::to_string(seed32.size()));
  }
  EVP_PKEY* raw = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, bytesOf(seed32), seed32.size());
  if (raw == nullptr) return clearErrors(makeError("OpenSSL refused the Ed25519 seed"));
  return Key(share(raw), Alg::kEdDSA, std::move(kid), true);
}

Result<std::string> Key::ed25519Seed() const {
  if (alg_ != Alg::kEdDSA || !has_private_) return makeError("not a private Ed25519 key");
  std::string seed(kEd25519Bytes, '\0');
  size_t len = seed.size();
  if (EVP_PKEY_get_raw_private_key(pkey_.get(), reinterpret_cast<unsigned char*>(seed.data()), &len) != 1 ||
      len != kEd25519Bytes) {
    return clearErrors(makeError("cannot read the Ed25519 seed"));
  }
  return seed;
}

// The parameters come from a key this class built, so OpenSSL failing to hand them back means memory ran out;
// the member is then left empty, and a JWK with an empty member is refused by anyone who loads it.
json::object Key::publicJwk() const {
  json::object jwk;
  auto bnParam = [this](const char* name, size_t pad) {
    BIGNUM* raw = nullptr;
    if (EVP_PKEY_get_bn_param(pkey_.get(), name, &raw) != 1) return clearErrors(std::string());
    const BnPtr bn(raw);
    if (pad == 0) return base64UrlEncode(bnBytes(bn.get()));
    std::string out(pad, '\0');
    if (BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(pad)) < 0) {
      return std::string();
    }
    return base64UrlEncode(out);
  };
  switch (alg_) {
    case Alg::kRS256:
      jwk["kty"] = "RSA";
      jwk["n"] = bnParam(OSSL_PKEY_PARAM_RSA_N, 0);
      jwk["e"] = bnParam(OSSL_PKEY_PARAM_RSA_E, 0);
      break;
    case Alg::kES256:
      jwk["kty"] = "EC";
      jwk["crv"] = "P-256";
      jwk["x"] = bnParam(OSSL_PKEY_PARAM_EC_PUB_X, kP256CoordBytes);
      jwk["y"] = bnParam(OSSL_PKEY_PARAM_EC_PUB_Y, kP256CoordBytes);
      break;
    case Alg::kEdDSA: {
      jwk["kty"] = "OKP";
      jwk["crv"] = "Ed25519";
      std::string x(kEd25519Bytes, '\0');
      size_t len = x.size();
      if (EVP_PKEY_get_raw_public_key(pkey_.get(), reinterpret_cast<unsigned char*>(x.data()), &len) == 1) {
        x.resize(len);
        jwk["x"] = base64UrlEncode(x);
      } else {
        jwk["x"] = clearErrors(std::string());
      }
      break;
    }
  }
  if (!kid_.empty()) {
    jwk["kid"] = kid_;
  }
  jwk["alg"] = algName(alg_);
  jwk["use"] = "sig";
  return jwk;
}

// --- tokens ---

Result<Parsed> parse(std::string_view token) {
  if (token.size() > kMaxTokenBytes) {
    return makeError("not a JWT: longer than " + std::to_string(kMaxTokenBytes) + " bytes");
  }
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return makeError("not a JWT: expected three parts, header.payload.signature");
  }
  const std::string_view header = token.substr(0, dot1);
  const std::string_view payload = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature = token.substr(dot2 + 1);
  if (header.empty() || payload.empty()) return makeError("not a JWT: empty header or payload");
  if (signature.empty()) return makeError("not a JWT: no signature (unsigned tokens are not accepted)");
  auto h = decodeObject(header, "header");
  if (!h) return h.error();
  auto c = decodeObject(payload, "payload");
  if (!c) return c.error();
  auto sig = base64UrlDecode(signature);
  if (!sig) return makeError("not a JWT: signature is not base64url (" + sig.error().message + ")");
  return Parsed{.header = std::move(*h),
                .claims = std::move(*c),
                .signing_input = std::string(token.substr(0, dot2)),
                .signature = std::move(*sig)};
}

std::string kidOf(const Parsed& p) {
  const json::value* kid = p.header.if_contains("kid");
  return kid != nullptr && kid->is_string() ? std::string(kid->get_string()) : std::string();
}

Result<void> verify(const Parsed& p, const Key& key) {
  // The algorithm is the key's; the header may only agree with it. Trusting the header to choose is what lets
  // "none" or an HMAC keyed with a public key through.
  const json::value* alg = p.header.if_contains("alg");
  if (alg == nullptr) return makeError("token header has no \"alg\"");
  if (!alg->is_string()) return makeError("token header \"alg\" is not a string");
  const std::optional<Alg> named = algFromName(alg->get_string());
  if (!named || *named != key.alg()) {
    return makeError("token alg " + quoted(alg->get_string()) + " refused: the key" +
                     (key.kid().empty() ? "" : " " + quoted(key.kid())) + " is only for " +
                     std::string(algName(key.alg())));
  }
  // RFC 7515 §4.1.11: a recipient must refuse a token whose critical extensions it does not understand, and we
  // understand none.
  if (p.header.contains("crit")) return makeError("token header has \"crit\": no JWS extensions are supported");
  std::string_view sig = p.signature;
  std::string der;
  const EVP_MD* md = nullptr;  // Ed25519 hashes internally and takes no digest
  if (key.alg() == Alg::kRS256) {
    md = EVP_sha256();
  } else if (key.alg() == Alg::kES256) {
    if (sig.size() != 2 * kP256CoordBytes) {
      return makeError("ES256 signature is " + std::to_string(sig.size()) + " bytes, not 64");
    }
    auto converted = ecdsaRawToDer(sig);
    if (!converted) return converted.error();
    der = std::move(*converted);
    sig = der;
    md = EVP_sha256();
  }
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.pkey()) != 1) {
    return clearErrors(makeError("cannot set up signature verification"));
  }
  const int rc = EVP_DigestVerify(ctx.get(), bytesOf(sig), sig.size(), bytesOf(p.signing_input),
                                  p.signing_input.size());
  if (rc != 1) {
    return clearErrors(makeError("token signature does not verify (" + std::string(algName(key.alg())) + ")"));
  }
  return {};
}

Result<std::string> sign(const json::object& claims, const Key& key) {
  if (!key.hasPrivate()) return makeError("signing needs a private key");
  if (key.alg() != Alg::kEdDSA) return makeError("only EdDSA tokens can be signed");
  json::object header;
  header["alg"] = algName(key.alg());
  header["typ"] = "JWT";
  if (!key.kid().empty()) {
    header["kid"] = key.kid();
  }
  std::string token = base64UrlEncode(json::serialize(header)) + "." + base64UrlEncode(json::serialize(claims));
  std::string sig(64, '\0');  // Ed25519 signatures are always 64 bytes
  size_t len = sig.size();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.pkey()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, bytesOf(token), token.size()) !=
          1) {
    return clearErrors(makeError("cannot sign the token"));
  }
  sig.resize(len);
  return token + "." + base64UrlEncode(sig);
}

// --- claims ---

Result<void> checkClaims(const json::object& claims, const ClaimRules& rules) {
  if (rules.issuer.empty()) return makeError("no issuer configured to check the token's \"iss\" against");
  const json::value* iss = claims.if_contains("iss");
  if (iss == nullptr || !iss->is_string()) return makeError("token has no \"iss\" string");
  if (iss->get_string() != rules.issuer) {
    return makeError("token \"iss\" " + quoted(iss->get_string()) + " is not the expected issuer " +
                     quoted(rules.issuer));
  }

  if (!rules.audiences.empty()) {
    const json::value* aud = claims.if_contains("aud");
    if (aud == nullptr) return makeError("token has no \"aud\"");
    std::vector<std::string_view> named;
    if (aud->is_string()) {
      named.push_back(aud->get_string());
    } else if (aud->is_array()) {
      for (const json::value& a : aud->get_array()) {
        if (!a.is_string()) return makeError("token \"aud\" array holds something other than strings");
        named.push_back(a.get_string());
      }
    } else {
      return makeError("token \"aud\" is neither a string nor an array of strings");
    }
    bool match = false;
    for (std::string_view n : named) {
      for (const std::string& want : rules.audiences) {
        match = match || n == want;
      }
    }
    if (!match) {
      return makeError("token \"aud\" does not name this audience (" + quoted(rules.audiences.front()) +
                       (rules.audiences.size() > 1 ? " or another accepted one)" : ")"));
    }
  }

  auto exp = numericDate(claims, "exp");
  if (!exp) return exp.error();
  auto nbf = numericDate(claims, "nbf");
  if (!nbf) return nbf.error();
  auto iat = numericDate(claims, "iat");
  if (!iat) return iat.error();
  const auto now = static_cast<double>(rules.now_s);
  const auto leeway = static_cast<double>(rules.leeway_s);
  if (!exp->has_value()) {
    if (rules.require_exp) return makeError("token has no \"exp\"");
  } else if (!(**exp > now - leeway)) {
    return makeError("token expired: \"exp\" " + seconds(**exp) + " is before now " + seconds(now) +
                     " minus the leeway of " + seconds(leeway) + " s");
  }
  if (nbf->has_value() && **nbf > now + leeway) {
    return makeError("token not valid yet: \"nbf\" " + seconds(**nbf) + " is after now " + seconds(now) +
                     " plus the leeway of " + seconds(leeway) + " s");
  }
  if (iat->has_value() && **iat > now + leeway) {
    return makeError("token issued in the future: \"iat\" " + seconds(**iat) + " is after now " + seconds(now) +
                     " plus the leeway of " + seconds(leeway) + " s");
  }
  if (rules.max_lifetime_s > 0) {
    if (!exp->has_value()) return makeError("token has no \"exp\", but its lifetime is limited");
    const double start = iat->has_value() ? **iat : now;
    const double lifetime = **exp - start;
    const auto limit = static_cast<double>(rules.max_lifetime_s);
    if (lifetime > limit) {
      return makeError("token lifetime of " + seconds(lifetime) + " s (\"exp\" - " +
                       (iat->has_value() ? "\"iat\"" : "now") + ") exceeds the maximum of " + seconds(limit) + " s");
    }
  }
  return {};
}

}  // namespace gatehouse::identity::jws
