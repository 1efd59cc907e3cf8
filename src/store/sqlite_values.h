// Values as the SQLite store keeps them: random ids ("tok_…", "rev_…"), and lists of names as JSON arrays.
// Shared by the store's parts (sqlite_store.cpp, sqlite_reviews.cpp).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gatehouse::store::sqlite {

// `prefix` + 16 random hex digits (OpenSSL's generator).
Result<std::string> newId(std::string_view prefix);

std::string namesToJson(const std::vector<std::string>& names);
// `what` names the column in the error, for a corrupt value.
Result<std::vector<std::string>> namesFromJson(const std::string& text, std::string_view what);

}  // namespace gatehouse::store::sqlite
