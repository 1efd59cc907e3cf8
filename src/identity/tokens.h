// Static access tokens: what a PostgreSQL client presents as its password. Issued once by
// `gatehouse token create`, stored only as a hash, revocable.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "store/store.h"

namespace gatehouse::identity {

// The prefix lets secret scanners and people recognise a Gatehouse token.
inline constexpr std::string_view kTokenPrefix = "ght_";

struct IssuedToken {
  std::string id;      // public handle, for `token list` / `token revoke`
  std::string secret;  // shown once; the store keeps only its hash
};

// Creates a token for `user` with `groups`: "ght_" + 32 random bytes in unpadded base64url.
Result<IssuedToken> issueToken(store::Store& store, std::string_view user, const std::vector<std::string>& groups);

// Checks a presented token for `user`. The three failures (unknown, revoked, user mismatch) have distinct messages
// for the gateway's log; the client must only ever be told that authentication failed.
Result<store::TokenInfo> verifyToken(store::Store& store, std::string_view presented, std::string_view user);
// The same, for a token presented on its own (an approver's): whoever it belongs to, if valid and not revoked.
Result<store::TokenInfo> identifyToken(store::Store& store, std::string_view presented);

// The hash under which a token's secret is stored (lowercase hex SHA-256).
std::string hashToken(std::string_view secret);

}  // namespace gatehouse::identity
