// SQL guardrails through the real gateway and a real PostgreSQL, with psql and libpq in the simple and the
// extended protocol: denied statements get 42501 naming the rule, never reach the database, and leave the session
// usable, with PostgreSQL's own semantics for transactions and pipelines.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {

constexpr const char* kGuardrails = R"(      default: allow
      rules:
        - name: deny-drop
          match: { kind: drop }
          action: deny
          message: dropping objects is not allowed through the gateway
        - name: deny-truncate
          match: { kind: truncate }
          action: deny
        - name: deny-copy-program
          match: { conditions: [copy_to_program, copy_from_program] }
          action: deny
        - name: deny-dangerous-functions
          match: { functions: [pg_read_file, pg_ls_dir, lo_import, "dblink*"] }
          action: deny
        - name: analysts-no-hr
          groups: [analysts]
          match: { relations: ["hr.*"] }
          action: deny
        - name: review-unfiltered-writes
          match: { conditions: [update_without_where, delete_without_where] }
          action: review
          review: { approvers: [admins], mode: async }
)";

// A second connection to the same database whose reviews hold the statement until a decision.
constexpr const char* kWaitGuardrails = R"(      rules:
        - name: hold-unfiltered-updates
          match: { conditions: [update_without_where] }
          action: review
          review: { approvers: [admins], mode: wait, timeout: 30s }
        - name: two-approvers-for-deletes
          match: { conditions: [delete_without_where] }
          action: review
          review: { approvers: [admins], approvals: 2, mode: wait, timeout: 30s }
        - name: locks-time-out
          match: { kind: lock }
          action: review
          review: { approvers: [admins], mode: wait, timeout: 1s }
)";

class Guardrails : public GatewaySuiteTest<Guardrails> {
 protected:
  static void SetUpTestSuite() {
    if (!startSuite("guard", [](GatewayOptions& o, const devtools::LocalPostgres&, const std::string&) {
          o.connections.at(0).guardrails_yaml = kGuardrails;
          auto wait = o.connections.at(0);
          wait.name = "pg-wait";
          wait.guardrails_yaml = kWaitGuardrails;
          o.connections.push_back(wait);
        }))
      return;
    alice_ = issueToken("alice@example.com", {"dev"});
    ann_ = issueToken("ann@example.com", {"dev", "analysts"});
    bob_ = issueToken("bob@example.com", {"admins"});
    carol_ = issueToken("carol@example.com", {"admins"});
    auto direct = pgConnect(suite_->directConninfo());
    if (!direct.ok()) {
      error_ = direct.message;
      return;
    }
    const auto setup = pgExec(direct.conn.get(),
                              "CREATE TABLE keep (id int primary key, v text);"
                              "INSERT INTO keep SELECT g, 'v' || g FROM generate_series(1, 5) g;"
                              "CREATE SCHEMA hr; CREATE TABLE hr.pay (who text, amount int);"
                              "INSERT INTO hr.pay VALUES ('x', 1);"
                              "GRANT ALL ON ALL TABLES IN SCHEMA public, hr TO " + upstreamAccount().user + ";"
                              "GRANT USAGE ON SCHEMA hr TO " + upstreamAccount().user);
    if (!setup.ok()) error_ = "setup: " + setup.error;
  }

  static PgConnPtr connect(const std::string& token, const std::string& user = "alice@example.com") {
    auto c = pgConnect(suite_->gateway->conninfo(user, token));
    EXPECT_TRUE(c.ok()) << c.message;
    return std::move(c.conn);
  }
  // Rows in `keep`, read directly (not through the gateway).
  static int keepRows() {
    auto direct = pgConnect(suite_->directConninfo());
    if (!direct.ok()) return -1;
    auto r = pgExec(direct.conn.get(), "SELECT count(*) FROM keep");
    return r.ok() ? std::stoi(r.value()) : -1;
  }

