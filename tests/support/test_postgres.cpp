// The shared test PostgreSQL. initdb costs about a second, so one server serves every suite in a process.
#include "support/test_postgres.h"

#include <memory>
#include <mutex>

namespace gatehouse::testing {
namespace {

struct Shared {
  std::unique_ptr<devtools::LocalPostgres> pg;
  std::string error;
  UpstreamAccount account;
};

Shared& shared() {
  // Destroyed at exit, which stops the server and removes its directory.
  static Shared instance;
  return instance;
}

}  // namespace

Result<devtools::LocalPostgres*> sharedPostgres() {
  static std::once_flag once;
  std::call_once(once, [] {
    Shared& s = shared();
    // A recognisable password, so that tests can assert it never reaches a client.
    s.account = {"gh_upstream", "upstream-Secret-" + devtools::randomToken(16)};
    devtools::LocalPostgresOptions options;
    options.ssl = true;
    options.host_auth = "scram-sha-256";
    options.roles.push_back({s.account.user, s.account.password, false});
    auto pg = devtools::LocalPostgres::start(options);
    if (pg) s.pg = std::move(*pg);
    else s.error = pg.error().message;
  });
  Shared& s = shared();
  if (!s.pg) return makeError("starting the test PostgreSQL: " + s.error);
  return s.pg.get();
}

const UpstreamAccount& upstreamAccount() { return shared().account; }

Result<std::string> createTestDatabase(const std::string& prefix) {
  auto pg = sharedPostgres();
  if (!pg) return pg.error();
  std::string name = prefix + "_" + devtools::randomToken(6);
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto r = (*pg)->createDatabase(name, upstreamAccount().user); !r) return r.error();
  return name;
}

}  // namespace gatehouse::testing
