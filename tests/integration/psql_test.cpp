// psql and libpq through the real gateway against a real PostgreSQL: queries, errors, COPY, notices,
// LISTEN/NOTIFY, ParameterStatus and cancel.
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

class PsqlThroughGateway : public GatewaySuiteTest<PsqlThroughGateway> {
 protected:
  static void SetUpTestSuite() {
    if (startSuite("psql")) token_ = issueToken("alice@example.com", {"dev"});
  }

  static std::string conninfo(const std::string& extra = "sslmode=disable") {
    return suite_->gateway->conninfo("alice@example.com", token_, "pg-main", extra);
  }
  static PgConnPtr connect(const std::string& extra = "sslmode=disable") {
    auto c = pgConnect(conninfo(extra));
    EXPECT_TRUE(c.ok()) << c.message;
    return std::move(c.conn);
  }
  static Result<devtools::RunResult> psql(const std::vector<std::string>& args, const std::string& input = {}) {
    std::vector<std::string> all = {"-X", "-v", "ON_ERROR_STOP=1"};
    all.insert(all.end(), args.begin(), args.end());
    return runPsql(all, suite_->clientEnv("alice@example.com", token_), input);
  }

  static inline std::string token_;
};

TEST_F(PsqlThroughGateway, PsqlSelectReturnsRows) {
  auto r = psql({"-A", "-t", "-c", "SELECT 6 * 7, 'gate' || 'house', current_user"});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->status.success()) << r->err;
  // The query ran upstream as the held credential, not as the token's user.
  EXPECT_EQ(r->out, "42|gatehouse|" + upstreamAccount().user + "\n");
}

TEST_F(PsqlThroughGateway, MultiStatementQueryReturnsEveryResult) {
  auto conn = connect();
  ASSERT_TRUE(conn);
  auto results = pgExecAll(conn.get(),
                           "CREATE TEMP TABLE ms(a int); INSERT INTO ms VALUES (1), (2), (3); "
                           "SELECT sum(a) FROM ms; SELECT a FROM ms WHERE a > 1 ORDER BY a");
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0].tag, "CREATE TABLE");
  EXPECT_EQ(results[1].tag, "INSERT 0 3");
  EXPECT_EQ(results[2].value(), "6");
  ASSERT_EQ(results[3].rows.size(), 2u);
  EXPECT_EQ(results[3].value(0), "2");
  EXPECT_EQ(results[3].value(1), "3");
  EXPECT_EQ(results[3].tag, "SELECT 2");
}

