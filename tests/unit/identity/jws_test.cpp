// JWS/JWT: base64url, keys from JWKs, RS256/ES256/EdDSA verification (against keys made here with OpenSSL and
// against the RFC 7515 / RFC 8037 examples), the refusals that prevent algorithm confusion, and claim checks.
#include "identity/jws.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/json.hpp>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

namespace gatehouse::identity::jws {
namespace {

namespace json = boost::json;

template <auto kFree>
struct Deleter {
  template <class T>
  void operator()(T* p) const { kFree(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;

constexpr int64_t kNow = 1'700'000'000;

const unsigned char* bytesOf(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

std::string randomBytes(std::mt19937& rng, size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::string b64(std::string_view s) { return base64UrlEncode(s); }

std::string unb64(std::string_view s) {
  auto r = base64UrlDecode(s);
  EXPECT_TRUE(r) << s;
  return r ? *r : std::string();
}

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

json::object sampleClaims() {
  return json::object{{"iss", "https://idp.example"}, {"sub", "alice"}, {"aud", "gatehouse"},
                      {"iat", kNow}, {"exp", kNow + 300}};
}

// Signs a signing input with OpenSSL directly: for other algorithms, and for tokens sign() would never produce.
std::string signRaw(EVP_PKEY* pkey, const EVP_MD* md, std::string_view input) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, pkey), 1);
  EXPECT_EQ(EVP_DigestSign(ctx.get(), nullptr, &len, bytesOf(input), input.size()), 1);
  std::string sig(len, '\0');
  auto* out = reinterpret_cast<unsigned char*>(sig.data());
  EXPECT_EQ(EVP_DigestSign(ctx.get(), out, &len, bytesOf(input), input.size()), 1);
  sig.resize(len);
  return sig;
}

std::string compact(std::string_view header_json, std::string_view payload_json, EVP_PKEY* pkey, const EVP_MD* md) {
  const std::string input = b64(header_json) + "." + b64(payload_json);
  return input + "." + b64(signRaw(pkey, md, input));
}

// ECDSA in OpenSSL produces DER; JWS wants r||s, each padded to 32 bytes.
std::string derToRaw(std::string_view der) {
  const unsigned char* p = bytesOf(der);
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  EXPECT_TRUE(sig);
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  EXPECT_EQ(BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, 32), 32);
  EXPECT_EQ(BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + 32, 32), 32);
  return raw;
}

std::string bnParam(EVP_PKEY* pkey, const char* name, int pad) {
  BIGNUM* raw = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(pkey, name, &raw), 1);
  BnPtr bn(raw);
  const int size = pad > 0 ? pad : BN_num_bytes(bn.get());
  std::string out(static_cast<size_t>(size), '\0');
  EXPECT_EQ(BN_bn2binpad(bn.get(), reinterpret_cast<unsigned char*>(out.data()), size), size);
  return out;
}

// Key generation is slow under the sanitizers, so each kind is made once.
EVP_PKEY* rsaKey() {
  static PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}));
  return key.get();
}
EVP_PKEY* ecKey() {
  static PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  return key.get();
}

