// SQL guardrails: the pure decision engine. Statement facts (inspect/sql) + the caller's groups + a connection's
// rules -> a verdict naming the rule that decided. No I/O, no state, so that every rule is tested exhaustively.
//
// Rules are tried in order; the first that matches decides; none matching, the default action does. A rule
// matches a statement when every criterion it names holds, and which way a criterion is read follows the
// rule's action, so that a doubt always falls on the strict side:
// - a deny or review rule matches when the statement does any of what it names: some operation of a listed
//   kind, some relation matching a pattern, some call of a listed function, some listed condition;
// - an allow rule matches only when the statement does nothing but what it names: every operation of a listed
//   kind, every relation matching a pattern (and at least one), every called function listed (and at least one),
//   and at least one listed condition present.
// An unqualified relation (`t`) is in one of the schemas of the session's search_path (as the gateway follows it:
// see PgSession), or in pg_catalog for a name starting with pg_: a deny/review pattern matches it when it matches
// in any of those schemas, an allow pattern only when it matches in all. When the search_path is not known (an
// empty list), the schema may be any: a deny/review pattern matches on the table part alone, an allow pattern only
// when its schema part is `*`. Names match patterns case-insensitively; `*` matches any run of characters.
// A multi-statement query gets the strictest verdict of its statements: one denied statement denies it all.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "inspect/sql/facts.h"

namespace gatehouse::policy {

enum class Action { kAllow, kDeny, kReview };
std::string_view actionName(Action a);

enum class ReviewMode {
  kWait,   // the statement is held until a decision (or the timeout)
  kAsync,  // refused at once with the review's id; once approved it may run once within the window
};

struct ReviewSpec {
  std::vector<std::string> approver_groups;
  int approvals = 1;  // distinct approvers needed
  ReviewMode mode = ReviewMode::kWait;
  std::chrono::seconds timeout{300};  // wait mode: how long the statement is held
  std::chrono::seconds window{3600};  // async mode: how long an approval stays usable
};

// A statement kind, optionally with the object it acts on ("drop" any object, or "drop table").
struct KindPattern {
  inspect::sql::Kind kind;
  std::string object;  // empty: any
};

struct GuardrailRule {
  std::string name;
  std::vector<std::string> groups;  // the rule applies to callers in one of these; empty: to everyone
  std::vector<KindPattern> kinds;
  std::vector<std::string> relations;  // "schema.table" patterns ("hr.*", "*.salaries", "public.t")
  std::vector<std::string> functions;  // "pg_read_file", "dblink*", "pg_catalog.lo_*"
  std::vector<inspect::sql::Condition> conditions;
  Action action = Action::kDeny;
  std::string message;  // shown to the client with the rule's name; empty: a generated reason
  ReviewSpec review;    // for Action::kReview
};

struct Guardrails {
  Action default_action = Action::kAllow;
  ReviewSpec default_review;  // when the default action is review
  std::vector<GuardrailRule> rules;
};

struct Verdict {
  Action action = Action::kAllow;
  std::string rule;              // the rule that decided; "default" when none matched
  std::string reason;            // why, for the client and the record
  std::size_t statement = 0;     // the statement (of a multi-statement query) that decided
  const ReviewSpec* review = nullptr;  // for kReview: points into the Guardrails judged against
};

// Judges one statement. `search_path`: the schemas unqualified names resolve in; empty: unknown.
Verdict judgeStatement(const Guardrails& g, const inspect::sql::StatementFacts& s,
                       std::span<const std::string> caller_groups, std::span<const std::string> search_path = {});

// Judges a whole query: the strictest verdict of its statements (deny over review over allow; the first such
// statement). A query of no statements is allowed.
Verdict judge(const Guardrails& g, std::span<const inspect::sql::StatementFacts> statements,
              std::span<const std::string> caller_groups, std::span<const std::string> search_path = {});

// Whether `name` matches the glob `pattern` (`*` any run, case-insensitive).
bool globMatch(std::string_view pattern, std::string_view name);

// The function-name matching: a pattern without a schema matches the function's name in any schema; one with
// a schema matches the name as written with that schema (an unqualified call may resolve to any schema).
bool functionMatches(std::string_view pattern, std::string_view called);

// Relation matching, `strict` for allow rules (see above).
bool relationMatches(std::string_view pattern, std::string_view relation, bool strict,
                     std::span<const std::string> search_path = {});

}  // namespace gatehouse::policy
