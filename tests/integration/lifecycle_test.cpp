// Process lifecycle: SIGTERM with sessions open ends the gateway cleanly (exit code 0, which also means no
// sanitizer report at exit), closes the clients' connections, and a restart on the same data serves again.
#include <gtest/gtest.h>

#include <csignal>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {
using namespace std::chrono_literals;

class GatewayLifecycle : public GatewaySuiteTest<GatewayLifecycle> {
 protected:
  static void SetUpTestSuite() {
    if (startSuite("lifecycle")) token_ = issueToken("lena", {"dev"});
  }
  static inline std::string token_;
};

TEST_F(GatewayLifecycle, SigtermWithOpenSessionsExitsCleanly) {
  auto idle = pgConnect(gateway().conninfo("lena", token_));
  ASSERT_TRUE(idle.ok()) << idle.message;
  auto in_tx = pgConnect(gateway().conninfo("lena", token_));
  ASSERT_TRUE(in_tx.ok()) << in_tx.message;
  ASSERT_TRUE(pgExec(in_tx.conn.get(), "BEGIN").ok());
  ASSERT_TRUE(pgExec(in_tx.conn.get(), "SELECT 1").ok());

  auto started = std::chrono::steady_clock::now();
  auto status = gateway().stop(15s);
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_TRUE(status->success()) << "gatehouse serve " << status->describe() << " on SIGTERM";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  // The clients learn that their sessions are gone.
  EXPECT_FALSE(pgExec(idle.conn.get(), "SELECT 1").ok());

  ASSERT_TRUE(gateway().start());
  auto again = pgConnect(gateway().conninfo("lena", token_));
  ASSERT_TRUE(again.ok()) << again.message;
  EXPECT_EQ(pgExec(again.conn.get(), "SELECT 'back'").value(), "back");
}

}  // namespace
}  // namespace gatehouse::testing
