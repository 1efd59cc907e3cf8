// How much CPU the recording indexer spends per statement it copies from the event log into the SQLite store.
// The gateway's indexer thread shares the cores with the data path, so its cost per statement is taken out of
// the proxy's throughput under load.
//
// Each iteration writes the events of N concurrent sessions x M statements (pgbench-like SQL, the sessions'
// events interleaved as the gateway's coroutines would write them) to a fresh log in a fresh temporary directory,
// then times Indexer::catchUp into a fresh store:
// - Backlog: one catchUp over the whole log (a restart, or `gatehouse audit` after a busy period).
// - Live: the log grows in slices and catchUp runs after each (the server's loop every 500 ms); a statement's
//   start and finish may land in different passes.
// Counters: cpu_us_per_stmt (the indexing thread's CPU, user + system), wall_us_per_stmt (adds the fsync waits),
// events_per_s (events indexed per wall-clock second: the indexer's ceiling when it has a core to itself).
// Set TMPDIR to put the store and log on the disk being measured.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "recording/event_log.h"
#include "recording/events.h"
#include "recording/indexer.h"
#include "store/sqlite_store.h"

namespace gatehouse::bench {
namespace {

using recording::Event;

enum class Workload { kSelectOnly = 0, kTpcb = 1 };

// pgbench's scale 10: 1,000,000 accounts, 100 tellers, 10 branches.
constexpr int kAccounts = 1'000'000;
constexpr int kTellers = 100;
constexpr int kBranches = 10;
constexpr int64_t kStartUs = 1'700'000'000'000'000;

// One statement's events, as pgbench's scripts produce them (simple protocol, literal values).
struct Statement {
  std::string sql;
  std::string tag;
  int64_t rows = 0;
};

class StatementSource {
 public:
  StatementSource(Workload w, uint32_t seed) : workload_(w), rng_(seed) {}

  Statement next() {
    if (workload_ == Workload::kSelectOnly) {
      return {"SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(account()) + ";", "SELECT 1", 1};
    }
    // TPC-B-like: BEGIN, 3 updates, a select, an insert, END.
    const int step = step_++ % 7;
    if (step == 0) {
      aid_ = account();
      tid_ = pick(kTellers);
      bid_ = pick(kBranches);
      delta_ = static_cast<int>(rng_() % 10001) - 5000;
    }
    const std::string d = std::to_string(delta_);
    switch (step) {
      case 0: return {"BEGIN;", "BEGIN", 0};
      case 1: return {"UPDATE pgbench_accounts SET abalance = abalance + " + d + " WHERE aid = " +
                          std::to_string(aid_) + ";", "UPDATE 1", 1};
      case 2: return {"SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(aid_) + ";",
                      "SELECT 1", 1};
      case 3: return {"UPDATE pgbench_tellers SET tbalance = tbalance + " + d + " WHERE tid = " +
                          std::to_string(tid_) + ";", "UPDATE 1", 1};
      case 4: return {"UPDATE pgbench_branches SET bbalance = bbalance + " + d + " WHERE bid = " +
                          std::to_string(bid_) + ";", "UPDATE 1", 1};
      case 5: return {"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (" + std::to_string(tid_) +
                          ", " + std::to_string(bid_) + ", " + std::to_string(aid_) + ", " + d +
                          ", CURRENT_TIMESTAMP);", "INSERT 0 1", 1};
      default: return {"END;", "COMMIT", 0};
    }
  }

 private:
  int pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)) + 1; }
  int account() { return pick(kAccounts); }

  Workload workload_;
  std::mt19937 rng_;
  int step_ = 0;
  int aid_ = 0, tid_ = 0, bid_ = 0, delta_ = 0;
};

// The log a run of `sessions` clients x `statements` statements each leaves behind, cut into slices of about
// `slice_statements` statements (the whole log in one slice when 0).
struct Log {
  std::vector<std::string> slices;
  size_t events = 0;
  size_t statements = 0;
};

