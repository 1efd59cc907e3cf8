// The audit trail as an operator sees it: `gatehouse audit --json` and `gatehouse sessions --json` after real
// statements through the gateway, with their outcome (tag, rows, SQLSTATE) and who ran them.
#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <thread>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {
using namespace std::chrono_literals;
namespace json = boost::json;

std::string str(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return {};
  if (v->is_string()) return std::string(v->as_string());
  return json::serialize(*v);
}

int64_t num(const json::object& o, const char* key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return -1;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  return -1;
}

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class AuditThroughGateway : public GatewaySuiteTest<AuditThroughGateway> {
 protected:
  static void SetUpTestSuite() {
    if (startSuite("audit")) token_ = issueToken("auditor@example.com", {"dev"});
  }

  // Audit entries whose SQL contains `needle`, waiting up to 10 s for `count` of them (recording and indexing
  // may trail the result by a moment).
  static std::vector<json::object> auditEntries(const std::string& needle, size_t count) {
    std::vector<json::object> found;
    std::string last_error;
    waitUntil(
        [&] {
          found.clear();
          auto entries = gateway().audit();
          if (!entries) {
            last_error = entries.error().message;
            return false;
          }
          for (const auto& e : *entries) {
            if (e.is_object() && str(e.as_object(), "sql").find(needle) != std::string::npos) {
              found.push_back(e.as_object());
            }
          }
          return found.size() >= count;
        },
        10s);
    EXPECT_GE(found.size(), count) << "audit entries containing '" << needle << "'; last error: " << last_error;
    // Oldest first, by the session's own statement order.
    std::sort(found.begin(), found.end(), [](const json::object& a, const json::object& b) {
      return num(a, "started_at_us") < num(b, "started_at_us") ||
             (num(a, "started_at_us") == num(b, "started_at_us") && num(a, "seq") < num(b, "seq"));
    });
    return found;
  }

  static inline std::string token_;
};

TEST_F(AuditThroughGateway, StatementsAreRecordedWithOutcome) {
  const std::string m = "m" + devtools::randomToken(10);
  const int64_t before_us = nowUs();
  {
    auto c = pgConnect(gateway().conninfo("auditor@example.com", token_));
    ASSERT_TRUE(c.ok()) << c.message;
    PGconn* conn = c.conn.get();
    ASSERT_EQ(pgExec(conn, "SELECT 1 AS " + m + "_one").value(), "1");
    ASSERT_EQ(pgExec(conn, "SELECT generate_series(1, 5) AS " + m + "_five").rows.size(), 5u);
    ASSERT_EQ(pgExec(conn, "SELECT 1 / 0 AS " + m + "_fail").sqlstate, "22012");
    ASSERT_EQ(pgExecParams(conn, "SELECT $1::int + 1 AS " + m + "_ext", {"41"}).value(), "42");
    ASSERT_TRUE(pgExec(conn, "CREATE TEMP TABLE " + m + "_t (a int)").ok());
    ASSERT_EQ(pgExec(conn, "INSERT INTO " + m + "_t VALUES (1), (2), (3)").tag, "INSERT 0 3");
  }
  const int64_t after_us = nowUs();

  auto entries = auditEntries(m, 6);
  ASSERT_EQ(entries.size(), 6u);
  const std::string session = str(entries[0], "session_id");
  EXPECT_FALSE(session.empty());
  static const std::regex kIso8601(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d))");
  int64_t last_seq = 0;
  for (const auto& e : entries) {
    SCOPED_TRACE(json::serialize(e));
    EXPECT_EQ(str(e, "session_id"), session);
    EXPECT_GT(num(e, "seq"), last_seq);
    last_seq = num(e, "seq");
    EXPECT_EQ(str(e, "user"), "auditor@example.com");
    EXPECT_EQ(str(e, "connection"), "pg-main");
    EXPECT_NE(str(e, "client_addr").find("127.0.0.1"), std::string::npos);
    EXPECT_TRUE(std::regex_match(str(e, "started_at"), kIso8601));
    EXPECT_GE(num(e, "started_at_us"), before_us - 1000000);
    EXPECT_LE(num(e, "started_at_us"), after_us + 1000000);
    EXPECT_GE(num(e, "duration_us"), 0);
  }

  EXPECT_EQ(str(entries[0], "sql"), "SELECT 1 AS " + m + "_one");
  EXPECT_EQ(str(entries[0], "protocol"), "simple");
  EXPECT_EQ(str(entries[0], "tag"), "SELECT 1");
  EXPECT_EQ(num(entries[0], "rows"), 1);
  EXPECT_EQ(str(entries[0], "status"), "ok");
  EXPECT_EQ(str(entries[0], "sqlstate"), "");

  EXPECT_EQ(str(entries[1], "tag"), "SELECT 5");
  EXPECT_EQ(num(entries[1], "rows"), 5);

  EXPECT_EQ(str(entries[2], "sql"), "SELECT 1 / 0 AS " + m + "_fail");
  EXPECT_EQ(str(entries[2], "sqlstate"), "22012");
  EXPECT_EQ(str(entries[2], "status"), "error");
  EXPECT_NE(str(entries[2], "error_message").find("division by zero"), std::string::npos);

  EXPECT_EQ(str(entries[3], "sql"), "SELECT $1::int + 1 AS " + m + "_ext");
  EXPECT_EQ(str(entries[3], "protocol"), "extended");
  EXPECT_EQ(str(entries[3], "tag"), "SELECT 1");

  EXPECT_EQ(str(entries[4], "tag"), "CREATE TABLE");
  EXPECT_EQ(str(entries[5], "tag"), "INSERT 0 3");
  EXPECT_EQ(num(entries[5], "rows"), 3);

  // The session is listed too, with its user and connection.
  bool listed = waitUntil(
      [&] {
        auto sessions = gateway().sessions();
        if (!sessions) return false;
        for (const auto& s : *sessions) {
          if (s.is_object() && str(s.as_object(), "session_id") == session) {
            EXPECT_EQ(str(s.as_object(), "user"), "auditor@example.com");
            EXPECT_EQ(str(s.as_object(), "connection"), "pg-main");
            return true;
          }
        }
        return false;
      },
      10s);
  EXPECT_TRUE(listed) << "session " << session << " not in `gatehouse sessions --json`";
}

TEST_F(AuditThroughGateway, PsqlMultiStatementQueryIsRecordedPerStatementOrAsOne) {
  const std::string m = "p" + devtools::randomToken(10);
  auto r = runPsql({"-X", "-A", "-t", "-c", "SELECT 'a' AS " + m + "_a; SELECT 'b', 'c' AS " + m + "_b"},
                   suite_->clientEnv("auditor@example.com", token_));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->status.success()) << r->err;
  EXPECT_EQ(r->out, "a\nb|c\n");
  auto entries = auditEntries(m, 1);
  ASSERT_FALSE(entries.empty());
  // Whether a query string is one entry or one per statement is the gateway's choice; the text must be there.
  std::string all_sql;
  for (const auto& e : entries) {
    all_sql += str(e, "sql") + "\n";
    EXPECT_EQ(str(e, "user"), "auditor@example.com");
    EXPECT_EQ(str(e, "protocol"), "simple");
    EXPECT_EQ(str(e, "status"), "ok");
  }
  EXPECT_NE(all_sql.find(m + "_a"), std::string::npos) << all_sql;
  EXPECT_NE(all_sql.find(m + "_b"), std::string::npos) << all_sql;
}

}  // namespace
}  // namespace gatehouse::testing