  // Review ids waiting now, newest first.
  static std::vector<std::string> pendingReviews() {
    std::vector<std::string> ids;
    auto listed = gateway().cliJson({"reviews"}, {"--json"});
    if (!listed) return ids;
    for (const auto& r : listed->as_array()) ids.emplace_back(r.as_object().at("id").as_string());
    return ids;
  }
  static Result<devtools::RunResult> decide(const std::string& verb, const std::string& id, const std::string& token,
                                            const std::string& reason = {}) {
    std::vector<std::string> args{id, "--token", token};
    if (!reason.empty()) {
      args.push_back("--reason");
      args.push_back(reason);
    }
    return gateway().cli({verb}, args);
  }
  static std::string reviewIdIn(const std::string& message) {
    const auto at = message.find("rev_");
    return at == std::string::npos ? std::string() : message.substr(at, 20);
  }
  // Restores `keep` to its five rows, directly.
  static void resetKeep() {
    auto direct = pgConnect(suite_->directConninfo());
    ASSERT_TRUE(direct.ok());
    ASSERT_TRUE(pgExec(direct.conn.get(), "DELETE FROM keep; INSERT INTO keep SELECT g, 'v' || g FROM "
                                          "generate_series(1, 5) g")
                    .ok());
  }

  static inline std::string alice_;
  static inline std::string ann_;
  static inline std::string bob_;
  static inline std::string carol_;
};

TEST_F(Guardrails, ADeniedStatementGets42501NamingTheRuleAndTheSessionGoesOn) {
  auto conn = connect(alice_);
  ASSERT_TRUE(conn);
  const auto denied = pgExec(conn.get(), "DROP TABLE keep");
  EXPECT_EQ(denied.sqlstate, "42501") << denied.error;
  EXPECT_NE(denied.error.find("deny-drop"), std::string::npos) << denied.error;
  EXPECT_NE(denied.error.find("dropping objects is not allowed"), std::string::npos) << denied.error;
  EXPECT_EQ(keepRows(), 5) << "the table is still there";
  const auto after = pgExec(conn.get(), "SELECT count(*) FROM keep");
  ASSERT_TRUE(after.ok()) << after.error;
  EXPECT_EQ(after.value(), "5");
}

TEST_F(Guardrails, PsqlShowsTheRefusal) {
  auto r = runPsql({"-X", "-c", "/* cleanup */ TRUNCATE keep"}, suite_->clientEnv("alice@example.com", alice_));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->status.success());
  EXPECT_NE(r->err.find("deny-truncate"), std::string::npos) << r->err;
  EXPECT_EQ(keepRows(), 5);
}

TEST_F(Guardrails, OneDeniedStatementDeniesTheWholeQueryBeforeAnyOfItRuns) {
  auto conn = connect(alice_);
  ASSERT_TRUE(conn);
  const auto results = pgExecAll(conn.get(), "INSERT INTO keep VALUES (100, 'sneaky'); DROP TABLE keep; SELECT 1");
  ASSERT_FALSE(results.empty());
  EXPECT_EQ(results.back().sqlstate, "42501");
  EXPECT_NE(results.back().error.find("deny-drop"), std::string::npos);
  EXPECT_EQ(keepRows(), 5) << "the INSERT before the DROP did not run either";
}

TEST_F(Guardrails, ADenialInATransactionAbortsItAsAnyFailedStatementWould) {
  auto conn = connect(alice_);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(pgExec(conn.get(), "BEGIN").ok());
  ASSERT_TRUE(pgExec(conn.get(), "INSERT INTO keep VALUES (200, 'in tx')").ok());
  EXPECT_EQ(pgExec(conn.get(), "DROP TABLE keep").sqlstate, "42501");
  EXPECT_EQ(pgExec(conn.get(), "SELECT 1").sqlstate, "25P02") << "in a failed transaction, as PostgreSQL does";
  ASSERT_TRUE(pgExec(conn.get(), "ROLLBACK").ok());
  EXPECT_EQ(keepRows(), 5);
  EXPECT_TRUE(pgExec(conn.get(), "SELECT 1").ok());
}

TEST_F(Guardrails, TheExtendedProtocolIsJudgedAtParse) {
  auto conn = connect(alice_);
  ASSERT_TRUE(conn);
  const auto denied = pgExecParams(conn.get(), "SELECT pg_read_file($1)", {"/etc/passwd"});
  EXPECT_EQ(denied.sqlstate, "42501") << denied.error;
  EXPECT_NE(denied.error.find("deny-dangerous-functions"), std::string::npos) << denied.error;
  const auto ok = pgExecParams(conn.get(), "SELECT v FROM keep WHERE id = $1", {"3"});
  ASSERT_TRUE(ok.ok()) << ok.error;
  EXPECT_EQ(ok.value(), "v3");
  // A named prepared statement that is denied is never created.
  PgResultPtr prep(PQprepare(conn.get(), "peek", "SELECT pg_read_file($1)", 1, nullptr));
  EXPECT_EQ(sqlstateOf(prep.get()), "42501");
  const char* path = "/etc/hostname";
  PgResultPtr exec(PQexecPrepared(conn.get(), "peek", 1, &path, nullptr, nullptr, 0));
  EXPECT_EQ(sqlstateOf(exec.get()), "26000") << "prepared statement \"peek\" does not exist";
  EXPECT_EQ(keepRows(), 5);
}

