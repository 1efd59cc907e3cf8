// SQL guardrails' decision engine; see guardrails.h.
#include "policy/guardrails.h"

#include <algorithm>
#include <cctype>

namespace gatehouse::policy {

using inspect::sql::Condition;
using inspect::sql::Kind;
using inspect::sql::Operation;
using inspect::sql::StatementFacts;

namespace {

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Splits "schema.name" at its last dot (identifiers with dots are quoted in SQL; the parser gives them as
// written, so a quoted "a.b" table looks like schema a: the stricter reading for a deny rule).
std::pair<std::string_view, std::string_view> splitQualified(std::string_view name) {
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return {{}, name};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

bool kindMatches(const KindPattern& p, const Operation& o) {
  return p.kind == o.kind && (p.object.empty() || globMatch(p.object, o.object));
}
bool anyKindMatches(const std::vector<KindPattern>& ps, const Operation& o) {
  return std::any_of(ps.begin(), ps.end(), [&](const KindPattern& p) { return kindMatches(p, o); });
}

bool anyRelationPattern(const std::vector<std::string>& ps, std::string_view rel, bool strict,
                        std::span<const std::string> path) {
  return std::any_of(ps.begin(), ps.end(),
                     [&](const std::string& p) { return relationMatches(p, rel, strict, path); });
}
bool anyFunctionPattern(const std::vector<std::string>& ps, std::string_view fn) {
  return std::any_of(ps.begin(), ps.end(), [&](const std::string& p) { return functionMatches(p, fn); });
}

// Conditions read the same way for every action: at least one of those the rule lists is present.
bool conditionsHold(const GuardrailRule& r, const StatementFacts& s) {
  return r.conditions.empty() ||
         std::any_of(r.conditions.begin(), r.conditions.end(), [&](Condition c) { return s.has(c); });
}

// A deny/review rule: the statement does any of what the rule names.
bool matchesAny(const GuardrailRule& r, const StatementFacts& s, std::span<const std::string> path) {
  if (!r.kinds.empty() || !r.relations.empty()) {
    // Kind and relation are read together, per operation: `kind: [select], relations: [hr.*]` is a read of hr,
    // not a write of hr plus a read of something else.
    const bool some = std::any_of(s.operations.begin(), s.operations.end(), [&](const Operation& o) {
      if (!r.kinds.empty() && !anyKindMatches(r.kinds, o)) return false;
      if (r.relations.empty()) return true;
      return std::any_of(o.relations.begin(), o.relations.end(),
                         [&](const std::string& rel) { return anyRelationPattern(r.relations, rel, false, path); });
    });
    if (!some) return false;
  }
  if (!r.functions.empty() &&
      std::none_of(s.functions.begin(), s.functions.end(),
                   [&](const std::string& f) { return anyFunctionPattern(r.functions, f); }))
    return false;
  return conditionsHold(r, s);
}

// An allow rule: the statement does nothing but what the rule names.
bool matchesAll(const GuardrailRule& r, const StatementFacts& s, std::span<const std::string> path) {
  if (!r.kinds.empty() &&
      !std::all_of(s.operations.begin(), s.operations.end(),
                   [&](const Operation& o) { return anyKindMatches(r.kinds, o); }))
    return false;
  if (!r.relations.empty()) {
    bool any = false;
    for (const auto& o : s.operations) {
      for (const auto& rel : o.relations) {
        if (!anyRelationPattern(r.relations, rel, true, path)) return false;
        any = true;
      }
    }
    if (!any) return false;
  }
  if (!r.functions.empty()) {
    if (s.functions.empty()) return false;
    if (!std::all_of(s.functions.begin(), s.functions.end(),
                     [&](const std::string& f) { return anyFunctionPattern(r.functions, f); }))
      return false;
  }
  return conditionsHold(r, s);
}

bool appliesTo(const GuardrailRule& r, std::span<const std::string> groups) {
  if (r.groups.empty()) return true;
  return std::any_of(r.groups.begin(), r.groups.end(), [&](const std::string& g) {
    return std::find(groups.begin(), groups.end(), g) != groups.end();
  });
}

std::string describe(const StatementFacts& s) {
  std::string out;
  for (const auto& o : s.operations) {
    if (!out.empty()) out += ", ";
    out += inspect::sql::kindName(o.kind);
    if (!o.object.empty()) out += " " + o.object;
  }
  for (auto c : s.conditions) out += std::string(", ") + std::string(inspect::sql::conditionName(c));
  return out;
}

int severity(Action a) { return a == Action::kDeny ? 2 : a == Action::kReview ? 1 : 0; }

}  // namespace

std::string_view actionName(Action a) {
  switch (a) {
    case Action::kAllow: return "allow";
    case Action::kDeny: return "deny";
    case Action::kReview: return "review";
  }
  return "deny";
}

bool globMatch(std::string_view pattern, std::string_view name) {
  // Iterative wildcard matching with one backtrack point: linear in practice, no recursion.
  std::size_t p = 0, n = 0, star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (p < pattern.size() && lower(pattern[p]) == lower(name[n])) {
      ++p;
      ++n;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool functionMatches(std::string_view pattern, std::string_view called) {
  const auto [pschema, pname] = splitQualified(pattern);
  const auto [cschema, cname] = splitQualified(called);
  if (!globMatch(pname, cname)) return false;
  if (pschema.empty() || cschema.empty()) return true;
  return globMatch(pschema, cschema);
}

bool relationMatches(std::string_view pattern, std::string_view relation, bool strict,
                     std::span<const std::string> search_path) {
  const auto [pschema, pname] = splitQualified(pattern);
  const auto [rschema, rname] = splitQualified(relation);
  if (!globMatch(pname, rname)) return false;
  if (pschema.empty()) return true;  // a pattern without a schema: that name in any schema
  if (!rschema.empty()) return globMatch(pschema, rschema);
  if (search_path.empty()) return !strict || pschema == "*";  // the schema could be any
  // The schemas the name may resolve in. The system catalogs' relations are all named pg_*.
  bool any = false;
  bool all = true;
  const auto check = [&](std::string_view schema) {
    const bool m = globMatch(pschema, schema);
    any = any || m;
    all = all && m;
  };
  for (const auto& schema : search_path) check(schema);
  if (rname.size() >= 3 && (rname.substr(0, 3) == "pg_" || rname.substr(0, 3) == "PG_")) check("pg_catalog");
  return strict ? all : any;
}

Verdict judgeStatement(const Guardrails& g, const StatementFacts& s, std::span<const std::string> caller_groups,
                       std::span<const std::string> search_path) {
  for (const auto& r : g.rules) {
    if (!appliesTo(r, caller_groups)) continue;
    const bool match = r.action == Action::kAllow ? matchesAll(r, s, search_path) : matchesAny(r, s, search_path);
    if (!match) continue;
    Verdict v{.action = r.action, .rule = r.name, .reason = {}, .statement = 0, .review = nullptr};
    v.reason = !r.message.empty() ? r.message : describe(s);
    if (r.action == Action::kReview) v.review = &r.review;
    return v;
  }
  Verdict v{.action = g.default_action, .rule = "default", .reason = describe(s), .statement = 0, .review = nullptr};
  if (v.action == Action::kReview) v.review = &g.default_review;
  return v;
}

Verdict judge(const Guardrails& g, std::span<const StatementFacts> statements,
              std::span<const std::string> caller_groups, std::span<const std::string> search_path) {
  Verdict worst{.action = Action::kAllow, .rule = "default", .reason = "no statement", .statement = 0,
                .review = nullptr};
  bool first = true;
  // A statement that sets search_path changes how the next ones' unqualified names resolve.
  std::vector<std::string> path(search_path.begin(), search_path.end());
  for (std::size_t i = 0; i < statements.size(); ++i) {
    auto v = judgeStatement(g, statements[i], caller_groups, path);
    v.statement = i;
    if (first || severity(v.action) > severity(worst.action)) worst = std::move(v);
    first = false;
    if (worst.action == Action::kDeny) break;
    switch (statements[i].search_path_change) {
      case inspect::sql::SearchPathChange::kNone: break;
      case inspect::sql::SearchPathChange::kSet: path = statements[i].search_path; break;
      case inspect::sql::SearchPathChange::kReset:
      case inspect::sql::SearchPathChange::kUnknown: path.clear(); break;  // not known here: any schema
    }
  }
  return worst;
}

}  // namespace gatehouse::policy