TEST_F(PsqlThroughGateway, ErrorCarriesSqlstateAndSessionSurvives) {
  auto conn = connect();
  ASSERT_TRUE(conn);
  auto err = pgExec(conn.get(), "SELECT 1 / 0");
  EXPECT_EQ(err.status, PGRES_FATAL_ERROR);
  EXPECT_EQ(err.sqlstate, "22012");
  EXPECT_NE(err.error.find("division by zero"), std::string::npos) << err.error;

  // Inside a transaction the error aborts it; the gateway must keep the session in step with the server.
  EXPECT_TRUE(pgExec(conn.get(), "BEGIN").ok());
  EXPECT_EQ(pgExec(conn.get(), "SELECT 1 / 0").sqlstate, "22012");
  EXPECT_EQ(pgExec(conn.get(), "SELECT 1").sqlstate, "25P02");
  EXPECT_EQ(PQtransactionStatus(conn.get()), PQTRANS_INERROR);
  EXPECT_TRUE(pgExec(conn.get(), "ROLLBACK").ok());
  EXPECT_EQ(pgExec(conn.get(), "SELECT 'still here'").value(), "still here");

  auto r = psql({"-c", "SELECT 1 / 0"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status.code, 1);
  EXPECT_NE(r->err.find("division by zero"), std::string::npos) << r->err;
}

TEST_F(PsqlThroughGateway, CopyInAndOutRoundTrips) {
  auto conn = connect();
  ASSERT_TRUE(conn);
  ASSERT_TRUE(pgExec(conn.get(), "CREATE TABLE copy_rt (id int PRIMARY KEY, name text, note text)").ok());

  fs::path dir = suite_->gateway->dir();
  std::ostringstream csv;
  for (int i = 1; i <= 5000; ++i) {
    // Quotes, commas and an empty-vs-NULL distinction make the round trip meaningful.
    csv << i << ",name-" << i << ",\"has, comma and \"\"quote\"\" " << i * 7 << "\"\n";
  }
  csv << "5001,,\n";
  {
    std::ofstream(dir / "copy_in.csv") << csv.str();
  }
  auto in = psql({"-c", "\\copy copy_rt FROM '" + (dir / "copy_in.csv").string() + "' WITH (FORMAT csv)"});
  ASSERT_TRUE(in) << in.error().message;
  ASSERT_TRUE(in->status.success()) << in->err;
  EXPECT_EQ(pgExec(conn.get(), "SELECT count(*), sum(id) FROM copy_rt").value(0, 1), "12507501");
  EXPECT_EQ(pgExec(conn.get(), "SELECT count(*) FROM copy_rt WHERE note IS NULL").value(), "1");

  auto out = psql({"-c", "\\copy (SELECT * FROM copy_rt ORDER BY id) TO '" + (dir / "copy_out.csv").string() +
                             "' WITH (FORMAT csv)"});
  ASSERT_TRUE(out) << out.error().message;
  ASSERT_TRUE(out->status.success()) << out->err;
  EXPECT_EQ(devtools::readFileOrEmpty(dir / "copy_out.csv"), csv.str());

  // COPY FROM STDIN with an error mid-stream: the server's error reaches the client, and the session goes on.
  auto bad = psql({"-c", "\\copy copy_rt FROM STDIN WITH (FORMAT csv)"}, "9001,a,b\n9002,c\nnot-a-number,d,e\n");
  ASSERT_TRUE(bad) << bad.error().message;
  EXPECT_NE(bad->status.code, 0);
  EXPECT_EQ(pgExec(conn.get(), "SELECT count(*) FROM copy_rt WHERE id > 9000").value(), "0");
}

TEST_F(PsqlThroughGateway, NoticeReachesClient) {
  auto r = psql({"-c", "DO $$ BEGIN RAISE NOTICE 'hello-notice-%', 6 * 7; END $$"});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->status.success()) << r->err;
  EXPECT_NE(r->err.find("NOTICE:  hello-notice-42"), std::string::npos) << r->err;

  auto conn = connect();
  ASSERT_TRUE(conn);
  std::vector<std::string> notices;
  PQsetNoticeReceiver(
      conn.get(),
      [](void* arg, const PGresult* res) {
        static_cast<std::vector<std::string>*>(arg)->emplace_back(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
      },
      &notices);
  EXPECT_TRUE(pgExec(conn.get(), "DO $$ BEGIN RAISE NOTICE 'one'; RAISE WARNING 'two'; END $$").ok());
  EXPECT_EQ(notices, (std::vector<std::string>{"one", "two"}));
}

TEST_F(PsqlThroughGateway, ListenNotifyCrossesSessions) {
  auto listener = connect();
  auto notifier = connect();
  ASSERT_TRUE(listener && notifier);
  ASSERT_TRUE(pgExec(listener.get(), "LISTEN gh_channel").ok());
  ASSERT_TRUE(pgExec(notifier.get(), "NOTIFY gh_channel, 'payload-1'").ok());
  ASSERT_TRUE(pgExec(notifier.get(), "SELECT pg_notify('gh_channel', 'payload-2')").ok());

  std::vector<std::string> payloads;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (payloads.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{PQsocket(listener.get()), POLLIN, 0};
    ::poll(&pfd, 1, 200);
    ASSERT_EQ(PQconsumeInput(listener.get()), 1) << PQerrorMessage(listener.get());
    while (PGnotify* n = PQnotifies(listener.get())) {
      EXPECT_STREQ(n->relname, "gh_channel");
      payloads.emplace_back(n->extra);
      PQfreemem(n);
    }
  }
  EXPECT_EQ(payloads, (std::vector<std::string>{"payload-1", "payload-2"}));
}

TEST_F(PsqlThroughGateway, ParameterStatusFollowsSet) {
  auto conn = connect("sslmode=disable application_name=gh-initial");
  ASSERT_TRUE(conn);
  ASSERT_NE(PQparameterStatus(conn.get(), "server_version"), nullptr);
  EXPECT_STREQ(PQparameterStatus(conn.get(), "application_name"), "gh-initial");
  ASSERT_TRUE(pgExec(conn.get(), "SET application_name = 'gh-changed'").ok());
  // The server reports the change with a ParameterStatus message, which libpq applies.
  EXPECT_STREQ(PQparameterStatus(conn.get(), "application_name"), "gh-changed");
  EXPECT_EQ(pgExec(conn.get(), "SHOW application_name").value(), "gh-changed");
  ASSERT_TRUE(pgExec(conn.get(), "SET TIME ZONE 'America/New_York'").ok());
  EXPECT_STREQ(PQparameterStatus(conn.get(), "TimeZone"), "America/New_York");
}

TEST_F(PsqlThroughGateway, CancelStopsLongQuery) {
  auto conn = connect();
  ASSERT_TRUE(conn);
  auto direct = pgConnect(suite_->directConninfo());
  ASSERT_TRUE(direct.ok()) << direct.message;
  const std::string tag = "cancel_" + devtools::randomToken(8);
  PGcancel* cancel = PQgetCancel(conn.get());
  ASSERT_NE(cancel, nullptr);
  std::atomic<bool> cancel_sent{false};
  std::string cancel_error;
  std::thread canceller([&] {
    // Cancel once the query runs upstream (a cancel that arrives before it is, by design, a no-op), and no
    // sooner than 300 ms after it was sent.
    std::this_thread::sleep_for(300ms);
    const std::string running = "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%" +
                                tag + "%' AND pid <> pg_backend_pid()";
    if (!waitUntil([&] { return pgExec(direct.conn.get(), running).value() == "1"; }, 10s)) {
      cancel_error = "the query never showed up in pg_stat_activity";
    }
    char errbuf[256] = {0};
    if (PQcancel(cancel, errbuf, sizeof errbuf) == 1) cancel_sent = true;
    else cancel_error += errbuf;
  });
  auto started = std::chrono::steady_clock::now();
  auto r = pgExec(conn.get(), "SELECT pg_sleep(30) AS " + tag);
  auto took = std::chrono::steady_clock::now() - started;
  canceller.join();
  PQfreeCancel(cancel);
  EXPECT_TRUE(cancel_sent) << cancel_error;
  EXPECT_EQ(r.sqlstate, "57014") << r.error;
  EXPECT_LT(took, 10s);
  // The session is usable after the cancel.
  EXPECT_EQ(pgExec(conn.get(), "SELECT 'after cancel'").value(), "after cancel");
}

TEST_F(PsqlThroughGateway, ExtendedProtocolWithParameters) {
  auto conn = connect();
  ASSERT_TRUE(conn);
  auto r = pgExecParams(conn.get(), "SELECT $1::int * 2, upper($2), $3::text IS NULL", {"21", "gate", "x"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value(0, 0), "42");
  EXPECT_EQ(r.value(0, 1), "GATE");
  EXPECT_EQ(r.value(0, 2), "f");
  PgResultPtr prep(PQprepare(conn.get(), "named_stmt", "SELECT $1::int + 1", 1, nullptr));
  ASSERT_EQ(PQresultStatus(prep.get()), PGRES_COMMAND_OK) << PQresultErrorMessage(prep.get());
  for (int i = 0; i < 3; ++i) {
    std::string v = std::to_string(i);
    const char* values[] = {v.c_str()};
    PgResultPtr res(PQexecPrepared(conn.get(), "named_stmt", 1, values, nullptr, nullptr, 0));
    ASSERT_EQ(PQresultStatus(res.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(res.get());
    EXPECT_EQ(std::string(PQgetvalue(res.get(), 0, 0)), std::to_string(i + 1));
  }
  auto bad = pgExecParams(conn.get(), "SELECT $1::int", {"not a number"});
  EXPECT_EQ(bad.sqlstate, "22P02");
  EXPECT_EQ(pgExec(conn.get(), "SELECT 1").value(), "1");
}

TEST_F(PsqlThroughGateway, HealthAndMetricsEndpoints) {
  auto health = suite_->gateway->http("/healthz");
  ASSERT_TRUE(health) << health.error().message;
  EXPECT_EQ(health->status, 200);
  auto body = boost::json::parse(health->body);
  EXPECT_EQ(body.at("status").as_string(), "ok");
  auto metrics = suite_->gateway->http("/metrics");
  ASSERT_TRUE(metrics) << metrics.error().message;
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("# TYPE "), std::string::npos) << metrics->body.substr(0, 500);
}

}  // namespace
}  // namespace gatehouse::testing
