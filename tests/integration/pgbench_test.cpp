// pgbench through the gateway: initialization (DDL and COPY), then the TPC-B-like script with each query
// mode (simple, extended, prepared), several clients at once. Every transaction must succeed.
#include <gtest/gtest.h>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {

constexpr int kClients = 4;
constexpr int kTransactionsPerClient = 150;

class PgbenchThroughGateway : public GatewaySuiteTest<PgbenchThroughGateway> {
 protected:
  static void SetUpTestSuite() {
    if (!startSuite("pgbench")) return;
    token_ = issueToken("bench", {"dev"});
    if (token_.empty()) return;
    auto init = runPgbench({"-i", "-s", "1", "-q"}, suite_->clientEnv("bench", token_));
    if (!init) error_ = "pgbench -i: " + init.error().message;
    else if (!init->status.success()) error_ = "pgbench -i " + init->status.describe() + ": " + init->err;
    else init_output_ = init->err + init->out;
  }

  static long historyRows() {
    auto c = pgConnect(suite_->directConninfo());
    if (!c.ok()) return -1;
    return std::stol(pgExec(c.conn.get(), "SELECT count(*) FROM pgbench_history").value());
  }

  static void runMode(const std::string& mode) {
    long before = historyRows();
    auto r = runPgbench({"-M", mode, "-c", std::to_string(kClients), "-j", "2", "-t",
                         std::to_string(kTransactionsPerClient), "-n"},
                        suite_->clientEnv("bench", token_));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->status.success()) << r->status.describe() << "\n" << r->err << r->out;
    PgbenchSummary s = parsePgbench(r->out);
    ASSERT_TRUE(s.failed.has_value()) << r->out;
    EXPECT_EQ(*s.failed, 0) << r->out;
    ASSERT_TRUE(s.processed.has_value()) << r->out;
    EXPECT_EQ(*s.processed, kClients * kTransactionsPerClient) << r->out;
    ASSERT_TRUE(s.tps.has_value()) << r->out;
    EXPECT_GT(*s.tps, 0.0);
    // Each TPC-B-like transaction inserts one history row: the writes really reached the server.
    EXPECT_EQ(historyRows() - before, kClients * kTransactionsPerClient);
  }

  static inline std::string token_;
  static inline std::string init_output_;
};

TEST_F(PgbenchThroughGateway, InitializeLoadsTablesThroughGateway) {
  // Checked on a direct connection, so that the gateway's word is not taken for it.
  auto c = pgConnect(suite_->directConninfo());
  ASSERT_TRUE(c.ok()) << c.message;
  EXPECT_EQ(pgExec(c.conn.get(), "SELECT count(*) FROM pgbench_accounts").value(), "100000") << init_output_;
  EXPECT_EQ(pgExec(c.conn.get(), "SELECT count(*) FROM pgbench_branches").value(), "1");
  EXPECT_EQ(pgExec(c.conn.get(), "SELECT count(*) FROM pgbench_tellers").value(), "10");
}

TEST_F(PgbenchThroughGateway, SimpleProtocol) { runMode("simple"); }

TEST_F(PgbenchThroughGateway, ExtendedProtocol) { runMode("extended"); }

TEST_F(PgbenchThroughGateway, PreparedStatements) { runMode("prepared"); }

TEST_F(PgbenchThroughGateway, SelectOnlyPrepared) {
  auto r = runPgbench({"-S", "-M", "prepared", "-c", "4", "-j", "2", "-t", "300", "-n"},
                      suite_->clientEnv("bench", token_));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->status.success()) << r->err << r->out;
  PgbenchSummary s = parsePgbench(r->out);
  ASSERT_TRUE(s.failed.has_value()) << r->out;
  EXPECT_EQ(*s.failed, 0);
  EXPECT_EQ(s.processed.value_or(-1), 1200);
}

}  // namespace
}  // namespace gatehouse::testing
