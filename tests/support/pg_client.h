// Client-side helpers for the integration tests: libpq connections that report the SQLSTATE of a failed
// connection, statement results with their SQLSTATE, and psql/pgbench runs with their output and exit code.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "devtools/process.h"

namespace gatehouse::testing {

struct PgConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

// A connection attempt. libpq has no API for the SQLSTATE of a failed connection; with verbose error
// messages set before the first poll, the server's "FATAL:  28P01: ..." carries it, and `sqlstate` is parsed
// from there. Empty when the failure did not come from the server (refused, reset, timeout).
struct ConnectOutcome {
  PgConnPtr conn;        // set when the connection is up
  std::string sqlstate;  // the server's SQLSTATE when it refused the connection
  std::string message;   // libpq's error message
  bool ok() const { return conn != nullptr; }
};
ConnectOutcome pgConnect(const std::string& conninfo, std::chrono::milliseconds timeout = std::chrono::seconds(20));

// The SQLSTATE in a "SEVERITY:  XXXXX: text" verbose libpq message; empty if none.
std::string sqlstateFromMessage(const std::string& message);
// PQresultErrorField(res, PG_DIAG_SQLSTATE), or empty.
std::string sqlstateOf(const PGresult* res);

// One result of a query.
struct QueryResult {
  ExecStatusType status = PGRES_FATAL_ERROR;
  std::string sqlstate;
  std::string error;  // primary error message
  std::string tag;    // PQcmdStatus, e.g. "SELECT 1"
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;
  bool ok() const { return status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK; }
  // rows[r][c], or "<null>" / "<missing>" — for assertions.
  std::string value(size_t row = 0, size_t col = 0) const;
};
QueryResult toQueryResult(const PGresult* res);

// PQexec: the last result of the query string.
QueryResult pgExec(PGconn* conn, const std::string& sql);
// PQsendQuery + PQgetResult: every result of a multi-statement query string.
std::vector<QueryResult> pgExecAll(PGconn* conn, const std::string& sql);
// PQexecParams with text parameters: the extended protocol.
QueryResult pgExecParams(PGconn* conn, const std::string& sql, const std::vector<std::string>& params);

// psql and pgbench from PATH, with `env` added, stdin from `input`.
using EnvVars = std::vector<std::pair<std::string, std::string>>;
Result<devtools::RunResult> runPsql(const std::vector<std::string>& args, const EnvVars& env,
                                    const std::string& input = {},
                                    std::chrono::milliseconds timeout = std::chrono::seconds(60));
Result<devtools::RunResult> runPgbench(const std::vector<std::string>& args, const EnvVars& env,
                                       std::chrono::milliseconds timeout = std::chrono::seconds(120));

// The figures pgbench prints at the end of a run.
struct PgbenchSummary {
  std::optional<long> processed;  // "number of transactions actually processed: N"
  std::optional<long> failed;     // "number of failed transactions: N (x%)"
  std::optional<double> tps;      // "tps = X (without initial connection time)"
  std::optional<double> latency_ms;  // "latency average = X ms"
};
PgbenchSummary parsePgbench(const std::string& output);

}  // namespace gatehouse::testing
