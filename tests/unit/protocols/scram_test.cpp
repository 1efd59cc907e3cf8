// SCRAM-SHA-256 client and md5 response: the RFC 7677 test vector, verifiers made by a real PostgreSQL 15,
// and every way a server reply can be wrong.
#include "protocols/postgres/scram.h"

#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <array>
#include <string>
#include <vector>

namespace gatehouse::pg {
namespace {

// RFC 7677 section 3.
constexpr std::string_view kRfcNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

ScramClient rfcClient() { return ScramClient("pencil", std::string(kRfcNonce), "user"); }

TEST(ScramClient, ReproducesRfc7677Vector) {
  ScramClient client("pencil", std::string(kRfcNonce), "user");
  EXPECT_EQ(client.clientFirstMessage(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  auto final_message = client.handleServerFirst(kRfcServerFirst);
  ASSERT_TRUE(final_message) << final_message.error().message;
  EXPECT_EQ(*final_message, kRfcClientFinal);
  auto verified = client.verifyServerFinal(kRfcServerFinal);
  EXPECT_TRUE(verified) << verified.error().message;
}

TEST(ScramClient, WrongPasswordGivesDifferentProof) {
  ScramClient client("pencil2", std::string(kRfcNonce), "user");
  auto final_message = client.handleServerFirst(kRfcServerFirst);
  ASSERT_TRUE(final_message);
  EXPECT_NE(*final_message, kRfcClientFinal);
  EXPECT_FALSE(client.verifyServerFinal(kRfcServerFinal));
}

TEST(ScramClient, PostgresFlavourSendsEmptyUserAndRandomNonce) {
  ScramClient a("pw");
  ScramClient b("pw");
  const std::string first = a.clientFirstMessage();
  ASSERT_TRUE(first.starts_with("n,,n=,r=")) << first;
  const std::string nonce = first.substr(8);
  EXPECT_EQ(nonce.size(), 24u);  // 18 bytes in base64
  EXPECT_EQ(nonce.find(','), std::string::npos);
  EXPECT_NE(first, b.clientFirstMessage());
}

TEST(ScramClient, EscapesUserName) {
  ScramClient client("pw", "abc", "a,b=c");
  EXPECT_EQ(client.clientFirstMessage(), "n,,n=a=2Cb=3Dc,r=abc");
}

TEST(ScramClient, RefusesWrongServerSignature) {
  auto client = rfcClient();
  ASSERT_TRUE(client.handleServerFirst(kRfcServerFirst));
  std::string bad(kRfcServerFinal);
  bad[5] = bad[5] == 'A' ? 'B' : 'A';
  auto verified = client.verifyServerFinal(bad);
  ASSERT_FALSE(verified);
  EXPECT_NE(verified.error().message.find("signature"), std::string::npos);
}

TEST(ScramClient, RefusesServerSignatureOfWrongLengthOrShape) {
  for (const std::string_view bad : {"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5n", "v=", "v=!!!!", "x=abc", ""}) {
    auto client = rfcClient();
    ASSERT_TRUE(client.handleServerFirst(kRfcServerFirst));
    EXPECT_FALSE(client.verifyServerFinal(bad)) << bad;
  }
}

TEST(ScramClient, ServerErrorCarriesReason) {
  auto client = rfcClient();
  ASSERT_TRUE(client.handleServerFirst(kRfcServerFirst));
  auto verified = client.verifyServerFinal("e=invalid-proof");
  ASSERT_FALSE(verified);
  EXPECT_NE(verified.error().message.find("invalid-proof"), std::string::npos) << verified.error().message;
}

TEST(ScramClient, RefusesServerNonceNotExtendingOurs) {
  for (const std::string_view server_first : {
           "r=XOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // different prefix
           "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",                      // nothing added
           "r=rOprNGfw,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",                                  // shorter
       }) {
    auto client = rfcClient();
    auto result = client.handleServerFirst(server_first);
    ASSERT_FALSE(result) << server_first;
    EXPECT_NE(result.error().message.find("nonce"), std::string::npos) << result.error().message;
  }
}

TEST(ScramClient, RefusesMalformedServerFirst) {
  for (const std::string_view server_first : {
           "",
           "garbage",
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==",                 // no iterations
           "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOxyz,i=4096",          // wrong order
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",           // salt not whole base64
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22Za*0SNY7soEsUEjb6gQ==,i=4096",          // salt bad character
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=,i=4096",                                  // empty salt
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",             // zero iterations
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1",
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x",
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001",       // above kMaxScramIterations
           "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999999",
           "m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",    // mandatory extension
           "r=rOprNGfwEbeRWgbNEkqO\x7f,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",         // non-printable nonce
       }) {
    auto client = rfcClient();
    EXPECT_FALSE(client.handleServerFirst(server_first)) << server_first;
  }
}

TEST(ScramClient, AcceptsExtensionsAfterIterationCount) {
  auto client = rfcClient();
  EXPECT_TRUE(client.handleServerFirst(std::string(kRfcServerFirst) + ",x=future"));
}

TEST(ScramClient, EnforcesMessageOrder) {
  auto client = rfcClient();
  EXPECT_FALSE(client.verifyServerFinal(kRfcServerFinal));  // before server-first

  auto twice = rfcClient();
  ASSERT_TRUE(twice.handleServerFirst(kRfcServerFirst));
  EXPECT_FALSE(twice.handleServerFirst(kRfcServerFirst));

  auto after_failure = rfcClient();
  ASSERT_FALSE(after_failure.handleServerFirst("garbage"));
  EXPECT_FALSE(after_failure.handleServerFirst(kRfcServerFirst));  // one exchange per client

  auto done = rfcClient();
  ASSERT_TRUE(done.handleServerFirst(kRfcServerFirst));
  ASSERT_TRUE(done.verifyServerFinal(kRfcServerFinal));
  EXPECT_FALSE(done.verifyServerFinal(kRfcServerFinal));
}

TEST(ScramClient, InvalidGivenNonceFailsClosed) {
  ScramClient client("pencil", "has,comma", "user");
  EXPECT_FALSE(client.handleServerFirst("r=has,commaXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
}

// --- Against verifiers that a real PostgreSQL 15 stored in pg_authid (CREATE ROLE ... PASSWORD ...). ---
// The test plays PostgreSQL's server side from the stored verifier alone, as the server does
// (src/backend/libpq/auth-scram.c: verify_client_proof, build_server_final_message).

std::vector<unsigned char> unbase64(std::string_view text) {
  std::vector<unsigned char> out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  EXPECT_GE(n, 0);
  size_t padding = 0;
  while (padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

std::string base64(const std::vector<unsigned char>& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::vector<unsigned char> hmac(const std::vector<unsigned char>& key, std::string_view data) {
  std::vector<unsigned char> out(SHA256_DIGEST_LENGTH);
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out.data(), &len);
  return out;
}

struct PgVerifier {
  std::string_view salt;
  std::string_view stored_key;
  std::string_view server_key;
};

// SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey> for role "bob" with password 'pencil'.
constexpr PgVerifier kBobPencil{"v0UrvV3b4sZEC5MFRK2KVA==", "8Cq1HidwZdr4CfApy6/d6vzKyfpguhEGNVjjwCqfH6I=",
                                "t88fjEstYnT0XXzm4puG8HZkMP8vU5OQpRnKXku2Xe4="};
// Role "carol" with password 'pässwörd' (UTF-8, already in SASLprep normal form).
constexpr PgVerifier kCarolUmlauts{"Y4j2x6hLgAomNlM5er5quA==", "m6zC/fSWNSMzz++KSO4mUjEx5JlIQQbzoZJyYftRYaI=",
                                   "il1DhF+NifAGxBhBtHUuYgHGIoRKkoDKMJzGWjzgSkI="};

// Runs one exchange against the verifier; returns whether the server accepted the proof, and whether the
// client then accepted the server's signature.
struct Outcome {
  bool server_accepted = false;
  bool client_accepted = false;
};

Outcome exchangeWithPostgresVerifier(const std::string& password, const PgVerifier& verifier) {
  ScramClient client(password);
  const std::string first = client.clientFirstMessage();
  EXPECT_TRUE(first.starts_with("n,,n=,r="));
  const std::string client_first_bare = first.substr(3);
  const std::string client_nonce = first.substr(8);
  const std::string server_first =
      "r=" + client_nonce + "3pGfa0Y+YcMTbQ1EGG7LfaHT,s=" + std::string(verifier.salt) + ",i=4096";

  auto final_message = client.handleServerFirst(server_first);
  EXPECT_TRUE(final_message);
  if (!final_message) return {};
  const size_t proof_at = final_message->rfind(",p=");
  EXPECT_NE(proof_at, std::string::npos);
  const std::string without_proof = final_message->substr(0, proof_at);
  EXPECT_EQ(without_proof, "c=biws,r=" + client_nonce + "3pGfa0Y+YcMTbQ1EGG7LfaHT");
  const auto proof = unbase64(std::string_view(*final_message).substr(proof_at + 3));
  EXPECT_EQ(proof.size(), size_t{SHA256_DIGEST_LENGTH});
  if (proof.size() != SHA256_DIGEST_LENGTH) return {};

  const std::string auth_message = client_first_bare + "," + server_first + "," + without_proof;
  const auto stored_key = unbase64(verifier.stored_key);
  const auto client_signature = hmac(stored_key, auth_message);
  std::vector<unsigned char> client_key(SHA256_DIGEST_LENGTH);
  for (size_t i = 0; i < client_key.size(); ++i) client_key[i] = proof[i] ^ client_signature[i];
  std::vector<unsigned char> recomputed(SHA256_DIGEST_LENGTH);
  SHA256(client_key.data(), client_key.size(), recomputed.data());

  Outcome outcome;
  outcome.server_accepted = recomputed == stored_key;
  const std::string server_final = "v=" + base64(hmac(unbase64(verifier.server_key), auth_message));
  outcome.client_accepted = client.verifyServerFinal(server_final).ok();
  return outcome;
}

TEST(ScramClient, AuthenticatesAgainstPostgresVerifier) {
  const Outcome outcome = exchangeWithPostgresVerifier("pencil", kBobPencil);
  EXPECT_TRUE(outcome.server_accepted);
  EXPECT_TRUE(outcome.client_accepted);
}

TEST(ScramClient, AuthenticatesAgainstPostgresVerifierWithNonAsciiPassword) {
  const Outcome outcome = exchangeWithPostgresVerifier("p\xc3\xa4sSw\xc3\xb6rd", kCarolUmlauts);
  EXPECT_FALSE(outcome.server_accepted);  // case matters: a control for the check below
  const Outcome right = exchangeWithPostgresVerifier("p\xc3\xa4ssw\xc3\xb6rd", kCarolUmlauts);
  EXPECT_TRUE(right.server_accepted);
  EXPECT_TRUE(right.client_accepted);
}

TEST(ScramClient, PostgresVerifierRejectsWrongPassword) {
  const Outcome outcome = exchangeWithPostgresVerifier("pencil!", kBobPencil);
  EXPECT_FALSE(outcome.server_accepted);
  EXPECT_FALSE(outcome.client_accepted);  // a server that knows another password cannot prove itself either
}

// --- md5 ---
// PostgreSQL 15 stored "md54a0a68b43b6cd5cf266fa02f196e2371" for CREATE ROLE alice PASSWORD 'secret' with
// password_encryption = md5, which is also `echo -n secretalice | md5sum`. The expected answers were computed
// once in the shell: printf '%s\x01\x02\x03\x04' 4a0a68b43b6cd5cf266fa02f196e2371 | md5sum
TEST(Md5Password, MatchesValuesComputedWithMd5sum) {
  auto a = md5Password("alice", "secret", std::string_view("\x01\x02\x03\x04", 4));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(*a, "md598a0412b9c31436fc53776e863350083");

  auto b = md5Password("alice", "secret", "\xde\xad\xbe\xef");
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, "md53e1d73ba00a55e8805aa0277d29996c5");
}

TEST(Md5Password, SaltWithNulBytesIsUsedWhole) {
  auto with_nul = md5Password("alice", "secret", std::string_view("\x00\x00\x00\x01", 4));
  auto other = md5Password("alice", "secret", std::string_view("\x00\x00\x00\x02", 4));
  ASSERT_TRUE(with_nul);
  ASSERT_TRUE(other);
  EXPECT_NE(*with_nul, *other);
  EXPECT_EQ(with_nul->size(), 35u);
}

}  // namespace
}  // namespace gatehouse::pg
