// Masking styles: each style's output, partial masking on UTF-8 and short values, and tokens checked against
// RFC 4231 and against OpenSSL's one-shot HMAC().
#include "masking/styles.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdio>
#include <string>

namespace gatehouse::masking {
namespace {

constexpr std::string_view kKey = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";  // 32 bytes

std::string partial(std::string_view value, int keep = 4) {
  return maskValue(StyleSpec{.style = Style::kPartial, .keep = keep}, value, kKey).value_or("<null>");
}

std::string token(std::string_view value, std::string_view key) {
  return maskValue(StyleSpec{.style = Style::kToken}, value, key).value_or("<null>");
}

// The expected token, from OpenSSL's one-shot HMAC() rather than the code under test's cached context.
std::string referenceToken(std::string_view value, std::string_view key) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(value.data()), value.size(), md.data(), &len);
  std::string out = "tok_";
  for (int i = 0; i < 12; ++i) {
    std::array<char, 3> hex{};
    std::snprintf(hex.data(), hex.size(), "%02x", md[i]);
    out += hex.data();
  }
  return out;
}

TEST(StyleNames, RoundTrip) {
  for (Style s : {Style::kRedact, Style::kPartial, Style::kToken, Style::kNull})
    EXPECT_EQ(styleFromName(styleName(s)), s);
  EXPECT_EQ(styleName(Style::kPartial), "partial");
  EXPECT_EQ(styleFromName("null"), Style::kNull);
  EXPECT_FALSE(styleFromName("Redact"));
  EXPECT_FALSE(styleFromName(""));
  EXPECT_FALSE(styleFromName("hash"));
}

TEST(Redact, SameMaskWhateverTheValue) {
  const StyleSpec spec;
  EXPECT_EQ(maskValue(spec, "4111-1111-1111-1111", kKey), "****");
  EXPECT_EQ(maskValue(spec, "", kKey), "****");
  EXPECT_EQ(maskValue(spec, "x", kKey), "****");
  EXPECT_EQ(maskValue(StyleSpec{.replacement = "[redacted]"}, "secret", kKey), "[redacted]");
}

TEST(Null, IsSqlNull) {
  const StyleSpec spec{.style = Style::kNull};
  EXPECT_EQ(maskValue(spec, "secret", kKey), std::nullopt);
  std::string out = "kept";
  EXPECT_FALSE(appendMasked(spec, "secret", kKey, out));
  EXPECT_EQ(out, "kept");
}

TEST(Partial, KeepsTheShape) {
  EXPECT_EQ(partial("4111-1111-1111-1111"), "****-****-****-1111");
  EXPECT_EQ(partial("123-45-6789"), "***-**-6789");
  EXPECT_EQ(partial("+1 (555) 010-9999"), "+* (***) ***-9999");
  EXPECT_EQ(partial("jane.doe@example.com", 3), "****.***@*******.com");
  EXPECT_EQ(partial("4111111111111111", 0), "****************");
  EXPECT_EQ(partial("a-b c", 0), "*-* *");
}

TEST(Partial, ShortValuesAreNeverShownWholeOrMostly) {
  EXPECT_EQ(partial(""), "");
  EXPECT_EQ(partial("1234"), "****");  // n <= keep: all masked
  EXPECT_EQ(partial("12"), "**");
  EXPECT_EQ(partial("12", 100), "**");
  EXPECT_EQ(partial("12345"), "***45");  // at most half, rounded down
  EXPECT_EQ(partial("123456"), "***456");
  EXPECT_EQ(partial("1234567"), "****567");
  EXPECT_EQ(partial("12345678"), "****5678");
  EXPECT_EQ(partial("123456789", -3), "*********");  // negative keep counts as 0
}

TEST(Partial, CountsUtf8CodePoints) {
  // 11 characters, 13 bytes: the last 4 characters are "ller"; é and the space before stay one '*' and ' '.
  EXPECT_EQ(partial("José Müller"), "**** **ller");
  // Ü is kept whole when it falls in the clear part, never split.
  EXPECT_EQ(partial("abcdefgÜber"), "*******Über");
  EXPECT_EQ(partial("東京都港区六本木"), "****区六本木");
  EXPECT_EQ(partial("😀😀😀😀😀😀", 2), "****😀😀");
}

TEST(Partial, InvalidUtf8BytesAreOneCharacterEach) {
  // \xC3 without its continuation byte, a lone continuation byte, an overlong "/" and a surrogate.
  EXPECT_EQ(partial("\xC3(abcd", 2), "*(**cd");
  EXPECT_EQ(partial("\x80\x80\x80\x80xy", 2), "****xy");
  EXPECT_EQ(partial(std::string("\xC0\xAF") + "abcd", 2), "****cd");
  EXPECT_EQ(partial(std::string("\xED\xA0\x80") + "abcdef", 3), "******def");
  // A truncated sequence at the end is kept byte for byte: the last 2 "characters" are \xE6 and \x9D.
  EXPECT_EQ(partial("abcdef\xE6\x9D", 2), "******\xE6\x9D");
}

TEST(Token, Rfc4231TestCase2) {
  EXPECT_EQ(token("what do ya want for nothing?", "Jefe"), "tok_5bdcc146bf60754e6a042426");
}

TEST(Token, DeterministicAndKeyed) {
  const std::string other(32, 'o');
  const std::string a = token("alice@example.com", kKey);
  EXPECT_EQ(a.size(), 4U + 24U);
  EXPECT_EQ(a, token("alice@example.com", kKey));
  EXPECT_NE(a, token("bob@example.com", kKey));
  EXPECT_NE(a, token("alice@example.com", other));
  // Alternating keys and values: the per-thread context must re-key each time the key changes.
  for (int round = 0; round < 3; ++round) {
    for (const std::string& key : {std::string(kKey), other, std::string("Jefe"), std::string()}) {
      for (std::string_view value : {"alice@example.com", "", "José", "x"}) {
        EXPECT_EQ(token(value, key), referenceToken(value, key)) << "key size " << key.size();
      }
    }
  }
}

TEST(Token, EveryLengthAroundTheBlockBoundaries) {
  // The value and its padding in one block or two, for each way the precomputed pad blocks meet it.
  std::string value;
  for (std::size_t n = 0; n <= 140; ++n) {
    EXPECT_EQ(token(value, kKey), referenceToken(value, kKey)) << n << " bytes";
    value += static_cast<char>('a' + n % 26);
  }
}

TEST(Token, EmptyValueAndLongKey) {
  const std::string long_key(200, 'L');  // longer than SHA-256's block: HMAC hashes it first
  EXPECT_EQ(token("", kKey), referenceToken("", kKey));
  EXPECT_EQ(token("value", long_key), referenceToken("value", long_key));
}

TEST(AppendMasked, AppendsWithoutAllocatingWhenThereIsRoom) {
  std::string out;
  out.reserve(256);
  out = "prefix:";
  const char* buffer = out.data();
  EXPECT_TRUE(appendMasked(StyleSpec{.style = Style::kPartial}, "4111-1111-1111-1111", kKey, out));
  EXPECT_TRUE(appendMasked(StyleSpec{.style = Style::kToken}, "v", kKey, out));
  EXPECT_TRUE(appendMasked(StyleSpec{}, "v", kKey, out));
  EXPECT_EQ(out, "prefix:****-****-****-1111" + referenceToken("v", kKey) + "****");
  EXPECT_EQ(out.data(), buffer);
}

}  // namespace
}  // namespace gatehouse::masking
