// Crash safety of the audit trail: clients run statements as fast as they can, the gateway is killed with
// SIGKILL mid-flight, and every statement whose result a client received must be in `gatehouse audit`.
// (A statement is recorded before its result is forwarded; what the client saw was therefore recorded.)
#include <gtest/gtest.h>

#include <atomic>
#include <regex>
#include <set>
#include <thread>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {
using namespace std::chrono_literals;

class CrashSafety : public GatewaySuiteTest<CrashSafety> {
 protected:
  static void SetUpTestSuite() {
    if (startSuite("crash")) token_ = issueToken(kUser, {"dev"});
  }
  static constexpr const char* kUser = "crash-tester";
  static inline std::string token_;
};

// One client: statements one after another, remembering the highest marker whose result arrived. Markers are
// sequential, so "highest acknowledged" means every marker up to it was acknowledged.
struct MarkerClient {
  std::string prefix;
  bool extended = false;
  std::atomic<long> acknowledged{0};
  std::string stopped_because;

  void run(const std::string& conninfo, const std::atomic<bool>& stop) {
    auto c = pgConnect(conninfo);
    if (!c.ok()) {
      stopped_because = "connect: " + c.message;
      return;
    }
    for (long n = acknowledged + 1; !stop; ++n) {
      std::string marker = prefix + std::to_string(n);
      std::string sql = "SELECT '" + marker + "'";
      QueryResult r = extended ? pgExecParams(c.conn.get(), sql, {}) : pgExec(c.conn.get(), sql);
      if (!r.ok() || r.value() != marker) {
        stopped_because = r.error;
        return;
      }
      acknowledged = n;
    }
    stopped_because = "stopped";
  }
};

TEST_F(CrashSafety, EveryAcknowledgedStatementIsInTheAuditAfterSigkill) {
  const std::string run_id = devtools::randomToken(8);
  MarkerClient simple{"crash-" + run_id + "-s-", false};
  MarkerClient extended{"crash-" + run_id + "-e-", true};
  std::atomic<bool> stop{false};
  const std::string conninfo = gateway().conninfo(kUser, token_);
  std::thread t1([&] { simple.run(conninfo, stop); });
  std::thread t2([&] { extended.run(conninfo, stop); });

  // Kill while both are busy, after enough statements that the log has flushed several groups.
  bool busy = waitUntil([&] { return simple.acknowledged >= 400 && extended.acknowledged >= 400; }, 30s);
  ASSERT_TRUE(gateway().kill9());
  stop = true;
  t1.join();
  t2.join();
  ASSERT_TRUE(busy) << "clients did not get going: " << simple.stopped_because << " / " << extended.stopped_because;
  // The kill, not the test, ended them.
  EXPECT_NE(simple.stopped_because, "stopped");
  EXPECT_NE(extended.stopped_because, "stopped");

  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    auto entries = gateway().audit({"--user", kUser, "--limit", "0"});
    ASSERT_TRUE(entries) << entries.error().message;
    std::set<std::string> recorded;
    for (const auto& e : *entries) {
      if (!e.is_object()) continue;
      const auto* sql = e.as_object().if_contains("sql");
      if (sql == nullptr || !sql->is_string()) continue;
      static const std::regex kMarker("'(crash-[A-Za-z0-9]+-[se]-[0-9]+)'");
      std::smatch m;
      std::string text(sql->as_string());
      if (std::regex_search(text, m, kMarker)) recorded.insert(m[1].str());
    }
    for (MarkerClient* client : {&simple, &extended}) {
      long missing = 0;
      std::string first_missing;
      for (long n = 1; n <= client->acknowledged; ++n) {
        if (recorded.count(client->prefix + std::to_string(n)) == 0) {
          if (missing++ == 0) first_missing = client->prefix + std::to_string(n);
        }
      }
      EXPECT_EQ(missing, 0) << missing << " of " << client->acknowledged
                            << " acknowledged statements missing from the audit, first " << first_missing;
    }
  };
  check("right after the kill, gateway down");

  // A restarted gateway recovers the log it left behind and serves again; nothing acknowledged is lost.
  ASSERT_TRUE(gateway().start());
  auto c = pgConnect(gateway().conninfo(kUser, token_));
  ASSERT_TRUE(c.ok()) << c.message;
  EXPECT_EQ(pgExec(c.conn.get(), "SELECT 'after restart'").value(), "after restart");
  check("after restart");
}

}  // namespace
}  // namespace gatehouse::testing
