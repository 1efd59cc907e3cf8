// SQL guardrails for one session; see session_guard.h.
#include "gateway/session_guard.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "inspect/sql/facts_cache.h"
#include "core/hex.h"
#include "protocols/postgres/codec.h"

namespace gatehouse::gateway {

namespace {

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string shortened(std::string_view sql) {
  constexpr std::size_t kMax = 200;
  if (sql.size() <= kMax) return std::string(sql);
  return std::string(sql.substr(0, kMax)) + "...";
}

std::string listed(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string duration(std::chrono::seconds s) {
  if (s.count() % 3600 == 0) return fmt::format("{}h", s.count() / 3600);
  if (s.count() % 60 == 0) return fmt::format("{}m", s.count() / 60);
  return fmt::format("{}s", s.count());
}

// A store failure while deciding: nothing runs that the gateway could not check (fail closed).
std::string storeFailure(std::string_view what) {
  return pg::errorResponse("ERROR", "58000",
                           fmt::format("gatehouse: the gateway cannot check reviews right now ({}), so it refuses "
                                       "the statement",
                                       what));
}

}  // namespace

std::string statementHash(std::string_view user, std::string_view connection, std::string_view sql) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const char zero = '\0';
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, user.data(), user.size());
  EVP_DigestUpdate(ctx, &zero, 1);
  EVP_DigestUpdate(ctx, connection.data(), connection.size());
  EVP_DigestUpdate(ctx, &zero, 1);
  EVP_DigestUpdate(ctx, sql.data(), sql.size());
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return core::toHex(md, len);
}

SessionGuard::SessionGuard(const policy::Guardrails& rules, store::Store& store, Metrics& metrics,
                           SessionIdentity who, std::vector<std::string> search_path)
    : rules_(rules),
      store_(store),
      metrics_(metrics),
      who_(std::move(who)),
      search_path_(search_path),
      default_search_path_(std::move(search_path)) {}

SessionGuard::Decision SessionGuard::judge(std::string_view sql, Stage stage, bool lone, uint64_t seq) {
  const bool simple = stage == Stage::kQuery;
  auto analyzed = inspect::sql::FactsCache::forThisThread().analyze(sql);
  if (!analyzed) {
    // Fail closed: what the gateway cannot understand, it cannot judge.
    metrics_.guardrail_denied_total.Increment();
    spdlog::info("session {}: refused a statement that does not parse: {}", who_.session_id,
                 analyzed.error().message);
    return {.kind = Decision::Kind::kRefuse,
            .refusal = pg::errorResponse("ERROR", pg::sqlstate::kSyntaxError,
                                         "gatehouse: the statement could not be parsed, so it is refused: " +
                                             analyzed.error().message),
            .review_id = {}};
  }
  const auto& parsed = **analyzed;  // shared with the worker's cache: read only
  // Judged straight from the worker's cache; copied only when an EXECUTE stands for what it runs.
  const auto substituted = executed(parsed);
  const auto& facts = substituted ? *substituted : parsed;
  auto verdict = policy::judge(rules_, facts, who_.groups, search_path_);
  // PREPARE runs nothing: a statement that needs a review is held when it is EXECUTEd, each time, not when it is
  // prepared. (A denied one is refused at PREPARE: it never exists.)
  if (verdict.action == policy::Action::kReview && simple && facts[verdict.statement].performs(inspect::sql::Kind::kPrepare)) {
    bool only_prepares = true;
    for (const auto& f : facts) only_prepares = only_prepares && f.performs(inspect::sql::Kind::kPrepare);
    if (only_prepares) verdict.action = policy::Action::kAllow;
  }
  if (verdict.action == policy::Action::kReview && stage == Stage::kParse) verdict.action = policy::Action::kAllow;
  if (stage == Stage::kExecute && verdict.action == policy::Action::kAllow) return {};  // followed at its Parse
  if (verdict.action == policy::Action::kAllow) {
    followSearchPath(parsed, simple, lone);
    if (simple) followPrepared(parsed);
    return {};
  }
  // A cached statement's facts may come from a text with other literals: a lone statement is shown as sent.
  const std::string detail =
      facts.size() > 1 ? fmt::format("Statement {} of {}: {}", verdict.statement + 1, facts.size(),
                                     shortened(facts[verdict.statement].text))
                       : fmt::format("Statement: {}", shortened(sql));
  if (verdict.action == policy::Action::kReview) {
    auto d = review(verdict, sql, detail, seq);
    if (d.kind == Decision::Kind::kAllow) {
      followSearchPath(parsed, simple, lone);
      if (simple) followPrepared(parsed);
    }
    return d;
  }
  metrics_.guardrail_denied_total.Increment();
  spdlog::info("session {}: statement denied by rule {}: {}", who_.session_id, verdict.rule, verdict.reason);
  return {.kind = Decision::Kind::kRefuse,
          .refusal = pg::errorResponse(
              "ERROR", pg::sqlstate::kInsufficientPrivilege,
              fmt::format("gatehouse: statement denied by rule \"{}\": {}", verdict.rule, verdict.reason), detail),
          .review_id = {}};
}

