// Compiling guardrails from the config; see guardrails_config.h.
#include "policy/guardrails_config.h"

#include <fmt/format.h>

namespace gatehouse::policy {

namespace {

using inspect::sql::Condition;
using inspect::sql::Kind;

constexpr std::string_view kKnownKinds =
    "select, insert, update, delete, merge, truncate, create, alter, drop, grant, revoke, copy, set, reset, show, "
    "set_role, procedural, transaction, call, explain, prepare, execute, deallocate, maintenance, lock, listen, "
    "notify, discard, comment, cursor, load, other";
constexpr std::string_view kKnownConditions =
    "update_without_where, delete_without_where, drop_database, alter_system, copy_to_program, copy_from_program, "
    "copy_to_file, copy_from_file, data_modifying_cte, select_into, explain_analyze";

// "drop", "drop table", "create materialized view", "alter *".
Result<KindPattern> kindPattern(std::string_view text, const std::string& where) {
  const auto space = text.find(' ');
  const auto name = text.substr(0, space);
  auto kind = inspect::sql::kindFromName(name);
  if (!kind) return makeError(fmt::format("{}: unknown kind '{}' (known: {})", where, name, kKnownKinds));
  KindPattern p{.kind = *kind, .object = {}};
  if (space != std::string_view::npos) {
    p.object = std::string(text.substr(space + 1));
    if (p.object.empty()) return makeError(fmt::format("{}: '{}' ends with a space", where, text));
  }
  return p;
}

Result<ReviewSpec> reviewSpec(const core::ReviewConfig& c) {
  ReviewSpec r;
  r.approver_groups = c.approvers;
  r.approvals = c.approvals;
  r.mode = c.mode == "async" ? ReviewMode::kAsync : ReviewMode::kWait;
  r.timeout = std::chrono::seconds(c.timeout_s);
  r.window = std::chrono::seconds(c.window_s);
  return r;
}

Action action(const std::string& a) {
  return a == "allow" ? Action::kAllow : a == "review" ? Action::kReview : Action::kDeny;
}

}  // namespace

Result<Guardrails> compileGuardrails(const core::GuardrailsConfig& config) {
  Guardrails g;
  g.default_action = action(config.default_action);
  if (auto r = reviewSpec(config.default_review); r) g.default_review = *r;
  for (const auto& rc : config.rules) {
    GuardrailRule rule;
    rule.name = rc.name;
    rule.groups = rc.groups;
    rule.relations = rc.relations;
    rule.functions = rc.functions;
    rule.action = action(rc.action);
    rule.message = rc.message;
    for (std::size_t i = 0; i < rc.kinds.size(); ++i) {
      auto k = kindPattern(rc.kinds[i], fmt::format("{}.match.kind[{}]", rc.where, i));
      if (!k) return k.error();
      rule.kinds.push_back(std::move(*k));
    }
    for (std::size_t i = 0; i < rc.conditions.size(); ++i) {
      auto c = inspect::sql::conditionFromName(rc.conditions[i]);
      if (!c)
        return makeError(fmt::format("{}.match.conditions[{}]: unknown condition '{}' (known: {})", rc.where, i,
                                     rc.conditions[i], kKnownConditions));
      rule.conditions.push_back(*c);
    }
    for (const auto& list : {&rc.relations, &rc.functions})
      for (const auto& p : *list)
        if (p.empty()) return makeError(fmt::format("{}.match: an empty pattern", rc.where));
    if (rule.action == Action::kReview) {
      auto r = reviewSpec(rc.review);
      if (!r) return r.error();
      rule.review = std::move(*r);
    }
    g.rules.push_back(std::move(rule));
  }
  return g;
}

}  // namespace gatehouse::policy