// JWKs as an identity provider publishes them: big-endian integers, EC coordinates padded to 32 bytes.
json::object rsaJwk(EVP_PKEY* pkey) {
  return {{"kty", "RSA"}, {"n", b64(bnParam(pkey, OSSL_PKEY_PARAM_RSA_N, 0))},
          {"e", b64(bnParam(pkey, OSSL_PKEY_PARAM_RSA_E, 0))}, {"kid", "rsa-1"}};
}
json::object ecJwk(EVP_PKEY* pkey) {
  return {{"kty", "EC"}, {"crv", "P-256"}, {"x", b64(bnParam(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
          {"y", b64(bnParam(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}, {"kid", "ec-1"}};
}

Key mustKey(Result<Key> k) {
  if (k) return std::move(k).value();
  ADD_FAILURE() << k.error().message;
  return *Key::generateEd25519("stand-in");  // lets the test go on to fail rather than crash
}

Parsed mustParse(std::string_view token) {
  auto p = parse(token);
  EXPECT_TRUE(p) << (p ? "" : p.error().message);
  return p ? *p : Parsed{};
}

// Edits one part (0 header, 1 payload, 2 signature) of a compact token in decoded form and encodes it again, so the
// token still parses and only the signature check can refuse it.
std::string tamper(std::string_view token, size_t part, const std::function<void(std::string&)>& edit) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot = token.find('.'); dot != std::string_view::npos; dot = token.find('.', start)) {
    parts.emplace_back(token.substr(start, dot - start));
    start = dot + 1;
  }
  parts.emplace_back(token.substr(start));
  std::string decoded = unb64(parts.at(part));
  edit(decoded);
  parts.at(part) = b64(decoded);
  return parts[0] + "." + parts[1] + "." + parts[2];
}

template <class T>
void expectRefused(const Result<T>& r, std::string_view mentions) {
  ASSERT_FALSE(r) << "expected a refusal mentioning " << mentions;
  EXPECT_NE(r.error().message.find(mentions), std::string::npos) << r.error().message;
}

// --- base64url ---

TEST(Base64Url, RoundTripsEveryLengthUpTo70) {
  std::mt19937 rng(20240601);
  for (size_t n = 0; n <= 70; ++n) {
    const std::string bytes = randomBytes(rng, n);
    const std::string text = base64UrlEncode(bytes);
    EXPECT_EQ(text.size(), (n * 4 + 2) / 3) << n;
    EXPECT_EQ(text.find_first_of("+/="), std::string::npos) << text;
    auto back = base64UrlDecode(text);
    ASSERT_TRUE(back) << n << ": " << back.error().message;
    EXPECT_EQ(*back, bytes) << n;
  }
}

TEST(Base64Url, MatchesRfc4648Examples) {
  EXPECT_EQ(base64UrlEncode(""), "");
  EXPECT_EQ(base64UrlEncode("f"), "Zg");
  EXPECT_EQ(base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64UrlEncode("\xfb\xff"), "-_8");  // the two URL-alphabet characters
  EXPECT_EQ(unb64("-_8"), "\xfb\xff");
}

TEST(Base64Url, DecodeIsStrict) {
  const std::initializer_list<std::string_view> bad = {
      "+_8", "-/8",                             // the standard alphabet
      "Zg==", "Zm8=", "Zg=",                    // padding
      "Zm9v ", " Zm9v", "Zm\n9v", "Zm9v\r",     // whitespace
      "A", "Zm9vA",                             // len % 4 == 1 encodes no byte string
      "Zh", "Zm9",                              // "f" is "Zg" and "fo" is "Zm8": these set trailing bits
      std::string_view("Zg\0", 3), "Zg.A",
  };
  for (std::string_view text : bad) EXPECT_FALSE(base64UrlDecode(text)) << text;
  EXPECT_TRUE(base64UrlDecode(""));
}

TEST(Alg, OnlyTheThreeExactNames) {
  EXPECT_EQ(algFromName("RS256"), Alg::kRS256);
  EXPECT_EQ(algFromName("ES256"), Alg::kES256);
  EXPECT_EQ(algFromName("EdDSA"), Alg::kEdDSA);
  for (const char* name : {"none", "None", "HS256", "RS384", "PS256", "ES384", "rs256", "EDDSA", "Ed25519", ""}) {
    EXPECT_FALSE(algFromName(name)) << name;
  }
  for (Alg a : {Alg::kRS256, Alg::kES256, Alg::kEdDSA}) {
    EXPECT_EQ(algFromName(algName(a)), a);
  }
}

// --- Ed25519 ---

TEST(Ed25519, SignParseVerify) {
  const Key key = mustKey(Key::generateEd25519("session-1"));
  EXPECT_TRUE(key.hasPrivate());
  EXPECT_EQ(key.alg(), Alg::kEdDSA);
  auto token = sign(sampleClaims(), key);
  ASSERT_TRUE(token) << token.error().message;
  const Parsed p = mustParse(*token);
  EXPECT_EQ(p.header.at("alg").as_string(), "EdDSA");
  EXPECT_EQ(p.header.at("typ").as_string(), "JWT");
  EXPECT_EQ(kidOf(p), "session-1");
  EXPECT_EQ(p.claims, sampleClaims());
  EXPECT_EQ(p.signature.size(), 64u);
  EXPECT_TRUE(verify(p, key));
}

TEST(Ed25519, TamperedTokensAreRefused) {
  const Key key = mustKey(Key::generateEd25519("k"));
  const std::string token = *sign(sampleClaims(), key);
  const std::string payload = tamper(token, 1, [](std::string& s) { s.replace(s.find("alice"), 5, "alicf"); });
  const std::string header = tamper(token, 0, [](std::string& s) { s.replace(s.find("JWT"), 3, "JWS"); });
  const std::string signature = tamper(token, 2, [](std::string& s) { s[10] = static_cast<char>(s[10] ^ 1); });
  for (const std::string& bad : {payload, header, signature}) {
    ASSERT_NE(bad, token);
    const Parsed p = mustParse(bad);
    expectRefused(verify(p, key), "does not verify");
  }
}

TEST(Ed25519, AnotherKeyIsRefused) {
  const Key key = mustKey(Key::ed25519FromSeed(std::string(32, '\x01'), "a"));
  const Key other = mustKey(Key::ed25519FromSeed(std::string(32, '\x02'), "a"));
  const Parsed p = mustParse(*sign(sampleClaims(), key));
  EXPECT_TRUE(verify(p, key));
  expectRefused(verify(p, other), "does not verify");
}

TEST(Ed25519, SeedRoundTrip) {
  const Key key = mustKey(Key::generateEd25519("k"));
  auto seed = key.ed25519Seed();
  ASSERT_TRUE(seed) << seed.error().message;
  ASSERT_EQ(seed->size(), 32u);
  const Key again = mustKey(Key::ed25519FromSeed(*seed, "k"));
  EXPECT_EQ(again.publicJwk(), key.publicJwk());
  const Parsed p = mustParse(*sign(sampleClaims(), key));
  EXPECT_TRUE(verify(p, again));
  // Ed25519 is deterministic: the same seed signs the same claims identically.
  EXPECT_EQ(*sign(sampleClaims(), again), *sign(sampleClaims(), key));

  EXPECT_FALSE(Key::ed25519FromSeed(std::string(31, 'x'), "k"));
  EXPECT_FALSE(Key::ed25519FromSeed(std::string(33, 'x'), "k"));
}

TEST(Ed25519, PublicJwkRoundTrip) {
  const Key key = mustKey(Key::generateEd25519("pub"));
  const json::object jwk = key.publicJwk();
  ASSERT_TRUE(jwk.contains("x"));
  EXPECT_EQ(unb64(jwk.at("x").as_string()).size(), 32u);
  // Exactly these members: in particular no private "d".
  EXPECT_EQ(jwk, (json::object{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", jwk.at("x")}, {"kid", "pub"},
                               {"alg", "EdDSA"}, {"use", "sig"}}));
  const Key pub = mustKey(Key::fromJwk(jwk));
  EXPECT_FALSE(pub.hasPrivate());
  EXPECT_EQ(pub.kid(), "pub");
  EXPECT_FALSE(pub.ed25519Seed());
  EXPECT_FALSE(sign(sampleClaims(), pub));
  EXPECT_TRUE(verify(mustParse(*sign(sampleClaims(), key)), pub));
}

// RFC 8037 A.1 key and A.4 signature. The payload is plain text, not a JWT claims set, so parse() refuses it and
// the signature is checked on a Parsed built by hand.
TEST(Ed25519, Rfc8037Example) {
  const std::string d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
  const std::string x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
  const std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
  const std::string sig = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
  EXPECT_FALSE(parse(input + "." + sig));

  const Key priv = mustKey(Key::ed25519FromSeed(unb64(d), ""));
  EXPECT_EQ(priv.publicJwk().at("x").as_string(), x);
  EXPECT_FALSE(priv.publicJwk().contains("kid"));
  EXPECT_EQ(b64(signRaw(priv.pkey(), nullptr, input)), sig);

  // The private member "d" is ignored: only the public key is loaded.
  const Key pub = mustKey(Key::fromJwk(obj(R"({"kty":"OKP","crv":"Ed25519","d":")" + d + R"(","x":")" + x + "\"}")));
  EXPECT_FALSE(pub.hasPrivate());
  Parsed p{.header = obj(R"({"alg":"EdDSA"})"), .claims = {}, .signing_input = input, .signature = unb64(sig)};
  EXPECT_TRUE(verify(p, pub));
  p.signing_input.back() = 'h';
  EXPECT_FALSE(verify(p, pub));
}

// --- RS256 and ES256 ---

TEST(Rs256, VerifiesATokenSignedByOpenSsl) {
  ASSERT_NE(rsaKey(), nullptr);
  const Key key = mustKey(Key::fromJwk(rsaJwk(rsaKey())));
  EXPECT_EQ(key.alg(), Alg::kRS256);
  EXPECT_EQ(key.kid(), "rsa-1");
  EXPECT_FALSE(key.hasPrivate());
  const std::string token = compact(R"({"alg":"RS256","kid":"rsa-1"})", json::serialize(sampleClaims()), rsaKey(),
                                    EVP_sha256());
  const Parsed p = mustParse(token);
  EXPECT_EQ(kidOf(p), "rsa-1");
  EXPECT_TRUE(verify(p, key));
  const std::string payload = tamper(token, 1, [](std::string& s) { s.replace(s.find("alice"), 5, "bob"); });
  const std::string signature = tamper(token, 2, [](std::string& s) { s[0] = static_cast<char>(s[0] ^ 0x80); });
  expectRefused(verify(mustParse(payload), key), "does not verify");
  expectRefused(verify(mustParse(signature), key), "does not verify");
  // The JWK the key gives back loads as the same key.
  const Key again = mustKey(Key::fromJwk(key.publicJwk()));
  EXPECT_EQ(again.publicJwk(), key.publicJwk());
  EXPECT_TRUE(verify(p, again));
}

TEST(Es256, VerifiesATokenSignedByOpenSsl) {
  ASSERT_NE(ecKey(), nullptr);
  const Key key = mustKey(Key::fromJwk(ecJwk(ecKey())));
  EXPECT_EQ(key.alg(), Alg::kES256);
  const std::string input = b64(R"({"alg":"ES256"})") + "." + b64(json::serialize(sampleClaims()));
  const std::string raw = derToRaw(signRaw(ecKey(), EVP_sha256(), input));
  const Parsed p = mustParse(input + "." + b64(raw));
  EXPECT_TRUE(verify(p, key));
  // DER is what OpenSSL emits but not what JWS carries: refused for its length.
  expectRefused(verify(mustParse(input + "." + b64(signRaw(ecKey(), EVP_sha256(), input))), key), "not 64");
  Parsed flipped = p;
  flipped.signature[40] = static_cast<char>(flipped.signature[40] ^ 4);
  expectRefused(verify(flipped, key), "does not verify");
  const Key again = mustKey(Key::fromJwk(key.publicJwk()));
  EXPECT_EQ(again.publicJwk(), key.publicJwk());
  EXPECT_TRUE(verify(p, again));
}

// RFC 7515 A.2 (RS256) and A.3 (ES256): the published tokens and public keys.
constexpr std::string_view kRfcPayload =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

TEST(Rs256, Rfc7515Example) {
  const std::string token =
      "eyJhbGciOiJSUzI1NiJ9." + std::string(kRfcPayload) +
      ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7"
      "t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--x"
      "i12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_Io"
      "ypGlUPQGe77Rw";
  const json::object jwk{
      {"kty", "RSA"},
      {"n",
       "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS"
       "-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2C"
       "apHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb"
       "54h4FRWyuXpoQ"},
      {"e", "AQAB"}};
  const Key key = mustKey(Key::fromJwk(jwk));
  const Parsed p = mustParse(token);
  EXPECT_EQ(p.claims.at("iss").as_string(), "joe");
  EXPECT_EQ(p.claims.at("exp").as_int64(), 1300819380);
  EXPECT_TRUE(verify(p, key));
  // The same token under the same key but claiming ES256 is refused before any signature check.
  const std::string es_header = b64(R"({"alg":"ES256"})");
  expectRefused(verify(mustParse(es_header + token.substr(token.find('.'))), key), "\"ES256\"");
}

TEST(Es256, Rfc7515Example) {
  const std::string token = "eyJhbGciOiJFUzI1NiJ9." + std::string(kRfcPayload) +
                            ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
  const json::object jwk{{"kty", "EC"}, {"crv", "P-256"}, {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
                         {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}};
  const Key key = mustKey(Key::fromJwk(jwk));
  EXPECT_TRUE(verify(mustParse(token), key));
}

// --- refusals ---

TEST(Refusals, AlgNone) {
  const std::string unsigned_token = b64(R"({"alg":"none"})") + "." + b64(json::serialize(sampleClaims())) + ".";
  expectRefused(parse(unsigned_token), "no signature");
  // Should it ever get as far as verify, "none" is refused there too, for every kind of key.
  const Parsed p{.header = obj(R"({"alg":"none"})"), .claims = sampleClaims(), .signing_input = "x.y", .signature = ""};
  expectRefused(verify(p, mustKey(Key::generateEd25519("k"))), "\"none\"");
  expectRefused(verify(p, mustKey(Key::fromJwk(rsaJwk(rsaKey())))), "\"none\"");
  expectRefused(verify(p, mustKey(Key::fromJwk(ecJwk(ecKey())))), "\"none\"");
}

// The classic confusion: an HMAC "signature" keyed with the RSA public key's published bytes.
TEST(Refusals, Hs256KeyedWithThePublicKey) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), rsaKey()), 1);
  char* pem_data = nullptr;
  const long pem_len = BIO_get_mem_data(bio.get(), &pem_data);
  const std::string pem(pem_data, static_cast<size_t>(pem_len));
  const std::string input = b64(R"({"alg":"HS256","typ":"JWT"})") + "." + b64(json::serialize(sampleClaims()));
  std::string mac(32, '\0');
  size_t mac_len = 0;
  ASSERT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, pem.data(), pem.size(), bytesOf(input),
                      input.size(), reinterpret_cast<unsigned char*>(mac.data()), mac.size(), &mac_len),
            nullptr);
  const Parsed p = mustParse(input + "." + b64(mac));
  expectRefused(verify(p, mustKey(Key::fromJwk(rsaJwk(rsaKey())))), "\"HS256\"");
  expectRefused(verify(p, mustKey(Key::fromJwk(ecJwk(ecKey())))), "\"HS256\"");
  expectRefused(verify(p, mustKey(Key::generateEd25519("k"))), "\"HS256\"");
}

