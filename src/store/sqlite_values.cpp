// See sqlite_values.h.
#include "store/sqlite_values.h"

#include <openssl/rand.h>

#include <array>
#include <boost/json.hpp>

#include "core/hex.h"

namespace gatehouse::store::sqlite {

Result<std::string> newId(std::string_view prefix) {
  std::array<unsigned char, 8> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return makeError("cannot generate an id: no randomness from OpenSSL");
  }
  return std::string(prefix) + core::toHex(bytes.data(), bytes.size());
}

std::string namesToJson(const std::vector<std::string>& names) {
  boost::json::array a;
  for (const auto& n : names) a.emplace_back(n);
  return boost::json::serialize(a);
}

Result<std::vector<std::string>> namesFromJson(const std::string& text, std::string_view what) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_array()) return makeError("store: corrupt " + std::string(what) + ": " + text);
  std::vector<std::string> names;
  for (const auto& n : v.get_array()) {
    if (!n.is_string()) return makeError("store: corrupt " + std::string(what) + ": " + text);
    names.emplace_back(n.get_string());
  }
  return names;
}

}  // namespace gatehouse::store::sqlite
