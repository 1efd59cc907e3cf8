// The PostgreSQL server the integration tests share: one per test process (SCRAM authentication, TLS on),
// started on first use and stopped at exit. Each suite gets its own database in it.
#pragma once

#include <string>

#include "core/result.h"
#include "devtools/local_postgres.h"

namespace gatehouse::testing {

// The unprivileged role the gateway logs in as (the "held credential").
struct UpstreamAccount {
  std::string user;
  std::string password;
};

// Starts the shared server on first call; later calls return the same server (or the same error).
Result<devtools::LocalPostgres*> sharedPostgres();
const UpstreamAccount& upstreamAccount();
// Creates a fresh database owned by the upstream account, named `prefix` plus a random suffix.
Result<std::string> createTestDatabase(const std::string& prefix);

}  // namespace gatehouse::testing
