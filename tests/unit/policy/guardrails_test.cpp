// The guardrails' decision engine: the corpus (guardrails_corpus.tsv) through the real parser and the sample
// policy, and the matching rules one by one.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "inspect/sql/analyzer.h"
#include "policy/guardrails.h"

namespace gatehouse::policy {
namespace {

using inspect::sql::Condition;
using inspect::sql::Kind;
using inspect::sql::StatementFacts;

// The demo's policy, and two group rules.
Guardrails samplePolicy() {
  Guardrails g;
  g.default_action = Action::kAllow;
  auto rule = [&](std::string name, Action a) -> GuardrailRule& {
    g.rules.push_back(GuardrailRule{});
    g.rules.back().name = std::move(name);
    g.rules.back().action = a;
    return g.rules.back();
  };
  rule("deny-drop", Action::kDeny).kinds = {{Kind::kDrop, ""}};
  rule("deny-truncate", Action::kDeny).kinds = {{Kind::kTruncate, ""}};
  rule("deny-alter-system", Action::kDeny).conditions = {Condition::kAlterSystem};
  rule("deny-copy-program", Action::kDeny).conditions = {Condition::kCopyToProgram, Condition::kCopyFromProgram};
  rule("deny-server-files", Action::kDeny).conditions = {Condition::kCopyToFile, Condition::kCopyFromFile};
  rule("deny-set-role", Action::kDeny).kinds = {{Kind::kSetRole, ""}};
  rule("deny-procedural", Action::kDeny).kinds = {{Kind::kProcedural, ""}};
  rule("deny-dangerous-functions", Action::kDeny).functions = {
      "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "lo_import", "lo_export",
      "pg_terminate_backend", "pg_cancel_backend", "dblink*"};
  auto& hr = rule("analysts-no-hr", Action::kDeny);
  hr.groups = {"analysts"};
  hr.relations = {"hr.*"};
  auto& dba = rule("dba-ops-maintenance", Action::kAllow);
  dba.groups = {"dba"};
  dba.kinds = {{Kind::kDelete, ""}, {Kind::kUpdate, ""}};
  dba.relations = {"ops.*"};
  auto& review = rule("review-unfiltered-writes", Action::kReview);
  review.conditions = {Condition::kUpdateWithoutWhere, Condition::kDeleteWithoutWhere};
  review.review.approver_groups = {"admins"};
  review.review.mode = ReviewMode::kAsync;
  return g;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string unescapeNewlines(std::string s) {
  for (std::size_t p = 0; (p = s.find("\\n", p)) != std::string::npos;) s.replace(p, 2, "\n");
  return s;
}

TEST(Guardrails, CorpusGetsItsExpectedVerdicts) {
  std::ifstream in(std::string(GATEHOUSE_SOURCE_DIR) + "/tests/unit/policy/guardrails_corpus.tsv");
  ASSERT_TRUE(in) << "corpus file missing";
  const auto policy = samplePolicy();
  std::string line;
  int cases = 0;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    const auto cols = split(line, '\t');
    ASSERT_EQ(cols.size(), 4u) << "line " << n << ": " << line;
    const auto& expected_action = cols[0];
    const auto& expected_rule = cols[1];
    const auto groups = cols[2] == "-" ? std::vector<std::string>{} : split(cols[2], ',');
    const auto sql = unescapeNewlines(cols[3]);
    auto facts = inspect::sql::analyze(sql);
    ASSERT_TRUE(facts) << "line " << n << ": " << sql << ": " << facts.error().message;
    const auto v = judge(policy, *facts, groups);
    EXPECT_EQ(actionName(v.action), expected_action) << "line " << n << ": " << sql << " (rule " << v.rule << ")";
    EXPECT_EQ(v.rule, expected_rule) << "line " << n << ": " << sql;
    ++cases;
  }
  EXPECT_GE(cases, 150);
}

StatementFacts facts1(std::string_view sql) {
  auto f = inspect::sql::analyze(sql);
  EXPECT_TRUE(f && f->size() == 1) << sql;
  return f && !f->empty() ? f->front() : StatementFacts{};
}

TEST(Guardrails, GlobsAreCaseInsensitiveAndAnchored) {
  EXPECT_TRUE(globMatch("dblink*", "dblink_exec"));
  EXPECT_TRUE(globMatch("dblink*", "DBLINK"));
  EXPECT_FALSE(globMatch("dblink*", "my_dblink"));
  EXPECT_TRUE(globMatch("*", ""));
  EXPECT_TRUE(globMatch("a*b*c", "axxbyyc"));
  EXPECT_FALSE(globMatch("a*b*c", "axxbyy"));
  EXPECT_FALSE(globMatch("pg_read_file", "pg_read_file2"));
  EXPECT_TRUE(globMatch("*_file", "pg_read_binary_file"));
}

TEST(Guardrails, FunctionPatternsAndSchemas) {
  EXPECT_TRUE(functionMatches("pg_read_file", "pg_catalog.pg_read_file"));
  EXPECT_TRUE(functionMatches("pg_read_file", "evil.pg_read_file")) << "the name in any schema";
  EXPECT_TRUE(functionMatches("pg_catalog.pg_read_file", "pg_read_file")) << "an unqualified call may be it";
  EXPECT_FALSE(functionMatches("pg_catalog.pg_read_file", "mine.pg_read_file"));
  EXPECT_FALSE(functionMatches("lo_import", "lo_imports"));
}

TEST(Guardrails, UnqualifiedRelationsFallOnTheStrictSide) {
  EXPECT_TRUE(relationMatches("hr.*", "salaries", false)) << "deny: it may be hr.salaries";
  EXPECT_FALSE(relationMatches("hr.*", "salaries", true)) << "allow: it may be elsewhere";
  EXPECT_TRUE(relationMatches("*.salaries", "salaries", true));
  EXPECT_TRUE(relationMatches("salaries", "hr.salaries", true));
  EXPECT_FALSE(relationMatches("hr.*", "hrx.salaries", false));

  Guardrails g;
  GuardrailRule deny{.name = "no-hr", .groups = {}, .kinds = {}, .relations = {"hr.*"}, .functions = {},
                     .conditions = {}, .action = Action::kDeny, .message = "", .review = {}};
  g.rules.push_back(deny);
  EXPECT_EQ(judgeStatement(g, facts1("SELECT * FROM salaries"), {}).action, Action::kDeny);

  Guardrails a;
  a.default_action = Action::kDeny;
  GuardrailRule allow{.name = "public-reads", .groups = {}, .kinds = {{Kind::kSelect, ""}},
                      .relations = {"public.*"}, .functions = {}, .conditions = {}, .action = Action::kAllow,
                      .message = "", .review = {}};
  a.rules.push_back(allow);
  EXPECT_EQ(judgeStatement(a, facts1("SELECT * FROM public.t"), {}).action, Action::kAllow);
  EXPECT_EQ(judgeStatement(a, facts1("SELECT * FROM t"), {}).action, Action::kDeny) << "schema unknown";
  EXPECT_EQ(judgeStatement(a, facts1("SELECT * FROM public.t JOIN hr.s ON true"), {}).action, Action::kDeny)
      << "every relation must be allowed";
  EXPECT_EQ(judgeStatement(a, facts1("SELECT 1"), {}).action, Action::kDeny) << "no relation: not this rule";
  EXPECT_EQ(judgeStatement(a, facts1("WITH d AS (DELETE FROM public.t RETURNING 1) SELECT * FROM public.u"), {})
                .action,
            Action::kDeny)
      << "a delete is not a read";
}

TEST(Guardrails, UnqualifiedNamesResolveInTheSearchPath) {
  const std::vector<std::string> path{"app", "public"};
  EXPECT_FALSE(relationMatches("hr.*", "pay", false, path));
  EXPECT_TRUE(relationMatches("public.*", "pay", false, path)) << "deny: it may be public.pay";
  EXPECT_FALSE(relationMatches("public.*", "pay", true, path)) << "allow: it may be app.pay";
  EXPECT_TRUE(relationMatches("*", "pay", true, path));
  EXPECT_TRUE(relationMatches("pg_catalog.*", "pg_authid", false, path)) << "catalog names resolve there first";
  EXPECT_FALSE(relationMatches("pg_catalog.*", "authid", false, path));

  Guardrails g;
  GuardrailRule hr{.name = "no-hr", .groups = {}, .kinds = {}, .relations = {"hr.*"}, .functions = {},
                   .conditions = {}, .action = Action::kDeny, .message = "", .review = {}};
  g.rules.push_back(hr);
  auto q = inspect::sql::analyze("SELECT * FROM pay");
  ASSERT_TRUE(q);
  EXPECT_EQ(judge(g, *q, {}, path).action, Action::kAllow);
  EXPECT_EQ(judge(g, *q, {}, {}).action, Action::kDeny) << "an unknown path: any schema";
  // A SET earlier in the same query string changes how the later statements resolve.
  q = inspect::sql::analyze("SET search_path = hr; SELECT * FROM pay");
  ASSERT_TRUE(q);
  EXPECT_EQ(judge(g, *q, {}, path).action, Action::kDeny);
  q = inspect::sql::analyze("SELECT set_config('search_path', 'hr', false); SELECT * FROM pay");
  ASSERT_TRUE(q);
  EXPECT_EQ(judge(g, *q, {}, path).action, Action::kDeny);
}

TEST(Guardrails, KindsWithObjects) {
  Guardrails g;
  GuardrailRule r{.name = "no-drop-db", .groups = {}, .kinds = {{Kind::kDrop, "database"}}, .relations = {},
                  .functions = {}, .conditions = {}, .action = Action::kDeny, .message = "not here", .review = {}};
  g.rules.push_back(r);
  const auto v = judgeStatement(g, facts1("DROP DATABASE prod"), {});
  EXPECT_EQ(v.action, Action::kDeny);
  EXPECT_EQ(v.rule, "no-drop-db");
  EXPECT_EQ(v.reason, "not here");
  EXPECT_EQ(judgeStatement(g, facts1("DROP TABLE t"), {}).action, Action::kAllow);
}

TEST(Guardrails, AReviewVerdictCarriesItsSpec) {
  const auto g = samplePolicy();
  const auto v = judgeStatement(g, facts1("DELETE FROM t"), {});
  ASSERT_EQ(v.action, Action::kReview);
  ASSERT_NE(v.review, nullptr);
  EXPECT_EQ(v.review->approver_groups, std::vector<std::string>{"admins"});
  EXPECT_EQ(v.review->mode, ReviewMode::kAsync);
}

TEST(Guardrails, TheDecidingStatementOfAQueryIsNamed) {
  const auto g = samplePolicy();
  auto f = inspect::sql::analyze("SELECT 1; DELETE FROM t; DROP TABLE u; SELECT 2");
  ASSERT_TRUE(f);
  const auto v = judge(g, *f, {});
  EXPECT_EQ(v.action, Action::kDeny);
  EXPECT_EQ(v.statement, 2u);
  EXPECT_EQ(judge(g, {}, {}).action, Action::kAllow);
}

TEST(Guardrails, TheDefaultActionDecidesWhenNoRuleMatches) {
  Guardrails g;
  g.default_action = Action::kDeny;
  const auto v = judgeStatement(g, facts1("SELECT 1"), {});
  EXPECT_EQ(v.action, Action::kDeny);
  EXPECT_EQ(v.rule, "default");
  g.default_action = Action::kReview;
  EXPECT_EQ(judgeStatement(g, facts1("SELECT 1"), {}).review, &g.default_review);
}

}  // namespace
}  // namespace gatehouse::policy
