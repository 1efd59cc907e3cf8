// What recording costs on the data path, per statement: the gateway turns each statement into two event lines
// (its start before it is forwarded, its end before its result is) and appends them to the worker's event log.
// Both steps run on the worker thread for every statement, so their cost is taken straight out of the proxy's
// throughput.
// - Format: StatementStarted + StatementFinished serialized into the session's batch (JSON, escaping, CRC-32),
//   through the generic appendEvent (building the Event values first) and through the session's
//   StatementEventWriter (what the gateway runs).
// - Append: the batch copied into the mapped log segment (including the segment's page faults and rotation).
// Counter: ns_per_stmt. Set TMPDIR to put the log on the disk being measured.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "recording/event_log.h"
#include "recording/events.h"

namespace gatehouse::bench {
namespace {

recording::StatementStarted start(uint64_t seq) {
  return {.session_id = "ses_3f9a0c1d2e4b5a6978877665", .seq = seq, .user = "alice@example.com",
          .connection = "pg-prod", .client_addr = "10.1.2.3:53412", .protocol = "simple",
          .sql = "SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(seq * 7919 % 1000000) + ";",
          .started_at_us = 1'700'000'000'000'000 + static_cast<int64_t>(seq) * 40};
}

recording::StatementFinished finish(uint64_t seq) {
  return {.session_id = "ses_3f9a0c1d2e4b5a6978877665", .seq = seq, .duration_us = 37, .tag = "SELECT 1",
          .sqlstate = "", .error_message = "", .rows = 1};
}

void BM_FormatStatement(benchmark::State& state) {
  std::string batch;
  batch.reserve(4096);
  uint64_t seq = 0;
  for (auto _ : state) {
    batch.clear();
    ++seq;
    recording::appendEvent(start(seq), batch);
    recording::appendEvent(finish(seq), batch);
    benchmark::DoNotOptimize(batch.data());
  }
  state.counters["ns_per_stmt"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate |
                                                                      benchmark::Counter::kInvert);
  state.counters["bytes_per_stmt"] = static_cast<double>(batch.size());
}
BENCHMARK(BM_FormatStatement);

// The same two lines through the session's StatementEventWriter, as the gateway writes them.
void BM_FormatStatementForSession(benchmark::State& state) {
  const recording::StatementEventWriter writer("ses_3f9a0c1d2e4b5a6978877665", "alice@example.com", "pg-prod",
                                               "10.1.2.3:53412");
  std::string batch;
  batch.reserve(4096);
  uint64_t seq = 0;
  for (auto _ : state) {
    batch.clear();
    ++seq;
    const std::string sql =
        "SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(seq * 7919 % 1000000) + ";";
    writer.started(seq, "simple", sql, 1'700'000'000'000'000 + static_cast<int64_t>(seq) * 40, batch);
    writer.finished(seq, 37, "SELECT 1", "", "", 1, batch);
    benchmark::DoNotOptimize(batch.data());
  }
  state.counters["ns_per_stmt"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate |
                                                                      benchmark::Counter::kInvert);
  state.counters["bytes_per_stmt"] = static_cast<double>(batch.size());
}
BENCHMARK(BM_FormatStatementForSession);

void BM_AppendStatement(benchmark::State& state) {
  const char* tmpdir = ::getenv("TMPDIR");
  std::string pattern = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/gatehouse-bench-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    state.SkipWithError("cannot create a temporary directory");
    return;
  }
  const std::filesystem::path dir = pattern;
  {
    auto log = recording::EventLog::open(dir, "w0");
    if (!log) {
      state.SkipWithError(log.error().message.c_str());
    } else {
      std::string batch;
      recording::appendEvent(start(1), batch);
      recording::appendEvent(finish(1), batch);
      for (auto _ : state) {
        if (!(*log)->append(batch)) {
          state.SkipWithError("append failed");
          break;
        }
      }
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  state.counters["ns_per_stmt"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate |
                                                                      benchmark::Counter::kInvert);
}
BENCHMARK(BM_AppendStatement);

}  // namespace
}  // namespace gatehouse::bench

BENCHMARK_MAIN();
