// startSuiteGateway: a database and a running gateway for one test suite.
#include "support/suite_gateway.h"

namespace gatehouse::testing {

EnvVars SuiteGateway::clientEnv(const std::string& user, const std::string& token,
                                const std::string& connection) const {
  return {{"PGHOST", "127.0.0.1"},
          {"PGPORT", std::to_string(gateway->pgPort())},
          {"PGUSER", user},
          {"PGPASSWORD", token},
          {"PGDATABASE", connection}};
}

std::string SuiteGateway::directConninfo() const { return pg->superuserConninfo(database); }

Result<SuiteGateway> startSuiteGateway(const std::string& prefix, const CustomizeGateway& customize) {
  SuiteGateway suite;
  auto pg = sharedPostgres();
  if (!pg) return pg.error();
  suite.pg = *pg;
  auto db = createTestDatabase(prefix);
  if (!db) return db.error();
  suite.database = *db;

  GatewayOptions options;
  options.connections.push_back(connectionTo(*suite.pg, suite.database, upstreamAccount().user));
  options.env = {{"GH_TEST_PG_PASSWORD", upstreamAccount().password}};
  if (customize) customize(options, *suite.pg, suite.database);
  auto gateway = GatewayHarness::create(std::move(options));
  if (!gateway) return gateway.error();
  suite.gateway = std::move(*gateway);
  if (auto r = suite.gateway->start(); !r) return r.error();
  return suite;
}

}  // namespace gatehouse::testing
