#include "masking/styles.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

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
  std::size_t n = 0;
  for (std::size_t i = 0; i < value.size(); i += charLength(value, i)) ++n;
  const std::size_t want = keep > 0 ? static_cast<std::size_t>(keep) : 0;
  const std::size_t kept = n <= want ? 0 : std::min(want, n / 2);
  std::size_t i = 0;
  for (std::size_t masked = 0; masked < n - kept; ++masked) {
    const unsigned char c = byteAt(value, i);
    out.push_back(c >= 0x80 || isAsciiAlnum(c) ? '*' : static_cast<char>(c));
    i += charLength(value, i);
  }
  out.append(value.substr(i));
}

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
struct MacFree {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};

// One HMAC-SHA256 context per thread, keeping the last key set up: fetching the algorithm and hashing the key
// for every value (as the one-shot HMAC() does) costs about seven times the MAC of a short value.
struct ThreadMac {
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx;
  std::string key;
  bool keyed = false;

  ThreadMac() {
    const std::unique_ptr<EVP_MAC, MacFree> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
    if (!mac) return;
    ctx.reset(EVP_MAC_CTX_new(mac.get()));  // holds its own reference to mac
    std::string digest = "SHA256";
    const std::array<OSSL_PARAM, 2> params{
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest.data(), 0),
        OSSL_PARAM_construct_end()};
    if (ctx && EVP_MAC_CTX_set_params(ctx.get(), params.data()) != 1) ctx.reset();
  }

  bool mac(std::string_view k, std::string_view value, std::array<unsigned char, EVP_MAX_MD_SIZE>& md) {
    if (!ctx) return false;
    const bool same_key = keyed && k == key;
    // A null key re-initialises with the key already set up; an empty key still needs a non-null pointer.
    static constexpr std::array<unsigned char, 1> kNoBytes{};
    const unsigned char* key_bytes =
        same_key ? nullptr : (k.empty() ? kNoBytes.data() : reinterpret_cast<const unsigned char*>(k.data()));
    keyed = false;
    if (EVP_MAC_init(ctx.get(), key_bytes, same_key ? 0 : k.size(), nullptr) != 1) return false;
    key.assign(k);
    keyed = true;
    const auto* bytes = reinterpret_cast<const unsigned char*>(value.data());
    if (EVP_MAC_update(ctx.get(), bytes, value.size()) != 1) return false;
    std::size_t len = 0;
    return EVP_MAC_final(ctx.get(), md.data(), &len, md.size()) == 1 && len >= kTokenBytes;
  }
};

void appendToken(const StyleSpec& spec, std::string_view value, std::string_view key, std::string& out) {
  thread_local ThreadMac mac;
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  if (!mac.mac(key, value, md)) {
    out.append(spec.replacement);
    return;
  }
  constexpr std::string_view kHex = "0123456789abcdef";
  out.append("tok_");
  for (std::size_t i = 0; i < kTokenBytes; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 0x0F]);
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
      appendToken(spec, value, key, out);
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