SessionGuard::Decision SessionGuard::review(const policy::Verdict& v, std::string_view sql,
                                            const std::string& detail, uint64_t seq) {
  const auto& spec = *v.review;
  const auto now = nowUs();
  const auto hash = statementHash(who_.user, who_.connection, sql);
  // An approval given for this very statement (by this identity, on this connection) runs it, once.
  auto claimed = store_.claimApprovedReview(hash, now, who_.session_id, seq);
  if (!claimed) return {.kind = Decision::Kind::kRefuse, .refusal = storeFailure(claimed.error().message), .review_id = {}};
  if (*claimed) {
    spdlog::info("session {}: running the statement approved in review {}", who_.session_id, (*claimed)->id);
    return {};
  }
  std::optional<store::ReviewRow> pending;
  if (spec.mode == policy::ReviewMode::kAsync) {
    auto found = store_.findPendingReview(hash, now);
    if (!found) return {.kind = Decision::Kind::kRefuse, .refusal = storeFailure(found.error().message), .review_id = {}};
    pending = std::move(*found);
  }
  if (!pending) {
    store::NewReview req{.requester = who_.user, .requester_groups = who_.groups, .connection = who_.connection,
                         .session_id = who_.session_id, .seq = seq, .sql = std::string(sql), .statement_hash = hash,
                         .rule = v.rule, .reason = v.reason,
                         .mode = spec.mode == policy::ReviewMode::kAsync ? "async" : "wait",
                         .approver_groups = spec.approver_groups, .approvals_needed = spec.approvals,
                         .decide_by_us = now + std::chrono::duration_cast<std::chrono::microseconds>(spec.timeout).count(),
                         .window_us = std::chrono::duration_cast<std::chrono::microseconds>(spec.window).count()};
    auto created = store_.createReview(req, now);
    if (!created) return {.kind = Decision::Kind::kRefuse, .refusal = storeFailure(created.error().message), .review_id = {}};
    pending = std::move(*created);
    metrics_.guardrail_review_total.Increment();
    spdlog::info("session {}: statement held for review {} under rule {} ({} mode, approvers: {})", who_.session_id,
                 pending->id, v.rule, pending->request.mode, listed(spec.approver_groups));
  }
  if (spec.mode == policy::ReviewMode::kWait) return {.kind = Decision::Kind::kHold, .refusal = {}, .review_id = pending->id};
  return {.kind = Decision::Kind::kRefuse,
          .refusal = pg::errorResponse(
              "ERROR", pg::sqlstate::kInsufficientPrivilege,
              fmt::format("gatehouse: statement held for review {} under rule \"{}\": {}", pending->id, v.rule,
                          v.reason),
              detail,
              fmt::format("An approver (group {}) runs: gatehouse approve {}. Once approved, send the same statement "
                          "again within {}; it runs once.",
                          listed(spec.approver_groups), pending->id, duration(spec.window))),
          .review_id = pending->id};
}