Log makeLog(int sessions, int statements, Workload workload, size_t slice_statements) {
  struct Client {
    std::string id;
    StatementSource source;
    int next_seq = 1;
    bool running = false;
    int64_t now_us = kStartUs;
  };
  std::mt19937 order(7);
  std::vector<Client> clients;
  Log log;
  log.slices.emplace_back();
  auto emit = [&](const Event& e) {
    recording::appendEvent(e, log.slices.back());
    ++log.events;
  };
  for (int s = 0; s < sessions; ++s) {
    // Session ids as the gateway makes them: "ses_" and 24 random hex digits.
    char id[32];
    std::snprintf(id, sizeof id, "ses_%08x%08x%08x", static_cast<unsigned>(order()), static_cast<unsigned>(order()),
                  static_cast<unsigned>(s));
    clients.push_back({id, StatementSource(workload, static_cast<uint32_t>(s) + 1)});
    emit(recording::SessionOpened{.session_id = id, .user = "bench", .connection = "pgbench",
                                  .client_addr = "127.0.0.1:" + std::to_string(40000 + s),
                                  .started_at_us = kStartUs, .tls = false});
  }
  size_t in_slice = 0;
  std::vector<size_t> open(clients.size());
  for (size_t i = 0; i < open.size(); ++i) {
    open[i] = i;
  }
  // Whichever client's event comes next is random, as with real concurrent sessions, so that a statement's start
  // and finish are usually a few events apart and sometimes straddle a slice boundary.
  std::vector<Statement> pending(clients.size());
  while (!open.empty()) {
    const size_t k = order() % open.size();
    Client& c = clients[open[k]];
    Statement& stmt = pending[open[k]];
    if (!c.running) {
      stmt = c.source.next();
      emit(recording::StatementStarted{.session_id = c.id, .seq = static_cast<uint64_t>(c.next_seq),
                                       .user = "bench", .connection = "pgbench",
                                       .client_addr = "127.0.0.1:" + std::to_string(40000 + open[k]),
                                       .protocol = "simple", .sql = stmt.sql, .started_at_us = c.now_us});
      c.running = true;
      continue;
    }
    const int64_t duration = 80 + static_cast<int64_t>(order() % 400);
    emit(recording::StatementFinished{.session_id = c.id, .seq = static_cast<uint64_t>(c.next_seq),
                                      .duration_us = duration, .tag = stmt.tag, .sqlstate = "",
                                      .error_message = "", .rows = stmt.rows});
    c.now_us += duration + 20;
    c.running = false;
    ++c.next_seq;
    ++log.statements;
    if (c.next_seq > statements) {
      emit(recording::SessionClosed{.session_id = c.id, .ended_at_us = c.now_us, .reason = "client closed",
                                    .bytes_from_client = 100, .bytes_from_server = 200});
      open.erase(open.begin() + static_cast<std::ptrdiff_t>(k));
    }
    if (slice_statements != 0 && ++in_slice == slice_statements) {
      in_slice = 0;
      log.slices.emplace_back();
    }
  }
  return log;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "gatehouse-indexer-bench-XXXXXX").string();
    if (::mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

double threadCpuSeconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Args: sessions, statements per session, workload, statements per catchUp pass (0: one pass).
void BM_IndexerCatchUp(benchmark::State& state) {
  const auto workload = static_cast<Workload>(state.range(2));
  const Log log = makeLog(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)), workload,
                          static_cast<size_t>(state.range(3)));
  double cpu_s = 0;
  double wall_s = 0;
  size_t statements = 0;
  size_t events = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto dir = std::make_unique<TempDir>();
    auto store = store::openSqliteStore(dir->path() / "gatehouse.db");
    auto writer = recording::EventLog::open(dir->path() / "recordings", "w0");
    if (dir->path().empty() || !store || !writer) {
      state.SkipWithError("cannot set up a store and a log in the temporary directory");
      break;
    }
    recording::Indexer indexer(**store, dir->path() / "recordings");
    size_t applied = 0;
    for (const auto& slice : log.slices) {
      if (!(*writer)->append(slice)) {
        state.SkipWithError("cannot write the event log");
        break;
      }
      state.ResumeTiming();
      const double cpu0 = threadCpuSeconds();
      const auto wall0 = std::chrono::steady_clock::now();
      auto n = indexer.catchUp();
      wall_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
      cpu_s += threadCpuSeconds() - cpu0;
      state.PauseTiming();
      if (!n) {
        state.SkipWithError(n.error().message.c_str());
        break;
      }
      applied += *n;
    }
    if (applied != log.events) {
      state.SkipWithError("the indexer applied a different number of events than were written");
    }
    statements += log.statements;
    events += log.events;
    // Removing the directory (and SQLite's WAL checkpoint at close) is not the indexer's per-statement work.
    writer->reset();
    store->reset();
    dir.reset();
    state.ResumeTiming();
  }
  if (statements > 0) {
    state.counters["cpu_us_per_stmt"] = cpu_s * 1e6 / static_cast<double>(statements);
    state.counters["wall_us_per_stmt"] = wall_s * 1e6 / static_cast<double>(statements);
    state.counters["events_per_s"] = static_cast<double>(events) / wall_s;
  }
}

// 8 clients as in bench/pgbench (-c 8). Live passes of 7,500 statements: the server's 500 ms loop at 15k
// statements/s; 500: a lightly loaded gateway, where the per-pass overhead shows.
BENCHMARK(BM_IndexerCatchUp)
    ->ArgNames({"sessions", "stmts", "tpcb", "pass"})
    ->Args({8, 10000, 0, 0})
    ->Args({8, 10000, 0, 7500})
    ->Args({8, 10000, 0, 500})
    ->Args({8, 10000, 1, 7500})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace
}  // namespace gatehouse::bench

BENCHMARK_MAIN();
