// Reviews in the SQLite store (see Store's review calls in store.h): each function runs on the store's one
// connection, under the store's lock, decisions in one IMMEDIATE transaction so that two approvers racing (two
// CLI processes, a CLI and the gateway) count once each.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "store/records.h"
#include "store/sqlite_db.h"

namespace gatehouse::store::sqlite {

Result<ReviewRow> createReview(Database& db, const NewReview& review, int64_t now_us);
Result<std::optional<ReviewRow>> getReview(Database& db, std::string_view id, int64_t now_us);
Result<std::vector<ReviewRow>> listReviews(Database& db, bool pending_only, int64_t now_us);
Result<ReviewRow> decideReview(Database& db, std::string_view id, std::string_view approver,
                               const std::vector<std::string>& approver_groups, bool approve, std::string_view reason,
                               int64_t now_us);
Result<std::optional<ReviewRow>> findPendingReview(Database& db, std::string_view statement_hash, int64_t now_us);
Result<std::optional<ReviewRow>> claimApprovedReview(Database& db, std::string_view statement_hash, int64_t now_us,
                                                     std::string_view session_id, uint64_t seq);
Result<void> markReviewUsed(Database& db, std::string_view id, int64_t now_us, std::string_view session_id,
                            uint64_t seq);

Result<std::vector<Notification>> dueNotifications(Database& db, int64_t now_us, std::size_t limit);
Result<void> notificationDelivered(Database& db, int64_t id, int64_t now_us);
Result<void> notificationFailed(Database& db, int64_t id, std::string_view error, std::optional<int64_t> retry_at_us);

}  // namespace gatehouse::store::sqlite