std::optional<std::string> SessionGuard::holdOutcome(const std::string& review_id, uint64_t seq) {
  const auto now = nowUs();
  auto got = store_.getReview(review_id, now);
  if (!got) return storeFailure(got.error().message);
  if (!*got) return storeFailure("review " + review_id + " is gone");
  const auto& r = **got;
  if (r.status == store::kReviewPending) return std::nullopt;
  if (r.status == store::kReviewApproved) {
    if (auto used = store_.markReviewUsed(review_id, now, who_.session_id, seq); !used)
      return storeFailure(used.error().message);
    spdlog::info("session {}: review {} approved; running the held statement", who_.session_id, review_id);
    return std::string();
  }
  if (r.status == store::kReviewRejected) {
    std::string by;
    std::string why;
    for (const auto& d : r.decisions) {
      if (d.approved) continue;
      by = d.approver;
      why = d.reason;
    }
    return pg::errorResponse("ERROR", pg::sqlstate::kInsufficientPrivilege,
                             fmt::format("gatehouse: review {} was rejected by {}{}", review_id, by,
                                         why.empty() ? "" : ": " + why));
  }
  // Expired (or used by another session: one approval, one run).
  return pg::errorResponse("ERROR", "57014",
                           fmt::format("gatehouse: review {} was not approved in time ({})", review_id, r.status));
}

std::string SessionGuard::cancelled(const std::string& review_id) {
  spdlog::info("session {}: held statement of review {} cancelled by the client", who_.session_id, review_id);
  return pg::errorResponse("ERROR", "57014",
                           fmt::format("canceling statement due to user request (gatehouse: it was waiting for review "
                                       "{})",
                                       review_id));
}

std::optional<std::vector<inspect::sql::StatementFacts>> SessionGuard::executed(
    const std::vector<inspect::sql::StatementFacts>& facts) const {
  const bool any = !prepared_.empty() && std::any_of(facts.begin(), facts.end(), [&](const auto& f) {
    return f.performs(inspect::sql::Kind::kExecute) && prepared_.contains(f.prepared_name);
  });
  if (!any) return std::nullopt;
  std::vector<inspect::sql::StatementFacts> out = facts;
  for (auto& f : out) {
    if (!f.performs(inspect::sql::Kind::kExecute)) continue;
    const auto it = prepared_.find(f.prepared_name);
    if (it == prepared_.end()) continue;  // prepared otherwise (a protocol-level Parse, judged then), or unknown
    auto merged = it->second;
    std::erase_if(merged.operations,
                  [](const inspect::sql::Operation& o) { return o.kind == inspect::sql::Kind::kPrepare; });
    merged.text = f.text;
    merged.operations.insert(merged.operations.end(), f.operations.begin(), f.operations.end());
    merged.functions.insert(merged.functions.end(), f.functions.begin(), f.functions.end());
    f = std::move(merged);
  }
  return out;
}

void SessionGuard::followPrepared(const std::vector<inspect::sql::StatementFacts>& facts) {
  for (const auto& f : facts) {
    if (f.forgets_all_prepared) prepared_.clear();
    if (f.performs(inspect::sql::Kind::kDeallocate)) prepared_.erase(f.prepared_name);
    if (f.performs(inspect::sql::Kind::kPrepare)) prepared_[f.prepared_name] = f;
  }
}

void SessionGuard::followSearchPath(const std::vector<inspect::sql::StatementFacts>& facts, bool simple, bool lone) {
  // Exactly only for a lone SET/RESET sent outside a transaction block, where it certainly takes effect and stays;
  // any other change (in a transaction, which may roll it back; in a multi-statement string; SET LOCAL;
  // set_config) leaves it unknown.
  for (const auto& f : facts) {
    using inspect::sql::SearchPathChange;
    if (f.search_path_change == SearchPathChange::kNone) continue;
    const bool exact = simple && lone && facts.size() == 1;
    if (exact && f.search_path_change == SearchPathChange::kSet) {
      search_path_.clear();
      for (const auto& s : f.search_path) search_path_.push_back(s == "$user" ? who_.upstream_user : s);
    } else if (exact && f.search_path_change == SearchPathChange::kReset) {
      search_path_ = default_search_path_;
    } else {
      search_path_.clear();
    }
  }
}

}  // namespace gatehouse::gateway