TEST(Refusals, AlgOfAnotherKeyType) {
  const Key rsa = mustKey(Key::fromJwk(rsaJwk(rsaKey())));
  const Key ec = mustKey(Key::fromJwk(ecJwk(ecKey())));
  const std::string claims = json::serialize(sampleClaims());
  // A genuine ES256 signature, presented with the RSA key.
  const std::string es_input = b64(R"({"alg":"ES256"})") + "." + b64(claims);
  const Parsed es = mustParse(es_input + "." + b64(derToRaw(signRaw(ecKey(), EVP_sha256(), es_input))));
  EXPECT_TRUE(verify(es, ec));
  expectRefused(verify(es, rsa), "\"ES256\"");
  // A genuine RS256 signature, presented with the EC key.
  const Parsed rs = mustParse(compact(R"({"alg":"RS256"})", claims, rsaKey(), EVP_sha256()));
  EXPECT_TRUE(verify(rs, rsa));
  expectRefused(verify(rs, ec), "\"RS256\"");
  expectRefused(verify(rs, mustKey(Key::generateEd25519("k"))), "\"RS256\"");
}

TEST(Refusals, MissingOrOddAlgAndCrit) {
  const Key key = mustKey(Key::generateEd25519("k"));
  const std::string claims = json::serialize(sampleClaims());
  // Validly signed, so only the header is at fault.
  expectRefused(verify(mustParse(compact(R"({"typ":"JWT"})", claims, key.pkey(), nullptr)), key), "no \"alg\"");
  expectRefused(verify(mustParse(compact(R"({"alg":["EdDSA"]})", claims, key.pkey(), nullptr)), key), "not a string");
  expectRefused(verify(mustParse(compact(R"({"alg":"eddsa"})", claims, key.pkey(), nullptr)), key), "\"eddsa\"");
  EXPECT_TRUE(verify(mustParse(compact(R"({"alg":"EdDSA"})", claims, key.pkey(), nullptr)), key));
  const std::string crit = compact(R"({"alg":"EdDSA","crit":["exp"],"exp":1})", claims, key.pkey(), nullptr);
  expectRefused(verify(mustParse(crit), key), "crit");
}

