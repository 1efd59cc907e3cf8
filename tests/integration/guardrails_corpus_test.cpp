// The guardrails corpus (tests/unit/policy/guardrails_corpus.tsv), through the real gateway: every statement the
// sample policy denies or holds is refused with 42501 in the simple protocol and, for single statements, in the
// extended one (a review there is asked at the Execute); every statement it allows gets past the gateway (the database may still fail it: the tables of
// the corpus need not exist, but never with the gateway's refusal). Statements that would leave the session in
// COPY mode or a transaction are skipped here (their verdicts are checked by the unit test), and so are PREPAREs,
// whose review a session holds at EXECUTE rather than at PREPARE.
#include <gtest/gtest.h>

#include <fstream>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {

// The sample policy of tests/unit/policy/guardrails_test.cpp, as YAML.
constexpr const char* kSamplePolicy = R"(      default: allow
      rules:
        - { name: deny-drop, match: { kind: drop }, action: deny }
        - { name: deny-truncate, match: { kind: truncate }, action: deny }
        - { name: deny-alter-system, match: { conditions: [alter_system] }, action: deny }
        - { name: deny-copy-program, match: { conditions: [copy_to_program, copy_from_program] }, action: deny }
        - { name: deny-server-files, match: { conditions: [copy_to_file, copy_from_file] }, action: deny }
        - { name: deny-set-role, match: { kind: set_role }, action: deny }
        - { name: deny-procedural, match: { kind: procedural }, action: deny }
        - name: deny-dangerous-functions
          match: { functions: [pg_read_file, pg_read_binary_file, pg_ls_dir, lo_import, lo_export,
                               pg_terminate_backend, pg_cancel_backend, "dblink*"] }
          action: deny
        - { name: analysts-no-hr, groups: [analysts], match: { relations: ["hr.*"] }, action: deny }
        - name: dba-ops-maintenance
          groups: [dba]
          match: { kind: [delete, update], relations: ["ops.*"] }
          action: allow
        - name: review-unfiltered-writes
          match: { conditions: [update_without_where, delete_without_where] }
          action: review
          review: { approvers: [admins], mode: async }
)";

struct Case {
  int line = 0;
  std::string verdict;
  std::string rule;
  std::string groups;
  std::string sql;
};

std::vector<Case> corpus() {
  std::ifstream in(std::string(GATEHOUSE_SOURCE_DIR) + "/tests/unit/policy/guardrails_corpus.tsv");
  std::vector<Case> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::size_t start = 0;
    for (std::size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
      cols.push_back(line.substr(start, tab - start));
    cols.push_back(line.substr(start));
    if (cols.size() != 4) continue;
    std::string sql = cols[3];
    for (std::size_t p = 0; (p = sql.find("\\n", p)) != std::string::npos;) sql.replace(p, 2, "\n");
    out.push_back(Case{n, cols[0], cols[1], cols[2], sql});
  }
  return out;
}

bool skipped(const std::string& sql) {
  std::string lower;
  for (char c : sql) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* s : {"stdin", "stdout", "begin", "commit", "rollback", "savepoint", "release", "declare",
                        "fetch", "close", "lock", "pg_sleep", "pg_terminate_backend", "pg_cancel_backend",
                        // A session holds a PREPAREd statement's review at EXECUTE (guardrails_test.cpp).
                        "prepare"})
    if (lower.find(s) != std::string::npos) return true;
  return false;
}

class GuardrailsCorpus : public GatewaySuiteTest<GuardrailsCorpus> {
 protected:
  static void SetUpTestSuite() {
    if (!startSuite("corpus", [](GatewayOptions& o, const devtools::LocalPostgres&, const std::string&) {
          o.connections.at(0).guardrails_yaml = kSamplePolicy;
        }))
      return;
    for (const auto& [groups, list] : {std::pair{"-", std::vector<std::string>{"dev"}},
                                       std::pair{"analysts", std::vector<std::string>{"dev", "analysts"}},
                                       std::pair{"analysts,staff", std::vector<std::string>{"dev", "analysts", "staff"}},
                                       std::pair{"staff", std::vector<std::string>{"dev", "staff"}},
                                       std::pair{"dba", std::vector<std::string>{"dev", "dba"}}}) {
      const std::string user = std::string("u-") + (groups[0] == '-' ? "none" : groups) + "@example.com";
      tokens_[groups] = {user, issueToken(user, list)};
    }
  }
  static inline std::map<std::string, std::pair<std::string, std::string>> tokens_;  // groups -> (user, token)
};

TEST_F(GuardrailsCorpus, RefusedExactlyWhereThePolicySays) {
  const auto cases = corpus();
  ASSERT_GE(cases.size(), 150u);
  int checked = 0;
  int extended = 0;
  for (const auto& c : cases) {
    if (skipped(c.sql)) continue;
    const auto& [user, token] = tokens_.at(c.groups);
    auto conn = pgConnect(gateway().conninfo(user, token));
    ASSERT_TRUE(conn.ok()) << conn.message;
    const bool refused_expected = c.verdict != "allow";
    const auto simple = pgExecAll(conn.conn.get(), c.sql);
    const bool refused = std::any_of(simple.begin(), simple.end(), [](const QueryResult& r) {
      return r.sqlstate == "42501" && r.error.find("gatehouse:") != std::string::npos;
    });
    EXPECT_EQ(refused, refused_expected) << "line " << c.line << " (simple): " << c.sql;
    if (refused_expected && refused) {
      const auto& r = simple.back();
      EXPECT_NE(r.error.find(c.rule), std::string::npos) << "line " << c.line << ": " << r.error;
    }
    // The extended protocol takes one statement per Parse.
    if (c.sql.find(';') == std::string::npos || c.sql.find(';') == c.sql.size() - 1) {
      auto conn2 = pgConnect(gateway().conninfo(user, token));
      ASSERT_TRUE(conn2.ok()) << conn2.message;
      const auto r = pgExecParams(conn2.conn.get(), c.sql, {});
      const bool refused_ext = r.sqlstate == "42501" && r.error.find("gatehouse:") != std::string::npos;
      if (c.verdict == "review") {
        // Asked at the Execute: a statement that the server already fails at its Parse (a table the corpus
        // does not create) never gets there; either way it does not run.
        EXPECT_FALSE(r.ok()) << "line " << c.line << " (extended): " << c.sql;
      } else {
        EXPECT_EQ(refused_ext, refused_expected) << "line " << c.line << " (extended): " << c.sql << ": " << r.error;
      }
      ++extended;
    }
    ++checked;
  }
  EXPECT_GE(checked, 120);
  EXPECT_GE(extended, 100);
}

}  // namespace
}  // namespace gatehouse::testing
