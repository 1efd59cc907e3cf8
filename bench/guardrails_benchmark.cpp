// What the SQL guardrails cost per statement on the data path: parsing (PostgreSQL's parser through
// libpg_query, then the walk into facts), the per-worker cache that spares most of it, and judging against a
// policy like the demo's. Every Query and Parse pays one lookup (or one parse) and one judgement.
// - Analyze: a full parse of a statement every time (the cache cold or bypassed).
// - Cached: the statements of a pgbench run, each with new literal values, through the cache (a hit after the
//   first of each shape: the key scan, a hash lookup).
// - ShapeKey: the key scan alone.
// - Judge: the verdict for one analyzed statement under the demo-like policy.
// One iteration is one statement: the Time column is the cost per statement (BM_MakeStatement is the part
// that builds the statement's text, included in the others).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "inspect/sql/analyzer.h"
#include "inspect/sql/facts_cache.h"
#include "policy/guardrails.h"

namespace gatehouse::bench {
namespace {

using inspect::sql::Condition;
using inspect::sql::Kind;

// pgbench's statements (select-only, then TPC-B-like), literals varying with `i`.
std::string statement(int workload, int i) {
  const std::string aid = std::to_string(i * 7919 % 1000000 + 1);
  const std::string tid = std::to_string(i % 100 + 1);
  const std::string bid = std::to_string(i % 10 + 1);
  const std::string delta = std::to_string(i % 10000 - 5000);
  if (workload == 0) return "SELECT abalance FROM pgbench_accounts WHERE aid = " + aid + ";";
  switch (i % 7) {
    case 0: return "BEGIN;";
    case 1: return "UPDATE pgbench_accounts SET abalance = abalance + " + delta + " WHERE aid = " + aid + ";";
    case 2: return "SELECT abalance FROM pgbench_accounts WHERE aid = " + aid + ";";
    case 3: return "UPDATE pgbench_tellers SET tbalance = tbalance + " + delta + " WHERE tid = " + tid + ";";
    case 4: return "UPDATE pgbench_branches SET bbalance = bbalance + " + delta + " WHERE bid = " + bid + ";";
    case 5:
      return "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (" + tid + ", " + bid + ", " + aid +
             ", " + delta + ", CURRENT_TIMESTAMP);";
    default: return "END;";
  }
}

policy::Guardrails demoPolicy() {
  policy::Guardrails g;
  auto add = [&](std::string name, policy::Action a) -> policy::GuardrailRule& {
    g.rules.push_back(policy::GuardrailRule{});
    g.rules.back().name = std::move(name);
    g.rules.back().action = a;
    return g.rules.back();
  };
  add("deny-drop", policy::Action::kDeny).kinds = {{Kind::kDrop, ""}};
  add("deny-truncate", policy::Action::kDeny).kinds = {{Kind::kTruncate, ""}};
  add("deny-alter-system", policy::Action::kDeny).conditions = {Condition::kAlterSystem};
  add("deny-copy-program", policy::Action::kDeny).conditions = {Condition::kCopyToProgram,
                                                                 Condition::kCopyFromProgram};
  add("deny-set-role", policy::Action::kDeny).kinds = {{Kind::kSetRole, ""}};
  add("deny-procedural", policy::Action::kDeny).kinds = {{Kind::kProcedural, ""}};
  add("deny-functions", policy::Action::kDeny).functions = {
      "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "lo_import", "lo_export", "pg_terminate_backend",
      "pg_cancel_backend", "dblink*"};
  add("review-unfiltered-writes", policy::Action::kReview).conditions = {Condition::kUpdateWithoutWhere,
                                                                         Condition::kDeleteWithoutWhere};
  return g;
}

void BM_Analyze(benchmark::State& state) {
  const int workload = static_cast<int>(state.range(0));
  int i = 0;
  for (auto _ : state) {
    auto f = inspect::sql::analyze(statement(workload, i++));
    benchmark::DoNotOptimize(f);
  }
}
BENCHMARK(BM_Analyze)->ArgName("tpcb")->Arg(0)->Arg(1);

void BM_Cached(benchmark::State& state) {
  const int workload = static_cast<int>(state.range(0));
  inspect::sql::FactsCache cache;
  int i = 0;
  for (auto _ : state) {
    auto f = cache.analyze(statement(workload, i++));
    benchmark::DoNotOptimize(f);
  }
}
BENCHMARK(BM_Cached)->ArgName("tpcb")->Arg(0)->Arg(1);

void BM_ShapeKey(benchmark::State& state) {
  const int workload = static_cast<int>(state.range(0));
  int i = 0;
  for (auto _ : state) {
    auto k = inspect::sql::shapeKey(statement(workload, i++));
    benchmark::DoNotOptimize(k);
  }
}
BENCHMARK(BM_ShapeKey)->ArgName("tpcb")->Arg(0)->Arg(1);

void BM_Judge(benchmark::State& state) {
  const int workload = static_cast<int>(state.range(0));
  const auto policy = demoPolicy();
  std::vector<inspect::sql::FactsList> facts;
  for (int i = 0; i < 7; ++i) facts.push_back(*inspect::sql::analyze(statement(workload, i)));
  const std::vector<std::string> groups{"dev"};
  const std::vector<std::string> path{"app", "public"};
  int i = 0;
  for (auto _ : state) {
    auto v = policy::judge(policy, facts[static_cast<std::size_t>(i++ % 7)], groups, path);
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_Judge)->ArgName("tpcb")->Arg(0)->Arg(1);

// The statement's text, built in every iteration of the benchmarks above: its cost alone.
void BM_MakeStatement(benchmark::State& state) {
  const int workload = static_cast<int>(state.range(0));
  int i = 0;
  for (auto _ : state) {
    auto s = statement(workload, i++);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_MakeStatement)->ArgName("tpcb")->Arg(0)->Arg(1);

}  // namespace
}  // namespace gatehouse::bench

BENCHMARK_MAIN();
