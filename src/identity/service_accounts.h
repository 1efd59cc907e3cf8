// Service accounts: machine identities (CI jobs, AI agents) with groups. Each has keys, shown once at creation and
// stored only as hashes, that are exchanged at POST /api/token for short-lived session tokens; a key never
// reaches a database listener itself. Keys can be listed, rotated (a new key, the others revoked) and revoked.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "store/store.h"

namespace gatehouse::identity {

// Lets secret scanners and people recognise a Gatehouse service account key.
inline constexpr std::string_view kServiceKeyPrefix = "ghk_";

struct IssuedServiceKey {
  std::string account;
  std::string key_id;  // public handle ("sak_…")
  std::string secret;  // shown once; the store keeps only its hash
};

// Lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters: a name that
// is safe in a token's subject, a log line and a shell.
Result<void> checkServiceAccountName(std::string_view name);

// Creates the account and its first key.
Result<IssuedServiceKey> createServiceAccount(store::Store& store, std::string_view name,
                                              const std::vector<std::string>& groups);
// A new key for the account; its other keys are revoked in the same step unless `keep_others`.
Result<IssuedServiceKey> rotateServiceAccountKey(store::Store& store, std::string_view name, bool keep_others);
// The account a presented key belongs to. Unknown and revoked keys are distinct errors for the log; a client is
// only ever told that the key was refused.
Result<store::ServiceAccountKeyInfo> verifyServiceAccountKey(store::Store& store, std::string_view presented);

}  // namespace gatehouse::identity