TEST_F(Guardrails, InTheExtendedProtocolAReviewIsAskedAtEachExecute) {
  for (const auto& earlier : pendingReviews()) ASSERT_TRUE(decide("reject", earlier, bob_, "clearing the way"));
  auto conn = connect(alice_);
  ASSERT_TRUE(conn);
  PgResultPtr prep(PQprepare(conn.get(), "wipe", "DELETE FROM keep", 0, nullptr));
  ASSERT_EQ(PQresultStatus(prep.get()), PGRES_COMMAND_OK) << "preparing runs nothing: " << sqlstateOf(prep.get());
  PgResultPtr held(PQexecPrepared(conn.get(), "wipe", 0, nullptr, nullptr, nullptr, 0));
  EXPECT_EQ(sqlstateOf(held.get()), "42501");
  const std::string message = PQresultErrorMessage(held.get());
  EXPECT_NE(message.find("held for review"), std::string::npos) << message;
  const auto id = reviewIdIn(message);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(keepRows(), 5);
  ASSERT_TRUE(decide("approve", id, bob_));
  PgResultPtr ran(PQexecPrepared(conn.get(), "wipe", 0, nullptr, nullptr, nullptr, 0));
  ASSERT_EQ(PQresultStatus(ran.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(ran.get());
  EXPECT_STREQ(PQcmdStatus(ran.get()), "DELETE 5");
  resetKeep();
  PgResultPtr again(PQexecPrepared(conn.get(), "wipe", 0, nullptr, nullptr, nullptr, 0));
  EXPECT_EQ(sqlstateOf(again.get()), "42501") << "each execution asks again";
  // The unnamed statement of PQexecParams: the same, at its Execute.
  const auto unnamed = pgExecParams(conn.get(), "UPDATE keep SET v = $1", {"x"});
  EXPECT_EQ(unnamed.sqlstate, "42501");
  EXPECT_NE(unnamed.error.find("held for review"), std::string::npos) << unnamed.error;
  EXPECT_TRUE(pgExecParams(conn.get(), "SELECT $1::int", {"7"}).ok()) << "the session goes on";
  for (const auto& r : pendingReviews()) ASSERT_TRUE(decide("reject", r, bob_, "done"));
  EXPECT_EQ(keepRows(), 5);
}

TEST_F(Guardrails, InAPipelineTheDenialComesInOrderAndTheRestIsSkippedUntilSync) {
  auto conn = connect(alice_);
  ASSERT_TRUE(conn);
  ASSERT_EQ(PQenterPipelineMode(conn.get()), 1);
  ASSERT_EQ(PQsendQueryParams(conn.get(), "SELECT 1", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQsendQueryParams(conn.get(), "DROP TABLE keep", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQsendQueryParams(conn.get(), "INSERT INTO keep VALUES (300, 'x')", 0, nullptr, nullptr, nullptr,
                              nullptr, 0),
            1);
  ASSERT_EQ(PQpipelineSync(conn.get()), 1);
  ASSERT_EQ(PQsendQueryParams(conn.get(), "SELECT count(*) FROM keep", 0, nullptr, nullptr, nullptr, nullptr, 0), 1);
  ASSERT_EQ(PQpipelineSync(conn.get()), 1);

  std::vector<ExecStatusType> statuses;
  std::vector<std::string> states;
  std::string count;
  // Each query's result is followed by a null; each sync by a PGRES_PIPELINE_SYNC result.
  int syncs = 0;
  while (syncs < 2) {
    PgResultPtr r(PQgetResult(conn.get()));
    if (!r) continue;
    const auto st = PQresultStatus(r.get());
    if (st == PGRES_PIPELINE_SYNC) {
      ++syncs;
      continue;
    }
    statuses.push_back(st);
    states.push_back(sqlstateOf(r.get()));
    if (st == PGRES_TUPLES_OK && PQntuples(r.get()) == 1 && std::string(PQfname(r.get(), 0)) == "count")
      count = PQgetvalue(r.get(), 0, 0);
  }
  ASSERT_EQ(statuses.size(), 4u);
  EXPECT_EQ(statuses[0], PGRES_TUPLES_OK);
  EXPECT_EQ(statuses[1], PGRES_FATAL_ERROR);
  EXPECT_EQ(states[1], "42501");
  EXPECT_EQ(statuses[2], PGRES_PIPELINE_ABORTED) << "skipped to Sync, as after any error";
  EXPECT_EQ(statuses[3], PGRES_TUPLES_OK);
  EXPECT_EQ(count, "5");
  EXPECT_EQ(PQexitPipelineMode(conn.get()), 1);
}

TEST_F(Guardrails, WhatCannotBeParsedIsRefusedWithTheParsersMessage) {
  auto conn = connect(alice_);
  ASSERT_TRUE(conn);
  const auto r = pgExec(conn.get(), "SELEC 1");
  EXPECT_EQ(r.sqlstate, "42601");
  EXPECT_NE(r.error.find("could not be parsed"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("syntax error at or near \"SELEC\""), std::string::npos) << r.error;
  EXPECT_TRUE(pgExec(conn.get(), "SELECT 1").ok());
}

TEST_F(Guardrails, EvasionsAreSeenThrough) {
  auto conn = connect(alice_);
  ASSERT_TRUE(conn);
  for (const char* sql : {"/* a */ dRoP /* b */ TaBlE \"keep\"", "SELECT 1; drop table public.keep",
                          "SELECT * FROM PG_CATALOG.PG_LS_DIR('.')", "SELECT U&\"\\0070g_read_file\"('/etc/passwd')",
                          "COPY keep TO PROGRAM 'cat > /dev/null'",
                          "WITH d AS (DELETE FROM keep RETURNING *) SELECT count(*) FROM d",
                          "EXPLAIN ANALYZE DELETE FROM keep"}) {
    const auto r = pgExec(conn.get(), sql);
    EXPECT_EQ(r.sqlstate, "42501") << sql << ": " << r.error;
  }
  EXPECT_EQ(keepRows(), 5);
}

TEST_F(Guardrails, GroupsDecideWhichRulesApply) {
  auto ann = connect(ann_, "ann@example.com");
  ASSERT_TRUE(ann);
  const auto denied = pgExec(ann.get(), "SELECT * FROM hr.pay");
  EXPECT_EQ(denied.sqlstate, "42501");
  EXPECT_NE(denied.error.find("analysts-no-hr"), std::string::npos) << denied.error;
  EXPECT_EQ(pgExec(ann.get(), "SELECT count(*) FROM keep").value(), "5");
  auto alice = connect(alice_);
  ASSERT_TRUE(alice);
  const auto allowed = pgExec(alice.get(), "SELECT amount FROM hr.pay");
  ASSERT_TRUE(allowed.ok()) << allowed.error;
  EXPECT_EQ(allowed.value(), "1");
}

TEST_F(Guardrails, UnqualifiedNamesAreJudgedInTheSessionsSearchPath) {
  auto ann = connect(ann_, "ann@example.com");
  ASSERT_TRUE(ann);
  EXPECT_TRUE(pgExec(ann.get(), "SELECT count(*) FROM keep").ok()) << "keep is public.keep";
  ASSERT_TRUE(pgExec(ann.get(), "SET search_path = hr, public").ok());
  EXPECT_EQ(pgExec(ann.get(), "SELECT * FROM pay").sqlstate, "42501") << "pay is hr.pay now";
  EXPECT_EQ(pgExec(ann.get(), "SELECT count(*) FROM keep").sqlstate, "42501") << "keep might be hr.keep";
  ASSERT_TRUE(pgExec(ann.get(), "SET search_path = public").ok());
  EXPECT_TRUE(pgExec(ann.get(), "SELECT count(*) FROM keep").ok());
  // A change the gateway cannot follow for sure (it may be rolled back) leaves the schema open: strict.
  ASSERT_TRUE(pgExec(ann.get(), "BEGIN").ok());
  ASSERT_TRUE(pgExec(ann.get(), "SET search_path = public").ok());
  ASSERT_TRUE(pgExec(ann.get(), "ROLLBACK").ok());
  EXPECT_EQ(pgExec(ann.get(), "SELECT count(*) FROM keep").sqlstate, "42501");
  ASSERT_TRUE(pgExec(ann.get(), "RESET search_path").ok());
  EXPECT_TRUE(pgExec(ann.get(), "SELECT count(*) FROM keep").ok()) << "back to the login's search_path";
  EXPECT_EQ(pgExec(ann.get(), "SELECT set_config('search_path', 'hr', false); SELECT * FROM pay").sqlstate,
            "42501");
}

TEST_F(Guardrails, AsyncReviewRefusesAtOnceThenRunsTheApprovedStatementOnce) {
  for (const auto& earlier : pendingReviews()) ASSERT_TRUE(decide("reject", earlier, bob_, "clearing the way"));
  auto conn = connect(alice_);
  ASSERT_TRUE(conn);
  const auto held = pgExec(conn.get(), "DELETE FROM keep");
  EXPECT_EQ(held.sqlstate, "42501");
  EXPECT_NE(held.error.find("held for review rev_"), std::string::npos) << held.error;
  EXPECT_NE(held.error.find("review-unfiltered-writes"), std::string::npos) << held.error;
  EXPECT_EQ(keepRows(), 5);
  const auto id = reviewIdIn(held.error);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(pendingReviews(), std::vector<std::string>{id});
  // Sent again before a decision: the same review, not a second one.
  EXPECT_EQ(reviewIdIn(pgExec(conn.get(), "DELETE FROM keep").error), id);
  EXPECT_EQ(pendingReviews().size(), 1u);

  auto self = decide("approve", id, alice_);
  ASSERT_TRUE(self);
  EXPECT_FALSE(self->status.success());
  EXPECT_NE(self->err.find("cannot decide their own review"), std::string::npos) << self->err;
  auto outsider = decide("approve", id, ann_);
  ASSERT_TRUE(outsider);
  EXPECT_FALSE(outsider->status.success());
  EXPECT_NE(outsider->err.find("not in an approver group"), std::string::npos) << outsider->err;

  auto approved = decide("approve", id, bob_, "one-off cleanup");
  ASSERT_TRUE(approved);
  ASSERT_TRUE(approved->status.success()) << approved->err;
  EXPECT_NE(approved->out.find("approved by bob@example.com"), std::string::npos) << approved->out;

  const auto ran = pgExec(conn.get(), "DELETE FROM keep");
  ASSERT_TRUE(ran.ok()) << ran.error;
  EXPECT_EQ(ran.tag, "DELETE 5");
  EXPECT_EQ(keepRows(), 0);
  resetKeep();
  const auto again = pgExec(conn.get(), "DELETE FROM keep");
  EXPECT_EQ(again.sqlstate, "42501") << "an approval runs its statement once";
  EXPECT_NE(reviewIdIn(again.error), id);
  EXPECT_EQ(keepRows(), 5);
  // Only the same text, by the same identity, on the same connection, matches an approval.
  auto rejected = decide("reject", reviewIdIn(again.error), bob_, "not today");
  ASSERT_TRUE(rejected);
  EXPECT_TRUE(rejected->status.success()) << rejected->err;
  EXPECT_TRUE(pendingReviews().empty());
  auto all = gateway().cliJson({"reviews"}, {"--all", "--json"});
  ASSERT_TRUE(all);
  const auto byId = [&](const std::string& want) -> boost::json::object {
    for (const auto& r : all->as_array())
      if (r.as_object().at("id").as_string() == want) return r.as_object();
    return {};
  };
  const auto newest = byId(reviewIdIn(again.error));
  ASSERT_FALSE(newest.empty());
  EXPECT_EQ(newest.at("status").as_string(), "rejected");
  EXPECT_EQ(newest.at("decisions").as_array()[0].as_object().at("reason").as_string(), "not today");
  const auto oldest = byId(id);
  ASSERT_FALSE(oldest.empty());
  EXPECT_EQ(oldest.at("status").as_string(), "used");
  EXPECT_EQ(oldest.at("requester").as_string(), "alice@example.com");
  EXPECT_EQ(oldest.at("sql").as_string(), "DELETE FROM keep");
  EXPECT_EQ(oldest.at("decisions").as_array()[0].as_object().at("approver").as_string(), "bob@example.com");
  EXPECT_EQ(oldest.at("decisions").as_array()[0].as_object().at("reason").as_string(), "one-off cleanup");
  EXPECT_TRUE(pgExec(conn.get(), "DELETE FROM keep WHERE id = 999").ok()) << "a filtered delete needs no review";
  // The session's record shows each statement with its review: the one held, the one that ran under it.
  conn.reset();
  bool held_linked = false;
  bool run_linked = false;
  ASSERT_TRUE(waitUntil(
      [&] {
        auto rows = gateway().audit({"--user", "alice@example.com", "--limit", "0"});
        if (!rows) return false;
        for (const auto& row : *rows) {
          const auto& o = row.as_object();
          if (!o.at("review_id").is_string() || o.at("review_id").as_string() != id) continue;
          if (o.at("status").as_string() == "error") held_linked = true;
          if (o.at("status").as_string() == "ok" && o.at("tag").as_string() == "DELETE 5") run_linked = true;
        }
        return held_linked && run_linked;
      },
      std::chrono::seconds(20)))
      << "held linked: " << held_linked << ", run linked: " << run_linked;
}

TEST_F(Guardrails, WaitReviewHoldsTheStatementUntilApproved) {
  auto conn = connect(alice_);  // pg-main: a statement of the other connection is its own
  auto waiter = pgConnect(suite_->gateway->conninfo("alice@example.com", alice_, "pg-wait"));
  ASSERT_TRUE(waiter.ok()) << waiter.message;
  auto result = std::async(std::launch::async, [&] { return pgExec(waiter.conn.get(), "UPDATE keep SET v = 'held'"); });
  std::vector<std::string> ids;
  ASSERT_TRUE(waitUntil([&] { return !(ids = pendingReviews()).empty(); }, std::chrono::seconds(15)));
  EXPECT_EQ(result.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout) << "held";
  auto approved = decide("approve", ids[0], bob_);
  ASSERT_TRUE(approved && approved->status.success()) << (approved ? approved->err : "");
  const auto r = result.get();
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.tag, "UPDATE 5");
  EXPECT_TRUE(pgExec(waiter.conn.get(), "SELECT 1").ok());
  resetKeep();
}

TEST_F(Guardrails, WaitReviewNeedsEveryApprovalAndARejectionEndsIt) {
  auto waiter = pgConnect(suite_->gateway->conninfo("alice@example.com", alice_, "pg-wait"));
  ASSERT_TRUE(waiter.ok()) << waiter.message;
  auto result = std::async(std::launch::async, [&] { return pgExec(waiter.conn.get(), "DELETE FROM keep"); });
  std::vector<std::string> ids;
  ASSERT_TRUE(waitUntil([&] { return !(ids = pendingReviews()).empty(); }, std::chrono::seconds(15)));
  auto first = decide("approve", ids[0], bob_);
  ASSERT_TRUE(first && first->status.success());
  EXPECT_NE(first->out.find("1 of 2 approvals"), std::string::npos) << first->out;
  EXPECT_EQ(result.wait_for(std::chrono::milliseconds(600)), std::future_status::timeout) << "one of two";
  auto second = decide("approve", ids[0], carol_);
  ASSERT_TRUE(second && second->status.success()) << (second ? second->err : "");
  const auto ran = result.get();
  ASSERT_TRUE(ran.ok()) << ran.error;
  EXPECT_EQ(ran.tag, "DELETE 5");
  resetKeep();

  result = std::async(std::launch::async, [&] { return pgExec(waiter.conn.get(), "DELETE FROM keep"); });
  ASSERT_TRUE(waitUntil([&] { return !(ids = pendingReviews()).empty(); }, std::chrono::seconds(15)));
  auto no = decide("reject", ids[0], carol_, "use a WHERE clause");
  ASSERT_TRUE(no && no->status.success());
  const auto refused = result.get();
  EXPECT_EQ(refused.sqlstate, "42501");
  EXPECT_NE(refused.error.find("rejected by carol@example.com: use a WHERE clause"), std::string::npos)
      << refused.error;
  EXPECT_EQ(keepRows(), 5);
}

TEST_F(Guardrails, WaitReviewTimesOutAndCanBeCancelled) {
  auto waiter = pgConnect(suite_->gateway->conninfo("alice@example.com", alice_, "pg-wait"));
  ASSERT_TRUE(waiter.ok()) << waiter.message;
  ASSERT_TRUE(pgExec(waiter.conn.get(), "BEGIN").ok());
  const auto timed_out = pgExec(waiter.conn.get(), "LOCK TABLE keep");
  EXPECT_EQ(timed_out.sqlstate, "57014");
  EXPECT_NE(timed_out.error.find("was not approved in time"), std::string::npos) << timed_out.error;
  ASSERT_TRUE(pgExec(waiter.conn.get(), "ROLLBACK").ok());

  auto result = std::async(std::launch::async, [&] { return pgExec(waiter.conn.get(), "UPDATE keep SET v = 'x'"); });
  std::vector<std::string> ids;
  ASSERT_TRUE(waitUntil([&] { return !(ids = pendingReviews()).empty(); }, std::chrono::seconds(15)));
  PGcancel* cancel = PQgetCancel(waiter.conn.get());
  ASSERT_NE(cancel, nullptr);
  char err[256];
  EXPECT_EQ(PQcancel(cancel, err, sizeof err), 1) << err;
  PQfreeCancel(cancel);
  const auto cancelled = result.get();
  EXPECT_EQ(cancelled.sqlstate, "57014");
  EXPECT_NE(cancelled.error.find("canceling statement due to user request"), std::string::npos) << cancelled.error;
  EXPECT_TRUE(pgExec(waiter.conn.get(), "SELECT 1").ok()) << "the session goes on";
  EXPECT_EQ(keepRows(), 5);
  // The abandoned review can no longer run anything: approving it now changes nothing for this session.
  ASSERT_TRUE(decide("reject", ids[0], bob_, "cancelled anyway"));
}

TEST_F(Guardrails, APreparedStatementIsJudgedWhenItIsExecuted) {
  for (const auto& earlier : pendingReviews()) ASSERT_TRUE(decide("reject", earlier, bob_, "clearing the way"));
  auto conn = connect(alice_);
  ASSERT_TRUE(conn);
  EXPECT_EQ(pgExec(conn.get(), "PREPARE peek(text) AS SELECT pg_read_file($1)").sqlstate, "42501")
      << "a denied statement is refused when prepared";
  ASSERT_TRUE(pgExec(conn.get(), "PREPARE wipe AS DELETE FROM keep").ok()) << "preparing runs nothing";
  const auto held = pgExec(conn.get(), "EXECUTE wipe");
  EXPECT_EQ(held.sqlstate, "42501");
  EXPECT_NE(held.error.find("review-unfiltered-writes"), std::string::npos) << held.error;
  const auto id = reviewIdIn(held.error);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(keepRows(), 5);
  ASSERT_TRUE(decide("approve", id, bob_));
  const auto ran = pgExec(conn.get(), "EXECUTE wipe");
  ASSERT_TRUE(ran.ok()) << ran.error;
  EXPECT_EQ(ran.tag, "DELETE 5");
  resetKeep();
  EXPECT_EQ(pgExec(conn.get(), "EXECUTE wipe").sqlstate, "42501") << "each execution needs its approval";
  ASSERT_TRUE(pgExec(conn.get(), "PREPARE one(int) AS SELECT $1").ok());
  EXPECT_EQ(pgExec(conn.get(), "EXECUTE one(length(pg_read_file('/etc/hostname')))").sqlstate, "42501")
      << "an EXECUTE's parameters are judged too";
  // A statement made by SQL PREPARE but run through the protocol's Bind/Execute: the gateway cannot tell what
  // the Execute runs, so it refuses it rather than let a held statement through.
  ASSERT_TRUE(pgExec(conn.get(), "PREPARE sneaky AS DELETE FROM keep").ok());
  PgResultPtr bypass(PQexecPrepared(conn.get(), "sneaky", 0, nullptr, nullptr, nullptr, 0));
  EXPECT_EQ(sqlstateOf(bypass.get()), "42501");
  EXPECT_NE(std::string(PQresultErrorMessage(bypass.get())).find("cannot be judged"), std::string::npos)
      << PQresultErrorMessage(bypass.get());
  EXPECT_EQ(keepRows(), 5);
  ASSERT_TRUE(pgExec(conn.get(), "DEALLOCATE ALL").ok());
  for (const auto& r : pendingReviews()) ASSERT_TRUE(decide("reject", r, bob_, "done"));
  EXPECT_EQ(keepRows(), 5);
}

TEST_F(Guardrails, TheHttpApiListsAndDecidesReviews) {
  for (const auto& earlier : pendingReviews()) ASSERT_TRUE(decide("reject", earlier, bob_, "clearing the way"));
  auto conn = connect(alice_);
  ASSERT_TRUE(conn);
  const auto id = reviewIdIn(pgExec(conn.get(), "UPDATE keep SET v = 'api'").error);
  ASSERT_FALSE(id.empty());
  const auto port = gateway().httpPort();
  auto call = [&](const std::string& method, const std::string& target, const std::string& token,
                  const std::string& body = {}) {
    std::vector<std::string> headers;
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    if (!body.empty()) headers.push_back("Content-Type: application/json");
    auto r = httpRequest("127.0.0.1", port, method, target, headers, body);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : HttpResponse{};
  };
  EXPECT_EQ(call("GET", "/api/reviews", "").status, 401);
  EXPECT_EQ(call("GET", "/api/reviews", "gh_not_a_token").status, 401);
  auto listed = call("GET", "/api/reviews", bob_);
  ASSERT_EQ(listed.status, 200) << listed.body;
  EXPECT_EQ(listed.headers["content-type"], "application/json");
  auto reviews = boost::json::parse(listed.body).as_array();
  ASSERT_EQ(reviews.size(), 1u) << listed.body;
  EXPECT_EQ(reviews[0].as_object().at("id").as_string(), id);
  EXPECT_EQ(reviews[0].as_object().at("sql").as_string(), "UPDATE keep SET v = 'api'");
  EXPECT_EQ(boost::json::parse(call("GET", "/api/reviews", ann_).body).as_array().size(), 0u)
      << "neither requester nor approver: sees nothing";
  EXPECT_EQ(call("GET", "/api/reviews/" + id, ann_).status, 404);
  EXPECT_EQ(call("GET", "/api/reviews/" + id, alice_).status, 200) << "the requester sees their own";

  auto self = call("POST", "/api/reviews/" + id + "/approve", alice_);
  EXPECT_EQ(self.status, 403);
  EXPECT_NE(self.body.find("cannot decide their own review"), std::string::npos) << self.body;
  EXPECT_EQ(call("POST", "/api/reviews/" + id + "/reject", bob_).status, 400) << "a rejection needs a reason";
  EXPECT_EQ(call("POST", "/api/reviews/" + id + "/approve", bob_, "not json").status, 400);
  EXPECT_EQ(call("GET", "/api/reviews/" + id + "/approve", bob_).status, 405);
  auto approved = call("POST", "/api/reviews/" + id + "/approve", bob_, R"({"reason": "fine by me"})");
  ASSERT_EQ(approved.status, 200) << approved.body;
  const auto body = boost::json::parse(approved.body).as_object();
  EXPECT_EQ(body.at("status").as_string(), "approved");
  EXPECT_EQ(body.at("decisions").as_array()[0].as_object().at("reason").as_string(), "fine by me");
  EXPECT_EQ(call("POST", "/api/reviews/" + id + "/approve", carol_).status, 409) << "already decided";

  const auto ran = pgExec(conn.get(), "UPDATE keep SET v = 'api'");
  ASSERT_TRUE(ran.ok()) << ran.error;
  EXPECT_EQ(ran.tag, "UPDATE 5");
  resetKeep();
}

TEST_F(Guardrails, RefusalsAreInTheAudit) {
  auto conn = connect(alice_);
  ASSERT_TRUE(conn);
  ASSERT_EQ(pgExec(conn.get(), "DROP TABLE keep /* audit-marker */").sqlstate, "42501");
  conn.reset();
  ASSERT_TRUE(waitUntil(
      [&] {
        auto rows = gateway().audit({"--user", "alice@example.com"});
        if (!rows) return false;
        for (const auto& row : *rows) {
          const auto& o = row.as_object();
          if (std::string(o.at("sql").as_string()).find("audit-marker") == std::string::npos) continue;
          return o.at("sqlstate").as_string() == "42501" &&
                 std::string(o.at("error_message").as_string()).find("deny-drop") != std::string::npos;
        }
        return false;
      },
      std::chrono::seconds(20)))
      << "the audit has the statement as the client wrote it, with the refusal";
}

}  // namespace
}  // namespace gatehouse::testing
