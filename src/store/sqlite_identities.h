// Service accounts, their keys, and the session tokens the gateway issued, in the SQLite store (see Store's calls
// in store.h). Each function runs on the store's one connection, under the store's lock; a rotation (a new key and
// the others revoked) is one transaction.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "store/records.h"
#include "store/sqlite_db.h"

namespace gatehouse::store::sqlite {

Result<ServiceAccountRow> createServiceAccount(Database& db, std::string_view name,
                                               const std::vector<std::string>& groups, int64_t now_us);
Result<std::vector<ServiceAccountRow>> listServiceAccounts(Database& db);
Result<ServiceAccountKey> addServiceAccountKey(Database& db, std::string_view account, std::string_view key_hash,
                                               bool revoke_others, int64_t now_us);
Result<std::optional<ServiceAccountKeyInfo>> findServiceAccountKey(Database& db, std::string_view key_hash);
Result<void> revokeServiceAccountKey(Database& db, std::string_view key_id, int64_t now_us);

Result<void> recordSessionToken(Database& db, const SessionTokenRow& token);
Result<std::vector<SessionTokenRow>> listSessionTokens(Database& db, bool active_only, int64_t now_us);
Result<void> revokeSessionToken(Database& db, std::string_view id, int64_t now_us);
Result<std::optional<SessionTokenRow>> findSessionToken(Database& db, std::string_view id);

}  // namespace gatehouse::store::sqlite
