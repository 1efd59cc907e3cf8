// Guardrails as written in gatehouse.yaml: compiled into the engine's rules, or refused with the YAML path of the
// mistake.
#include <gtest/gtest.h>

#include "core/config.h"
#include "inspect/sql/analyzer.h"
#include "policy/guardrails_config.h"

namespace gatehouse::policy {
namespace {

std::string withGuardrails(const std::string& guardrails) {
  return R"(
data_dir: data
connections:
  - name: pg
    type: postgres
    host: 127.0.0.1
    database: app
    user: app
    allow_groups: [dev]
    guardrails:
)" + guardrails;
}

Result<Guardrails> compile(const std::string& guardrails) {
  auto cfg = core::parseConfig(withGuardrails(guardrails), "/tmp");
  if (!cfg) return cfg.error();
  if (!cfg->connections.at(0).guardrails) return makeError("no guardrails parsed");
  return compileGuardrails(*cfg->connections.at(0).guardrails);
}

std::string errorOf(const std::string& guardrails) {
  auto g = compile(guardrails);
  return g ? std::string("(compiled)") : g.error().message;
}

TEST(GuardrailsConfig, TheDemoStylePolicyCompiles) {
  auto g = compile(R"(
      default: allow
      rules:
        - name: no-drop
          match: { kind: drop }
          action: deny
          message: dropping objects is not allowed through the gateway
        - name: no-drop-db
          match: { kind: [drop database] }
          action: deny
        - name: dangerous-functions
          match: { functions: [pg_read_file, "dblink*"] }
          action: deny
        - name: analysts-no-hr
          groups: [analysts]
          match: { kind: [select], relations: ["hr.*"] }
          action: deny
        - name: unfiltered-writes
          match: { conditions: [update_without_where, delete_without_where] }
          action: review
          review: { approvers: [admins], approvals: 2, mode: async, timeout: 10m, window: 1h }
)");
  ASSERT_TRUE(g) << g.error().message;
  ASSERT_EQ(g->rules.size(), 5u);
  EXPECT_EQ(g->rules[0].kinds.at(0).kind, inspect::sql::Kind::kDrop);
  EXPECT_EQ(g->rules[0].message, "dropping objects is not allowed through the gateway");
  EXPECT_EQ(g->rules[1].kinds.at(0).object, "database");
  EXPECT_EQ(g->rules[3].groups, std::vector<std::string>{"analysts"});
  const auto& r = g->rules[4];
  EXPECT_EQ(r.action, Action::kReview);
  EXPECT_EQ(r.review.approvals, 2);
  EXPECT_EQ(r.review.mode, ReviewMode::kAsync);
  EXPECT_EQ(r.review.timeout, std::chrono::seconds(600));
  EXPECT_EQ(r.review.window, std::chrono::seconds(3600));

  auto facts = inspect::sql::analyze("DELETE FROM t");
  ASSERT_TRUE(facts);
  EXPECT_EQ(judge(*g, *facts, {}).rule, "unfiltered-writes");
  facts = inspect::sql::analyze("SELECT * FROM hr.pay");
  ASSERT_TRUE(facts);
  const std::vector<std::string> analysts{"analysts"};
  EXPECT_EQ(judge(*g, *facts, analysts).rule, "analysts-no-hr");
}

TEST(GuardrailsConfig, MistakesAreRefusedWithTheirPath) {
  EXPECT_NE(errorOf("      rules:\n        - { name: a, match: { kind: [dorp] }, action: deny }\n")
                .find("connections[0].guardrails.rules[0].match.kind[0]: unknown kind 'dorp'"),
            std::string::npos);
  EXPECT_NE(errorOf("      rules:\n        - { name: a, match: { conditions: [no_where] }, action: deny }\n")
                .find("rules[0].match.conditions[0]: unknown condition 'no_where'"),
            std::string::npos);
  EXPECT_NE(errorOf("      rules:\n        - { name: a, action: block }\n").find("'block' is not allow, deny or review"),
            std::string::npos);
  EXPECT_NE(errorOf("      rules:\n        - { name: a, action: review }\n").find("needs 'review' settings"),
            std::string::npos);
  EXPECT_NE(errorOf("      rules:\n        - { name: a, action: review, review: { mode: wait } }\n")
                .find("needs 'approvers'"),
            std::string::npos);
  EXPECT_NE(errorOf("      rules:\n        - { name: a, action: review, review: { approvers: [x], mode: later } }\n")
                .find("'later' is not wait or async"),
            std::string::npos);
  EXPECT_NE(errorOf("      rules:\n        - { name: a, action: deny }\n        - { name: a, action: deny }\n")
                .find("a second rule named 'a'"),
            std::string::npos);
  EXPECT_NE(errorOf("      rules:\n        - { action: deny }\n").find("needs a 'name'"), std::string::npos);
  EXPECT_NE(errorOf("      rules:\n        - { name: a, action: deny, match: { tables: [x] } }\n")
                .find("unknown key 'tables'"),
            std::string::npos);
  EXPECT_NE(errorOf("      default: review\n").find("default action of review needs"), std::string::npos);
  EXPECT_NE(errorOf("      rules:\n        - { name: a, action: review, review: { approvers: [x], timeout: 5y } }\n")
                .find("unknown unit 'y'"),
            std::string::npos);
}

}  // namespace
}  // namespace gatehouse::policy
