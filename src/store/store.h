// The store: tokens, recorded sessions and statements, and the indexer's progress through the event logs.
// An interface so that SQL stays behind it (SQLite now, PostgreSQL for scale-out later). Every call returns a
// Result and never throws: a store that cannot be written makes the gateway refuse work (fail closed).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "store/records.h"

namespace gatehouse::store {

class Store {
 public:
  virtual ~Store() = default;

  // Tokens. The store sees only the hash of a token's secret (see identity/tokens.h).
  virtual Result<TokenInfo> createToken(std::string_view user, const std::vector<std::string>& groups,
                                        std::string_view token_hash) = 0;
  virtual Result<std::optional<TokenInfo>> findTokenByHash(std::string_view token_hash) = 0;
  virtual Result<std::vector<TokenInfo>> listTokens() = 0;
  // Revoking a revoked token succeeds and keeps the first revocation time; an unknown id is an error.
  virtual Result<void> revokeToken(std::string_view id) = 0;

  // Service accounts and their keys (the store sees only a key's hash). Creating an account that exists, adding a
  // key to an unknown account, or revoking an unknown key is an error; revoking a revoked key keeps the first time.
  virtual Result<ServiceAccountRow> createServiceAccount(std::string_view name,
                                                         const std::vector<std::string>& groups) = 0;
  virtual Result<std::vector<ServiceAccountRow>> listServiceAccounts() = 0;
  // A new key for `account`; with `revoke_others`, its other keys are revoked in the same transaction (rotation).
  virtual Result<ServiceAccountKey> addServiceAccountKey(std::string_view account, std::string_view key_hash,
                                                         bool revoke_others) = 0;
  virtual Result<std::optional<ServiceAccountKeyInfo>> findServiceAccountKey(std::string_view key_hash) = 0;
  virtual Result<void> revokeServiceAccountKey(std::string_view key_id) = 0;

  // Session tokens the gateway issued. Revoking is by id; an unknown id is an error.
  virtual Result<void> recordSessionToken(const SessionTokenRow& token) = 0;
  virtual Result<std::vector<SessionTokenRow>> listSessionTokens(bool active_only, int64_t now_us) = 0;
  virtual Result<void> revokeSessionToken(std::string_view id) = 0;
  virtual Result<std::optional<SessionTokenRow>> findSessionToken(std::string_view id) = 0;

  // Recorded activity, newest first.
  virtual Result<std::vector<SessionRow>> listSessions(const SessionFilter& filter) = 0;
  virtual Result<std::vector<StatementRow>> listStatements(const StatementFilter& filter) = 0;

  // Reviews. A decision is refused with a clear error when the review is not pending (or has expired), when the
  // approver is the requester, is in none of the approver groups, or has already decided. One rejection
  // rejects; `approvals_needed` distinct approvals approve, from then usable for `window_us`.
  virtual Result<ReviewRow> createReview(const NewReview& review, int64_t now_us) = 0;
  virtual Result<std::optional<ReviewRow>> getReview(std::string_view id, int64_t now_us) = 0;
  // Newest first; `pending_only`: only those still waiting for a decision.
  virtual Result<std::vector<ReviewRow>> listReviews(bool pending_only, int64_t now_us) = 0;
  virtual Result<ReviewRow> decideReview(std::string_view id, std::string_view approver,
                                         const std::vector<std::string>& approver_groups, bool approve,
                                         std::string_view reason, int64_t now_us) = 0;
  // The pending review of this statement hash, if one is still waiting (an async request sent again).
  virtual Result<std::optional<ReviewRow>> findPendingReview(std::string_view statement_hash, int64_t now_us) = 0;
  // Takes an approved, unused, unexpired review of this statement hash and marks it used, atomically: an
  // approval runs its statement once.
  // `session_id`/`seq`: the statement that runs under it, which `gatehouse audit` then shows with the review.
  virtual Result<std::optional<ReviewRow>> claimApprovedReview(std::string_view statement_hash, int64_t now_us,
                                                               std::string_view session_id, uint64_t seq) = 0;
  // Marks an approved review used (a held statement, released to run).
  virtual Result<void> markReviewUsed(std::string_view id, int64_t now_us, std::string_view session_id,
                                      uint64_t seq) = 0;

  // Notifications: created with the review changes above (review.created; review.decision for an approval that
  // does not yet decide; review.approved; review.rejected). Due: not delivered, not given up, next attempt <= now.
  virtual Result<std::vector<Notification>> dueNotifications(int64_t now_us, std::size_t limit) = 0;
  virtual Result<void> notificationDelivered(int64_t id, int64_t now_us) = 0;
  // A failed attempt: try again at `retry_at_us`, or give up (never again) when it is nullopt.
  virtual Result<void> notificationFailed(int64_t id, std::string_view error, std::optional<int64_t> retry_at_us) = 0;

  // Indexer progress: the byte offset up to which the log file `log_name` (a file name, not a path) has been
  // applied; 0 for a file never seen.
  virtual Result<uint64_t> getLogOffset(std::string_view log_name) = 0;
  // Applies `changes` and moves the file's offset from `from_offset` to `to_offset` in one transaction, so a
  // crash neither loses a batch nor applies it twice. Returns false (and changes nothing) when the stored offset
  // is no longer `from_offset` because another indexer (the server's, or a CLI command's) got there first.
  virtual Result<bool> applyLogBatch(std::string_view log_name, uint64_t from_offset, uint64_t to_offset,
                                     std::span<const RecordChange> changes) = 0;
};

}  // namespace gatehouse::store
