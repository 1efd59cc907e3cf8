// Reviews in the SQLite store; see sqlite_reviews.h.
#include "store/sqlite_reviews.h"

#include <algorithm>

#include "store/sqlite_values.h"

namespace gatehouse::store::sqlite {

namespace {

constexpr const char* kColumns =
    "review_id, status, requester, requester_groups, connection, session_id, sql_text, statement_hash, rule, "
    "reason, mode, approver_groups, approvals_needed, window_us, created_at_us, decide_by_us, decided_at_us, "
    "usable_until_us, used_at_us, seq, used_session_id, used_seq";

Result<ReviewRow> readRow(const Cursor& c) {
  ReviewRow r;
  r.id = c.text(0);
  r.status = c.text(1);
  r.request.requester = c.text(2);
  auto groups = namesFromJson(c.text(3), "review requester groups");
  if (!groups) return groups.error();
  r.request.requester_groups = std::move(*groups);
  r.request.connection = c.text(4);
  r.request.session_id = c.text(5);
  r.request.sql = c.text(6);
  r.request.statement_hash = c.text(7);
  r.request.rule = c.text(8);
  r.request.reason = c.text(9);
  r.request.mode = c.text(10);
  auto approvers = namesFromJson(c.text(11), "review approver groups");
  if (!approvers) return approvers.error();
  r.request.approver_groups = std::move(*approvers);
  r.request.approvals_needed = static_cast<int>(c.integer(12));
  r.request.window_us = c.integer(13);
  r.created_at_us = c.integer(14);
  r.request.decide_by_us = c.integer(15);
  r.decided_at_us = c.optionalInteger(16);
  r.usable_until_us = c.optionalInteger(17);
  r.used_at_us = c.optionalInteger(18);
  r.request.seq = static_cast<uint64_t>(c.integer(19));
  r.used_session_id = c.text(20);
  r.used_seq = static_cast<uint64_t>(c.integer(21));
  return r;
}

// Reviews whose time ran out are marked expired when they are next looked at: a pending one not decided by its
// deadline, an approved one not run within its window.
Result<void> expire(Database& db, int64_t now_us) {
  auto q = db.query(
      "UPDATE reviews SET status = 'expired' WHERE (status = 'pending' AND decide_by_us <= ?1) "
      "OR (status = 'approved' AND usable_until_us <= ?1)");
  if (!q) return q.error();
  q->bind(1, now_us);
  return q->run();
}

Result<void> loadDecisions(Database& db, ReviewRow& r) {
  auto q = db.query(
      "SELECT approver, approved, reason, decided_at_us FROM review_decisions WHERE review_id = ?1 "
      "ORDER BY decided_at_us, approver");
  if (!q) return q.error();
  q->bind(1, std::string_view(r.id));
  for (;;) {
    auto row = q->step();
    if (!row) return row.error();
    if (!*row) return {};
    r.decisions.push_back(ReviewDecision{.approver = q->text(0), .approved = q->integer(1) != 0,
                                         .reason = q->text(2), .decided_at_us = q->integer(3)});
  }
}

// The rows `sql` selects (its WHERE/ORDER part after the columns), each with its decisions.
Result<std::vector<ReviewRow>> select(Database& db, const std::string& where,
                                      const std::vector<std::string_view>& params) {
  std::vector<ReviewRow> out;
  {
    auto q = db.query(std::string("SELECT ") + kColumns + " FROM reviews " + where);
    if (!q) return q.error();
    for (std::size_t i = 0; i < params.size(); ++i) q->bind(static_cast<int>(i + 1), params[i]);
    for (;;) {
      auto row = q->step();
      if (!row) return row.error();
      if (!*row) break;
      auto r = readRow(*q);
      if (!r) return r.error();
      out.push_back(std::move(*r));
    }
  }
  for (auto& r : out)
    if (auto d = loadDecisions(db, r); !d) return d.error();
  return out;
}

Result<std::optional<ReviewRow>> one(Database& db, const std::string& where, const std::vector<std::string_view>& p) {
  auto rows = select(db, where, p);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<ReviewRow>();
  return std::optional<ReviewRow>(std::move(rows->front()));
}

Result<void> notify(Database& db, std::string_view event, std::string_view review_id, int64_t now_us) {
  auto q = db.query(
      "INSERT INTO notifications (event, review_id, created_at_us, next_attempt_us) VALUES (?1, ?2, ?3, ?3)");
  if (!q) return q.error();
  q->bind(1, event);
  q->bind(2, review_id);
  q->bind(3, now_us);
  return q->run();
}

}  // namespace

Result<ReviewRow> createReview(Database& db, const NewReview& review, int64_t now_us) {
  auto id = newId("rev_");
  if (!id) return id.error();
  auto txn = Transaction::begin(db);
  if (!txn) return txn.error();
  auto q = db.query(
      "INSERT INTO reviews (review_id, status, requester, requester_groups, connection, session_id, sql_text, "
      "statement_hash, rule, reason, mode, approver_groups, approvals_needed, window_us, created_at_us, "
      "decide_by_us, seq) VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
  if (!q) return q.error();
  q->bind(1, std::string_view(*id));
  q->bind(2, std::string_view(review.requester));
  q->bind(3, std::string_view(namesToJson(review.requester_groups)));
  q->bind(4, std::string_view(review.connection));
  q->bind(5, std::string_view(review.session_id));
  q->bind(6, std::string_view(review.sql));
  q->bind(7, std::string_view(review.statement_hash));
  q->bind(8, std::string_view(review.rule));
  q->bind(9, std::string_view(review.reason));
  q->bind(10, std::string_view(review.mode));
  q->bind(11, std::string_view(namesToJson(review.approver_groups)));
  q->bind(12, int64_t{review.approvals_needed});
  q->bind(13, review.window_us);
  q->bind(14, now_us);
  q->bind(15, review.decide_by_us);
  q->bind(16, static_cast<int64_t>(review.seq));
  if (auto r = q->run(); !r) return r.error();
  if (auto r = notify(db, "review.created", *id, now_us); !r) return r.error();
  if (auto r = txn->commit(); !r) return r.error();
  return ReviewRow{.id = std::move(*id), .status = std::string(kReviewPending), .request = review,
                   .created_at_us = now_us, .decided_at_us = {}, .usable_until_us = {}, .used_at_us = {},
                   .decisions = {}};
}

Result<std::optional<ReviewRow>> getReview(Database& db, std::string_view id, int64_t now_us) {
  if (auto r = expire(db, now_us); !r) return r.error();
  return one(db, "WHERE review_id = ?1", {id});
}

Result<std::vector<ReviewRow>> listReviews(Database& db, bool pending_only, int64_t now_us) {
  if (auto r = expire(db, now_us); !r) return r.error();
  return select(db, pending_only ? "WHERE status = 'pending' ORDER BY created_at_us DESC"
                                 : "ORDER BY created_at_us DESC",
                {});
}

Result<ReviewRow> decideReview(Database& db, std::string_view id, std::string_view approver,
                               const std::vector<std::string>& approver_groups, bool approve, std::string_view reason,
                               int64_t now_us) {
  auto txn = Transaction::begin(db);
  if (!txn) return txn.error();
  if (auto r = expire(db, now_us); !r) return r.error();
  auto found = one(db, "WHERE review_id = ?1", {id});
  if (!found) return found.error();
  if (!*found) return makeError("no review with id " + std::string(id));
  ReviewRow review = std::move(**found);
  if (review.status != kReviewPending)
    return makeError("review " + review.id + " is " + review.status + ", not pending: it can no longer be decided");
  if (review.request.requester == approver)
    return makeError("review " + review.id + " was requested by " + std::string(approver) +
                     ", who cannot decide their own review");
  const auto& allowed = review.request.approver_groups;
  if (std::none_of(approver_groups.begin(), approver_groups.end(), [&](const std::string& g) {
        return std::find(allowed.begin(), allowed.end(), g) != allowed.end();
      })) {
    std::string list;
    for (const auto& g : allowed) list += (list.empty() ? "" : ", ") + g;
    return makeError(std::string(approver) + " is not in an approver group of review " + review.id + " (" + list + ")");
  }
  if (std::any_of(review.decisions.begin(), review.decisions.end(),
                  [&](const ReviewDecision& d) { return d.approver == approver; }))
    return makeError(std::string(approver) + " has already decided review " + review.id);
  {
    auto q = db.query(
        "INSERT INTO review_decisions (review_id, approver, approved, reason, decided_at_us) VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!q) return q.error();
    q->bind(1, std::string_view(review.id));
    q->bind(2, approver);
    q->bind(3, int64_t{approve ? 1 : 0});
    q->bind(4, reason);
    q->bind(5, now_us);
    if (auto r = q->run(); !r) return r.error();
  }
  review.decisions.push_back(ReviewDecision{.approver = std::string(approver), .approved = approve,
                                            .reason = std::string(reason), .decided_at_us = now_us});
  const auto approvals = std::count_if(review.decisions.begin(), review.decisions.end(),
                                       [](const ReviewDecision& d) { return d.approved; });
  if (!approve) {
    review.status = std::string(kReviewRejected);
    review.decided_at_us = now_us;
  } else if (approvals >= review.request.approvals_needed) {
    review.status = std::string(kReviewApproved);
    review.decided_at_us = now_us;
    review.usable_until_us = now_us + review.request.window_us;
  }
  if (review.status != kReviewPending) {
    auto q = db.query("UPDATE reviews SET status = ?2, decided_at_us = ?3, usable_until_us = ?4 WHERE review_id = ?1");
    if (!q) return q.error();
    q->bind(1, std::string_view(review.id));
    q->bind(2, std::string_view(review.status));
    q->bind(3, review.decided_at_us);
    q->bind(4, review.usable_until_us);
    if (auto r = q->run(); !r) return r.error();
  }
  const std::string_view event = review.status == kReviewApproved   ? "review.approved"
                                 : review.status == kReviewRejected ? "review.rejected"
                                                                    : "review.decision";
  if (auto r = notify(db, event, review.id, now_us); !r) return r.error();
  if (auto r = txn->commit(); !r) return r.error();
  return review;
}

Result<std::optional<ReviewRow>> findPendingReview(Database& db, std::string_view statement_hash, int64_t now_us) {
  if (auto r = expire(db, now_us); !r) return r.error();
  return one(db, "WHERE statement_hash = ?1 AND status = 'pending' ORDER BY created_at_us DESC LIMIT 1",
             {statement_hash});
}

Result<std::optional<ReviewRow>> claimApprovedReview(Database& db, std::string_view statement_hash, int64_t now_us,
                                                     std::string_view session_id, uint64_t seq) {
  auto txn = Transaction::begin(db);
  if (!txn) return txn.error();
  if (auto r = expire(db, now_us); !r) return r.error();
  auto found = one(db, "WHERE statement_hash = ?1 AND status = 'approved' ORDER BY decided_at_us LIMIT 1",
                   {statement_hash});
  if (!found) return found.error();
  if (!*found) return found;
  if (auto r = markReviewUsed(db, (*found)->id, now_us, session_id, seq); !r) return r.error();
  if (auto r = txn->commit(); !r) return r.error();
  (*found)->status = std::string(kReviewUsed);
  (*found)->used_at_us = now_us;
  (*found)->used_session_id = std::string(session_id);
  (*found)->used_seq = seq;
  return found;
}

Result<void> markReviewUsed(Database& db, std::string_view id, int64_t now_us, std::string_view session_id,
                            uint64_t seq) {
  auto q = db.query(
      "UPDATE reviews SET status = 'used', used_at_us = ?2, used_session_id = ?3, used_seq = ?4 "
      "WHERE review_id = ?1 AND status = 'approved'");
  if (!q) return q.error();
  q->bind(1, id);
  q->bind(2, now_us);
  q->bind(3, session_id);
  q->bind(4, static_cast<int64_t>(seq));
  if (auto r = q->run(); !r) return r;
  if (db.changes() != 1) return makeError("review " + std::string(id) + " is not approved (or was used already)");
  return {};
}

Result<std::vector<Notification>> dueNotifications(Database& db, int64_t now_us, std::size_t limit) {
  auto q = db.query(
      "SELECT notification_id, event, review_id, created_at_us, attempts FROM notifications "
      "WHERE delivered_at_us IS NULL AND gave_up = 0 AND next_attempt_us <= ?1 ORDER BY notification_id LIMIT ?2");
  if (!q) return q.error();
  q->bind(1, now_us);
  q->bind(2, static_cast<int64_t>(limit));
  std::vector<Notification> out;
  for (;;) {
    auto row = q->step();
    if (!row) return row.error();
    if (!*row) return out;
    out.push_back(Notification{.id = q->integer(0), .event = q->text(1), .review_id = q->text(2),
                               .created_at_us = q->integer(3), .attempts = static_cast<int>(q->integer(4))});
  }
}

Result<void> notificationDelivered(Database& db, int64_t id, int64_t now_us) {
  auto q = db.query("UPDATE notifications SET delivered_at_us = ?2, attempts = attempts + 1 WHERE notification_id = ?1");
  if (!q) return q.error();
  q->bind(1, id);
  q->bind(2, now_us);
  return q->run();
}

Result<void> notificationFailed(Database& db, int64_t id, std::string_view error, std::optional<int64_t> retry_at_us) {
  auto q = db.query(
      "UPDATE notifications SET attempts = attempts + 1, last_error = ?2, next_attempt_us = COALESCE(?3, "
      "next_attempt_us), gave_up = ?4 WHERE notification_id = ?1");
  if (!q) return q.error();
  q->bind(1, id);
  q->bind(2, error);
  q->bind(3, retry_at_us);
  q->bind(4, int64_t{retry_at_us ? 0 : 1});
  return q->run();
}

}  // namespace gatehouse::store::sqlite
