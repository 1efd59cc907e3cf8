// What most integration suites share: a database of their own in the shared PostgreSQL and one gateway in
// front of it, started once per suite.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/result.h"
#include "support/gateway_harness.h"
#include "support/test_postgres.h"

namespace gatehouse::testing {

struct SuiteGateway {
  devtools::LocalPostgres* pg = nullptr;
  std::string database;
  std::unique_ptr<GatewayHarness> gateway;

  // Environment for psql/pgbench as `user` with `token` through the gateway.
  EnvVars clientEnv(const std::string& user, const std::string& token, const std::string& connection = "pg-main") const;
  // A direct superuser connection to the suite's database (bypassing the gateway), for checks.
  std::string directConninfo() const;
};

using CustomizeGateway = std::function<void(GatewayOptions&, const devtools::LocalPostgres&, const std::string& db)>;

// Creates database `prefix_xxxxxx` owned by the upstream account, and a started gateway whose pg-main connection
// points at it (as the upstream account, password from GH_TEST_PG_PASSWORD, group dev). `customize` may add
// connections or change options before the config is written.
Result<SuiteGateway> startSuiteGateway(const std::string& prefix, const CustomizeGateway& customize = {});

}  // namespace gatehouse::testing
