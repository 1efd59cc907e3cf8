// libpq, psql and pgbench helpers for the integration tests.
#include "support/pg_client.h"

#include <poll.h>

#include <regex>

namespace gatehouse::testing {
using namespace std::chrono_literals;

ConnectOutcome pgConnect(const std::string& conninfo, std::chrono::milliseconds timeout) {
  ConnectOutcome out;
  PgConnPtr conn(PQconnectStart(conninfo.c_str()));
  if (!conn) {
    out.message = "PQconnectStart: out of memory";
    return out;
  }
  // Must be set before the first poll: the server's refusal is formatted as it arrives.
  PQsetErrorVerbosity(conn.get(), PQERRORS_VERBOSE);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  PostgresPollingStatusType st = PQstatus(conn.get()) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      out.message = "connection attempt timed out after " + std::to_string(timeout.count()) + " ms";
      return out;
    }
    pollfd pfd{PQsocket(conn.get()), static_cast<short>(st == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    if (pfd.fd >= 0 && ::poll(&pfd, 1, static_cast<int>(left.count())) == 0) continue;
    st = PQconnectPoll(conn.get());
  }
  out.message = PQerrorMessage(conn.get());
  if (st == PGRES_POLLING_OK && PQstatus(conn.get()) == CONNECTION_OK) {
    PQsetErrorVerbosity(conn.get(), PQERRORS_DEFAULT);
    out.conn = std::move(conn);
  } else {
    out.sqlstate = sqlstateFromMessage(out.message);
  }
  return out;
}

std::string sqlstateFromMessage(const std::string& message) {
  // libpq may try twice (sslmode=prefer falls back to plain text); the last attempt's code is what counts.
  static const std::regex kPattern(R"((?:ERROR|FATAL|PANIC):\s+([0-9A-Z]{5}):)");
  std::string found;
  for (auto it = std::sregex_iterator(message.begin(), message.end(), kPattern); it != std::sregex_iterator(); ++it) {
    found = (*it)[1].str();
  }
  return found;
}

std::string sqlstateOf(const PGresult* res) {
  if (res == nullptr) return {};
  const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  return s != nullptr ? s : "";
}

std::string QueryResult::value(size_t row, size_t col) const {
  if (row >= rows.size() || col >= rows[row].size()) return "<missing>";
  return rows[row][col] ? *rows[row][col] : "<null>";
}

QueryResult toQueryResult(const PGresult* res) {
  QueryResult q;
  if (res == nullptr) {
    q.error = "no result (connection lost?)";
    return q;
  }
  q.status = PQresultStatus(res);
  q.sqlstate = sqlstateOf(res);
  if (const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)) q.error = primary;
  else q.error = PQresultErrorMessage(res);
  q.tag = PQcmdStatus(const_cast<PGresult*>(res));
  for (int c = 0; c < PQnfields(res); ++c) q.columns.emplace_back(PQfname(res, c));
  for (int r = 0; r < PQntuples(res); ++r) {
    std::vector<std::optional<std::string>> row;
    for (int c = 0; c < PQnfields(res); ++c) {
      if (PQgetisnull(res, r, c)) row.emplace_back(std::nullopt);
      else row.emplace_back(std::string(PQgetvalue(res, r, c), static_cast<size_t>(PQgetlength(res, r, c))));
    }
    q.rows.push_back(std::move(row));
  }
  return q;
}

QueryResult pgExec(PGconn* conn, const std::string& sql) {
  PgResultPtr res(PQexec(conn, sql.c_str()));
  QueryResult q = toQueryResult(res.get());
  if (!res) q.error = PQerrorMessage(conn);
  return q;
}

std::vector<QueryResult> pgExecAll(PGconn* conn, const std::string& sql) {
  std::vector<QueryResult> out;
  if (!PQsendQuery(conn, sql.c_str())) {
    QueryResult q;
    q.error = PQerrorMessage(conn);
    out.push_back(std::move(q));
    return out;
  }
  while (PGresult* raw = PQgetResult(conn)) {
    PgResultPtr res(raw);
    out.push_back(toQueryResult(res.get()));
  }
  return out;
}

QueryResult pgExecParams(PGconn* conn, const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PgResultPtr res(PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                               nullptr, 0));
  QueryResult q = toQueryResult(res.get());
  if (!res) q.error = PQerrorMessage(conn);
  return q;
}

namespace {

Result<devtools::RunResult> runTool(const std::string& tool, const std::vector<std::string>& args, const EnvVars& env,
                                    const std::string& input, std::chrono::milliseconds timeout) {
  devtools::SpawnOptions spawn;
  spawn.argv = {tool};
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  // A developer's ~/.psqlrc or PG* variables must not change what the tests see.
  spawn.env = {{"PSQLRC", "/dev/null"}, {"PGSERVICEFILE", "/dev/null"}, {"PGSYSCONFDIR", "/nonexistent"},
               {"PGOPTIONS", ""}, {"PGSSLMODE", "prefer"}, {"PGCONNECT_TIMEOUT", "20"}, {"LC_ALL", "C"}};
  spawn.env.insert(spawn.env.end(), env.begin(), env.end());
  return devtools::run(spawn, timeout, input);
}

}  // namespace

Result<devtools::RunResult> runPsql(const std::vector<std::string>& args, const EnvVars& env, const std::string& input,
                                    std::chrono::milliseconds timeout) {
  return runTool("psql", args, env, input, timeout);
}

Result<devtools::RunResult> runPgbench(const std::vector<std::string>& args, const EnvVars& env,
                                       std::chrono::milliseconds timeout) {
  return runTool("pgbench", args, env, {}, timeout);
}

PgbenchSummary parsePgbench(const std::string& output) {
  PgbenchSummary s;
  std::smatch m;
  static const std::regex kProcessed(R"(number of transactions actually processed: (\d+))");
  static const std::regex kFailed(R"(number of failed transactions: (\d+))");
  static const std::regex kTps(R"(tps = ([0-9.]+) \(without initial connection time\))");
  static const std::regex kLatency(R"(latency average = ([0-9.]+) ms)");
  if (std::regex_search(output, m, kProcessed)) s.processed = std::stol(m[1].str());
  if (std::regex_search(output, m, kFailed)) s.failed = std::stol(m[1].str());
  if (std::regex_search(output, m, kTps)) s.tps = std::stod(m[1].str());
  if (std::regex_search(output, m, kLatency)) s.latency_ms = std::stod(m[1].str());
  return s;
}

}  // namespace gatehouse::testing
