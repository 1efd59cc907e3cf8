// The rows the store keeps (tokens, sessions, statements) and the changes the indexer applies to them.
// Plain data, independent of SQL, so that every Store implementation shares them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace gatehouse::store {

// Times are microseconds since the Unix epoch, UTC.

struct TokenInfo {
  std::string id;  // public handle ("tok_…"), safe to print and log; never the secret
  std::string user;
  std::vector<std::string> groups;
  int64_t created_at_us = 0;
  std::optional<int64_t> revoked_at_us;
};

// A service account: a machine identity (a CI job, an agent) with groups, authenticated by keys that are exchanged
// for short-lived session tokens.
struct ServiceAccountKey {
  std::string id;  // public handle ("sak_…"); never the key
  int64_t created_at_us = 0;
  std::optional<int64_t> revoked_at_us;
};
struct ServiceAccountRow {
  std::string name;
  std::vector<std::string> groups;
  int64_t created_at_us = 0;
  std::vector<ServiceAccountKey> keys;  // oldest first
};
// The account a presented key belongs to.
struct ServiceAccountKeyInfo {
  std::string key_id;
  std::string account;
  std::vector<std::string> groups;
  std::optional<int64_t> revoked_at_us;
};

// A session token the gateway signed: kept so that it can be listed and revoked by its id.
struct SessionTokenRow {
  std::string id;       // the token's jti ("gst_…")
  std::string subject;  // who it stands for
  std::vector<std::string> groups;
  std::string source;   // what was exchanged for it: "oidc:<issuer>", "service_account:<key id>"
  int64_t issued_at_us = 0;
  int64_t expires_at_us = 0;
  std::optional<int64_t> revoked_at_us;
};

// How many values of one result column a masking rule masked.
struct MaskedCount {
  std::string rule;
  std::string column;
  uint64_t count = 0;
  friend bool operator==(const MaskedCount&, const MaskedCount&) = default;
};

struct SessionRow {
  std::string session_id;
  std::string user;
  std::string connection;
  std::string client_addr;
  bool tls = false;
  int64_t started_at_us = 0;
  std::optional<int64_t> ended_at_us;  // absent while open, or if the gateway died before closing it
  std::string end_reason;
  uint64_t bytes_from_client = 0;
  uint64_t bytes_from_server = 0;
  uint64_t statements = 0;
  // Values masked in the session, by rule and column, ordered so (listSessions only).
  std::vector<MaskedCount> masked;
  friend bool operator==(const SessionRow&, const SessionRow&) = default;
};

struct StatementRow {
  std::string session_id;
  uint64_t seq = 0;  // 1-based position within the session
  std::string user;
  std::string connection;
  std::string client_addr;
  std::string protocol;  // "simple" | "extended"
  std::string sql;
  int64_t started_at_us = 0;
  int64_t duration_us = 0;
  std::string tag;  // CommandComplete tag, e.g. "SELECT 3"
  std::string sqlstate;
  std::string error_message;
  int64_t rows = 0;
  std::string status;  // "ok" | "error" | "running"
  // The review that held this statement, or let it run (listStatements only; empty when none).
  std::string review_id;
  std::string review_status;
  // Values masked in its results, by rule and column, ordered so (listStatements only).
  std::vector<MaskedCount> masked;
  friend bool operator==(const StatementRow&, const StatementRow&) = default;
};

// What the end of a statement adds to its row.
struct StatementEnd {
  std::string session_id;
  uint64_t seq = 0;
  int64_t duration_us = 0;
  std::string tag;
  std::string sqlstate;  // empty: the statement succeeded
  std::string error_message;
  int64_t rows = 0;
};

// What the end of a session adds to its row.
struct SessionEnd {
  std::string session_id;
  int64_t ended_at_us = 0;
  std::string end_reason;
  uint64_t bytes_from_client = 0;
  uint64_t bytes_from_server = 0;
};

// What masking masked in a statement's results (seq 0: in no one statement's). Each count replaces the one stored
// for the same statement, rule and column: the event log's counts are totals so far.
struct MaskedValues {
  std::string session_id;
  uint64_t seq = 0;
  std::vector<MaskedCount> counts;
};

// A statement held for a person's approval by a guardrail rule (policy/guardrails.h), and its decisions.
inline constexpr std::string_view kReviewPending = "pending";
inline constexpr std::string_view kReviewApproved = "approved";  // may run (once, within its window)
inline constexpr std::string_view kReviewRejected = "rejected";
inline constexpr std::string_view kReviewExpired = "expired";    // no decision in time, or approved but not run in time
inline constexpr std::string_view kReviewUsed = "used";          // approved and run

struct ReviewDecision {
  std::string approver;
  bool approved = false;
  std::string reason;
  int64_t decided_at_us = 0;
  friend bool operator==(const ReviewDecision&, const ReviewDecision&) = default;
};

struct NewReview {
  std::string requester;
  std::vector<std::string> requester_groups;
  std::string connection;
  std::string session_id;
  uint64_t seq = 0;  // the requesting statement in its session (0: not known, e.g. at an extended-protocol Parse)
  std::string sql;
  std::string statement_hash;  // what a later identical request matches (identity, connection, exact text)
  std::string rule;
  std::string reason;
  std::string mode;  // "wait" | "async"
  std::vector<std::string> approver_groups;
  int approvals_needed = 1;
  int64_t decide_by_us = 0;  // pending until then
  int64_t window_us = 0;     // once approved: how long it may be run
};

struct ReviewRow {
  std::string id;  // "rev_…"
  std::string status;
  NewReview request;
  int64_t created_at_us = 0;
  std::optional<int64_t> decided_at_us;
  std::optional<int64_t> usable_until_us;
  std::optional<int64_t> used_at_us;
  std::string used_session_id;  // the statement that ran under the approval
  uint64_t used_seq = 0;
  std::vector<ReviewDecision> decisions;
};

// An event to notify (webhooks), kept until delivered: written in the same transaction as what it reports, by
// whichever process made the change (the gateway, the CLI, the API), and delivered by the gateway's notifier.
struct Notification {
  int64_t id = 0;
  std::string event;      // "review.created", "review.approved", "review.rejected", "review.decision"
  std::string review_id;  // the review it is about
  int64_t created_at_us = 0;
  int attempts = 0;
};

// One change from the event log: a SessionRow opens a session, a StatementRow starts a statement (status
// "running"), a StatementEnd completes it, a SessionEnd completes the session, MaskedValues records what masking
// masked. A StatementRow whose status is already "ok" or "error" carries its end too (the indexer merges a start
// and an end read in the same batch, to write the row once): it is applied as the StatementRow followed by its
// StatementEnd.
using RecordChange = std::variant<SessionRow, StatementRow, StatementEnd, SessionEnd, MaskedValues>;

inline constexpr std::string_view kStatementRunning = "running";

// The status a statement's end gives it.
inline std::string_view statementStatus(std::string_view sqlstate, std::string_view error_message) {
  return sqlstate.empty() && error_message.empty() ? "ok" : "error";
}

// Listing filters. Unset fields match everything; limit 0 means no limit. Results come newest first.
struct SessionFilter {
  size_t limit = 50;
  std::optional<std::string> user;
  std::optional<std::string> connection;
};

struct StatementFilter {
  size_t limit = 50;
  std::optional<std::string> session_id;
  std::optional<std::string> user;
  std::optional<std::string> connection;
  std::optional<int64_t> since_us;  // statements started at or after this time
};

}  // namespace gatehouse::store
