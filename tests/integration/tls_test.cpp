// TLS on both legs: clients to the gateway (sslmode=require / disable), and the gateway to PostgreSQL
// (tls mode disable, require, verify-full with the server's CA), checked from the server's own pg_stat_ssl.
#include <gtest/gtest.h>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {

class TlsThroughGateway : public GatewaySuiteTest<TlsThroughGateway> {
 protected:
  static void SetUpTestSuite() {
    // A CA that did not sign the server's certificate.
    auto dir = devtools::makeTempDir("gatehouse-otherca");
    if (!dir) {
      error_ = dir.error().message;
      return;
    }
    other_ca_dir_ = *dir;
    devtools::SpawnOptions req;
    req.argv = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "2", "-subj", "/CN=localhost", "-keyout", (other_ca_dir_ / "other.key").string(),
                "-out", (other_ca_dir_ / "other.crt").string()};
    auto made = devtools::run(req, std::chrono::seconds(30));
    if (!made || !made->status.success()) {
      error_ = "openssl req failed: " + (made ? made->err : made.error().message);
      return;
    }
    bool started = startSuite("tls", [](GatewayOptions& options, const devtools::LocalPostgres& pg,
                                        const std::string& db) {
      GatewayConnection require = connectionTo(pg, db, upstreamAccount().user, "pg-tls-require");
      require.tls_mode = "require";
      options.connections.push_back(require);
      GatewayConnection verify = connectionTo(pg, db, upstreamAccount().user, "pg-tls-verify");
      verify.tls_mode = "verify-full";
      verify.tls_ca = pg.sslCertPath();  // self-signed: the certificate is its own CA
      verify.tls_server_name = "localhost";
      options.connections.push_back(verify);
      // The same server checked against a CA that did not sign its certificate: must be refused.
      GatewayConnection wrong_ca = connectionTo(pg, db, upstreamAccount().user, "pg-tls-wrong-ca");
      wrong_ca.tls_mode = "verify-full";
      wrong_ca.tls_ca = other_ca_dir_ / "other.crt";
      wrong_ca.tls_server_name = "localhost";
      options.connections.push_back(wrong_ca);
    });
    if (started) token_ = issueToken("tess", {"dev"});
  }

  // Whether the upstream connection behind this gateway session is encrypted, as PostgreSQL sees it.
  static std::string upstreamSsl(PGconn* conn) {
    return pgExec(conn, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").value();
  }

  static void TearDownTestSuite() {
    GatewaySuiteTest::TearDownTestSuite();
    std::error_code ec;
    if (!other_ca_dir_.empty()) std::filesystem::remove_all(other_ca_dir_, ec);
  }

  static inline std::string token_;
  static inline std::filesystem::path other_ca_dir_;
};

TEST_F(TlsThroughGateway, ClientRequiresTls) {
  auto c = pgConnect(gateway().conninfo("tess", token_, "pg-main", "sslmode=require"));
  ASSERT_TRUE(c.ok()) << c.message;
  EXPECT_EQ(PQsslInUse(c.conn.get()), 1);
  EXPECT_NE(PQsslAttribute(c.conn.get(), "protocol"), nullptr);
  EXPECT_EQ(pgExec(c.conn.get(), "SELECT 'over tls'").value(), "over tls");
}

TEST_F(TlsThroughGateway, ClientPlaintextOnLoopback) {
  auto c = pgConnect(gateway().conninfo("tess", token_, "pg-main", "sslmode=disable"));
  ASSERT_TRUE(c.ok()) << c.message;
  EXPECT_EQ(PQsslInUse(c.conn.get()), 0);
  EXPECT_EQ(pgExec(c.conn.get(), "SELECT 'plain'").value(), "plain");
}

TEST_F(TlsThroughGateway, PsqlWithTlsRunsQueries) {
  auto env = suite_->clientEnv("tess", token_);
  env.emplace_back("PGSSLMODE", "require");
  auto r = runPsql({"-X", "-A", "-t", "-c", "SELECT count(*) FROM generate_series(1, 100000)"}, env);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->status.success()) << r->err;
  EXPECT_EQ(r->out, "100000\n");
}

TEST_F(TlsThroughGateway, UpstreamTlsModes) {
  auto plain = pgConnect(gateway().conninfo("tess", token_, "pg-main"));
  ASSERT_TRUE(plain.ok()) << plain.message;
  EXPECT_EQ(upstreamSsl(plain.conn.get()), "f");

  auto require = pgConnect(gateway().conninfo("tess", token_, "pg-tls-require"));
  ASSERT_TRUE(require.ok()) << require.message;
  EXPECT_EQ(upstreamSsl(require.conn.get()), "t");

  auto verify = pgConnect(gateway().conninfo("tess", token_, "pg-tls-verify"));
  ASSERT_TRUE(verify.ok()) << verify.message;
  EXPECT_EQ(upstreamSsl(verify.conn.get()), "t");
}

TEST_F(TlsThroughGateway, UpstreamCertificateFromWrongCaIsRefused) {
  auto c = pgConnect(gateway().conninfo("tess", token_, "pg-tls-wrong-ca"));
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.sqlstate, "08001") << c.message;
  EXPECT_EQ(c.message.find(upstreamAccount().password), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::testing
