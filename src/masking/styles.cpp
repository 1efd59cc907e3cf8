#include "masking/styles.h"

// See KeyedHmac: the low-level SHA-256 interface, deprecated in OpenSSL 3.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>

namespace gatehouse::masking {
namespace {

constexpr std::size_t kTokenBytes = 12;

unsigned char byteAt(std::string_view s, std::size_t i) {
  return static_cast<unsigned char>(s[i]);
}

// Byte length of the character starting at s[i]: 2 to 4 for a well-formed UTF-8 sequence (no overlong forms,
// surrogates or code points past U+10FFFF), otherwise 1, so that each invalid byte is a character of its own.
std::size_t charLength(std::string_view s, std::size_t i) {
  const unsigned char c = byteAt(s, i);
  std::size_t len = 1;
  unsigned char lo = 0x80;  // the allowed range of the second byte
  unsigned char hi = 0xBF;
  if (c < 0xC2 || c > 0xF4) return 1;
  if (c <= 0xDF) {
    len = 2;
  } else if (c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else {
    len = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  }
  if (s.size() - i < len || byteAt(s, i + 1) < lo || byteAt(s, i + 1) > hi) return 1;
  for (std::size_t j = 2; j < len; ++j)
    if ((byteAt(s, i + j) & 0xC0) != 0x80) return 1;
  return len;
}

bool isAsciiAlnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

void appendPartial(int keep, std::string_view value, std::string& out) {
  const std::size_t want = keep > 0 ? static_cast<std::size_t>(keep) : 0;
  {
    // ASCII, the common case, in one pass: a character is a byte. Undone if a byte turns out not to be ASCII.
    const std::size_t kept = value.size() <= want ? 0 : std::min(want, value.size() / 2);
    const std::size_t at = out.size();
    out.resize(at + value.size());
    char* o = out.data() + at;
    unsigned char seen = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
      const auto c = static_cast<unsigned char>(value[i]);
      seen |= c;
      o[i] = i < value.size() - kept && isAsciiAlnum(c) ? '*' : static_cast<char>(c);
    }
    if (seen < 0x80) return;
    out.resize(at);
  }
  std::size_t n = 0;
  for (std::size_t i = 0; i < value.size(); i += charLength(value, i)) ++n;
  const std::size_t kept = n <= want ? 0 : std::min(want, n / 2);
  std::size_t i = 0;
  for (std::size_t masked = 0; masked < n - kept; ++masked) {
    const unsigned char c = byteAt(value, i);
    out.push_back(c >= 0x80 || isAsciiAlnum(c) ? '*' : static_cast<char>(c));
    i += charLength(value, i);
  }
  out.append(value.substr(i));
}

// HMAC-SHA256 (RFC 2104) with the key's two padded blocks hashed once, as RFC 2104 section 4 suggests: a token
// then costs two SHA-256 compressions of the value's own blocks and nothing else. OpenSSL's EVP_MAC re-keys a
// context by duplicating its digest contexts, which allocates, and cost about three times the hashing itself on
// short values. The low-level SHA256_* calls are deprecated in OpenSSL 3 but remain its fastest path (SHA-NI where
// the CPU has it), and SHA256_CTX is a plain struct that copies with the state it holds.
struct KeyedHmac {
  SHA256_CTX inner{};  // after the key XOR ipad block
  SHA256_CTX outer{};  // after the key XOR opad block
  std::string key;
  bool ready = false;

  void setKey(std::string_view k) {
    std::array<unsigned char, SHA256_CBLOCK> block{};
    if (k.size() > block.size()) {
      SHA256(reinterpret_cast<const unsigned char*>(k.data()), k.size(), block.data());
    } else {
      std::copy(k.begin(), k.end(), block.begin());
    }
    std::array<unsigned char, SHA256_CBLOCK> pad{};
    for (std::size_t i = 0; i < block.size(); ++i) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&inner);
    SHA256_Update(&inner, pad.data(), pad.size());
    for (std::size_t i = 0; i < block.size(); ++i) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&outer);
    SHA256_Update(&outer, pad.data(), pad.size());
    OPENSSL_cleanse(block.data(), block.size());
    OPENSSL_cleanse(pad.data(), pad.size());
    key.assign(k);
    ready = true;
  }

  void mac(std::string_view k, std::string_view value, std::array<unsigned char, SHA256_DIGEST_LENGTH>& md) {
    if (!ready || k != key) setKey(k);
    SHA256_CTX c = inner;
    SHA256_Update(&c, value.data(), value.size());
    SHA256_Final(md.data(), &c);
    c = outer;
    SHA256_Update(&c, md.data(), md.size());
    SHA256_Final(md.data(), &c);
  }
};

void appendToken(std::string_view value, std::string_view key, std::string& out) {
  thread_local KeyedHmac hmac;
  std::array<unsigned char, SHA256_DIGEST_LENGTH> md{};
  hmac.mac(key, value, md);
  constexpr std::string_view kHex = "0123456789abcdef";
  constexpr std::string_view kPrefix = "tok_";
  const std::size_t at = out.size();
  out.resize(at + kPrefix.size() + 2 * kTokenBytes);
  char* o = out.data() + at;
  std::copy(kPrefix.begin(), kPrefix.end(), o);
  o += kPrefix.size();
  for (std::size_t i = 0; i < kTokenBytes; ++i) {
    o[2 * i] = kHex[md[i] >> 4];
    o[2 * i + 1] = kHex[md[i] & 0x0F];
  }
}

}  // namespace

std::string_view styleName(Style s) {
  switch (s) {
    case Style::kRedact:
      return "redact";
    case Style::kPartial:
      return "partial";
    case Style::kToken:
      return "token";
    case Style::kNull:
      return "null";
  }
  return "redact";
}

std::optional<Style> styleFromName(std::string_view name) {
  for (Style s : {Style::kRedact, Style::kPartial, Style::kToken, Style::kNull})
    if (styleName(s) == name) return s;
  return std::nullopt;
}

bool appendMasked(const StyleSpec& spec, std::string_view value, std::string_view key, std::string& out) {
  switch (spec.style) {
    case Style::kRedact:
      out.append(spec.replacement);
      return true;
    case Style::kPartial:
      appendPartial(spec.keep, value, out);
      return true;
    case Style::kToken:
      appendToken(value, key, out);
      return true;
    case Style::kNull:
      return false;
  }
  return false;
}

std::optional<std::string> maskValue(const StyleSpec& spec, std::string_view value, std::string_view key) {
  std::string out;
  if (!appendMasked(spec, value, key, out)) return std::nullopt;
  return out;
}

}  // namespace gatehouse::masking