TEST(Refusals, BadJwks) {
  // 1024-bit RSA: too short, whatever the rest of the key.
  std::string n1024(128, '\x55');
  n1024[0] = '\xc1';
  expectRefused(Key::fromJwk(json::object{{"kty", "RSA"}, {"n", b64(n1024)}, {"e", "AQAB"}}), "1024 bits");
  // A generated key's JWK with one member replaced.
  auto with = [](json::object jwk, std::string_view name, std::string_view value) {
    jwk[name] = value;
    return jwk;
  };
  EXPECT_FALSE(Key::fromJwk(with(rsaJwk(rsaKey()), "e", "AQ")));    // e = 1
  EXPECT_FALSE(Key::fromJwk(with(rsaJwk(rsaKey()), "e", "AQAA")));  // even

  std::string y = unb64(ecJwk(ecKey()).at("y").as_string());
  y.back() = static_cast<char>(y.back() ^ 1);
  expectRefused(Key::fromJwk(with(ecJwk(ecKey()), "y", b64(y))), "not on the P-256 curve");
  EXPECT_FALSE(Key::fromJwk(with(ecJwk(ecKey()), "y", b64(y.substr(1)))));  // 31 bytes
  EXPECT_FALSE(Key::fromJwk(with(ecJwk(ecKey()), "crv", "P-384")));

  expectRefused(Key::fromJwk(with(ecJwk(ecKey()), "alg", "RS256")), "\"RS256\"");
  EXPECT_FALSE(Key::fromJwk(with(rsaJwk(rsaKey()), "alg", "HS256")));
  EXPECT_FALSE(Key::fromJwk(with(rsaJwk(rsaKey()), "alg", "RS384")));
  EXPECT_TRUE(Key::fromJwk(with(rsaJwk(rsaKey()), "alg", "RS256")));
  expectRefused(Key::fromJwk(with(rsaJwk(rsaKey()), "use", "enc")), "\"use\"");
  EXPECT_TRUE(Key::fromJwk(with(rsaJwk(rsaKey()), "use", "sig")));
  EXPECT_TRUE(Key::fromJwk(with(ecJwk(ecKey()), "alg", "ES256")));

  EXPECT_FALSE(Key::fromJwk(obj(R"({"kty":"oct","k":"c2VjcmV0"})")));  // symmetric keys are never accepted
  EXPECT_FALSE(Key::fromJwk(obj(R"({"kty":"OKP","crv":"X25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})")));
  EXPECT_FALSE(Key::fromJwk(obj(R"({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR"})")));
  EXPECT_FALSE(Key::fromJwk(obj(R"({"crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})")));
}

TEST(Refusals, MalformedTokens) {
  const Key key = mustKey(Key::generateEd25519("k"));
  const std::string token = *sign(sampleClaims(), key);
  const std::string header = token.substr(0, token.find('.'));

  expectRefused(parse(token + std::string(size_t{17} * 1024, 'A')), "longer than");
  EXPECT_FALSE(parse(token.substr(0, token.rfind('.'))));  // two parts
  EXPECT_FALSE(parse(token + ".AAAA"));                     // four parts
  EXPECT_FALSE(parse(header + "..AAAA"));                   // empty payload
  EXPECT_FALSE(parse(""));
  EXPECT_FALSE(parse(".."));

  const std::string sig = token.substr(token.rfind('.'));
  for (const char* payload : {"[1,2]", "\"claims\"", "42", "{\"a\":1", "{\"a\":1} x", "{\"a\":1,}"}) {
    auto r = parse(header + "." + b64(payload) + sig);
    ASSERT_FALSE(r) << payload;
    EXPECT_EQ(r.error().message.rfind("not a JWT: ", 0), 0u) << r.error().message;
  }
  EXPECT_FALSE(parse(b64("[]") + "." + b64("{}") + sig));              // header not an object
  EXPECT_FALSE(parse(header + "." + b64("{}") + ".AAA="));             // padded signature
  EXPECT_FALSE(parse(header + "." + b64("{}").append("=") + ".AAAA"));  // padded payload
}

// --- claims ---

ClaimRules rules() {
  return ClaimRules{.issuer = "https://idp.example", .audiences = {"gatehouse"}, .now_s = kNow};
}

TEST(Claims, AcceptsAValidSet) {
  const Result<void> r = checkClaims(sampleClaims(), rules());
  EXPECT_TRUE(r) << r.error().message;
  json::object c = sampleClaims();
  c["exp"] = static_cast<double>(kNow) + 0.5;  // fractional NumericDate
  EXPECT_TRUE(checkClaims(c, rules()));
}

TEST(Claims, Issuer) {
  json::object c = sampleClaims();
  c["iss"] = "https://idp.example/";
  expectRefused(checkClaims(c, rules()), "\"iss\"");
  c.erase("iss");
  expectRefused(checkClaims(c, rules()), "\"iss\"");
  ClaimRules no_issuer = rules();
  no_issuer.issuer.clear();
  EXPECT_FALSE(checkClaims(sampleClaims(), no_issuer));
}

TEST(Claims, Audience) {
  json::object c = sampleClaims();
  ClaimRules r = rules();
  c["aud"] = "other";
  expectRefused(checkClaims(c, r), "\"aud\"");
  c["aud"] = json::array{"other", "gatehouse"};
  EXPECT_TRUE(checkClaims(c, r));
  c["aud"] = json::array{"other", "another"};
  expectRefused(checkClaims(c, r), "\"aud\"");
  c["aud"] = json::array{"gatehouse", 7};
  expectRefused(checkClaims(c, r), "\"aud\"");
  c["aud"] = 7;
  expectRefused(checkClaims(c, r), "\"aud\"");
  r.audiences = {"x", "other"};
  c["aud"] = "other";
  EXPECT_TRUE(checkClaims(c, r));
  c.erase("aud");
  expectRefused(checkClaims(c, r), "\"aud\"");
  r.audiences.clear();  // not checked
  EXPECT_TRUE(checkClaims(c, r));
}

TEST(Claims, ExpiryAndLeeway) {
  json::object c = sampleClaims();
  c["exp"] = kNow - 61;
  expectRefused(checkClaims(c, rules()), "\"exp\"");
  c["exp"] = kNow - 60;  // exactly at the leeway: exp must be after now - leeway
  expectRefused(checkClaims(c, rules()), "\"exp\"");
  c["exp"] = kNow - 59;
  EXPECT_TRUE(checkClaims(c, rules()));
  c["exp"] = kNow - 30;
  ClaimRules strict = rules();
  strict.leeway_s = 0;
  expectRefused(checkClaims(c, strict), "\"exp\"");

  c.erase("exp");
  expectRefused(checkClaims(c, rules()), "\"exp\"");
  ClaimRules optional_exp = rules();
  optional_exp.require_exp = false;
  EXPECT_TRUE(checkClaims(c, optional_exp));

  for (std::string_view not_a_date : {R"("1800000000")", "true", "null", "{}", "1e400"}) {
    c["exp"] = json::parse(not_a_date);  // 1e400 parses as infinity
    expectRefused(checkClaims(c, rules()), "\"exp\"");
  }
  c["exp"] = static_cast<uint64_t>(kNow + 10);
  EXPECT_TRUE(checkClaims(c, rules()));
}

TEST(Claims, NotBeforeAndIssuedAt) {
  json::object c = sampleClaims();
  c["nbf"] = kNow + 61;
  expectRefused(checkClaims(c, rules()), "\"nbf\"");
  c["nbf"] = kNow + 60;
  EXPECT_TRUE(checkClaims(c, rules()));
  c["nbf"] = "0";
  expectRefused(checkClaims(c, rules()), "\"nbf\"");
  c.erase("nbf");
  c["iat"] = kNow + 61;
  expectRefused(checkClaims(c, rules()), "\"iat\"");
  c["iat"] = kNow + 60;
  EXPECT_TRUE(checkClaims(c, rules()));
  c["iat"] = json::array{kNow};
  expectRefused(checkClaims(c, rules()), "\"iat\"");
}

TEST(Claims, MaxLifetime) {
  ClaimRules r = rules();
  r.max_lifetime_s = 300;
  json::object c = sampleClaims();  // iat now, exp now + 300
  EXPECT_TRUE(checkClaims(c, r));
  c["exp"] = kNow + 301;
  expectRefused(checkClaims(c, r), "lifetime");
  c.erase("iat");  // measured from now instead
  expectRefused(checkClaims(c, r), "lifetime");
  c["exp"] = kNow + 200;
  EXPECT_TRUE(checkClaims(c, r));
  c.erase("exp");
  r.require_exp = false;
  expectRefused(checkClaims(c, r), "\"exp\"");
}

}  // namespace
}  // namespace gatehouse::identity::jws
