// Masking styles: what a protected value becomes in a result. Pure functions of (style, value, key); the
// gateway calls appendMasked once per protected value on the data path, so it appends into a caller's buffer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse::masking {

enum class Style : uint8_t { kRedact, kPartial, kToken, kNull };

// "redact", "partial", "token", "null": the policy file's spelling (styleFromName is case-sensitive).
std::string_view styleName(Style s);
std::optional<Style> styleFromName(std::string_view name);

struct StyleSpec {
  Style style = Style::kRedact;
  int keep = 4;                      // partial: trailing characters left in clear (negative counts as 0)
  std::string replacement = "****";  // redact: the fixed mask
};

// What a protected value becomes; nullopt is SQL NULL (style null).
//  - redact: `replacement`, whatever the value, so that not even its length leaks.
//  - partial: the last characters (UTF-8 code points; an invalid byte counts as one) stay in clear; before
//    them every ASCII letter or digit and every non-ASCII character becomes one '*', while ASCII punctuation,
//    spaces and control characters stay, so the shape shows: 4111-1111-1111-1111 -> ****-****-****-1111.
//    A value of n characters keeps min(keep, n / 2) of them, and none when n <= keep, so that a short value
//    is never shown whole or mostly: "1234" with keep 4 -> "****", "12345" -> "***45".
//  - token: "tok_" + lower-case hex of the first 12 bytes of HMAC-SHA256(key, value): the same value gives
//    the same token under one key (joins, GROUP BY and counts still work), and nothing without the key.
//    `key` is the policy's secret; its length (>= 32 bytes) is checked where the policy is loaded, not here.
//    Should OpenSSL fail (only when out of memory), the value is redacted rather than leaked.
std::optional<std::string> maskValue(const StyleSpec& spec, std::string_view value, std::string_view key);

// The same, appended to `out` (no allocation when `out` has the capacity); false, with `out` untouched, for
// style null.
bool appendMasked(const StyleSpec& spec, std::string_view value, std::string_view key, std::string& out);

}  // namespace gatehouse::masking
