// Content detection throughput: the built-in detectors over text, in one block, as many short values scanned one by
// one, and as DataRow-like batches of fields scanned together, in bytes per second on one core. Issue target: at
// least 1 GB/s per core on text without matches.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "masking/detectors.h"

namespace gatehouse::bench {
namespace {

// Words, numbers and punctuation like a table's text columns, with nothing sensitive in them.
std::string sampleText(std::size_t bytes, unsigned seed = 7) {
  static const char* kWords[] = {"order", "shipped", "the", "customer", "asked", "about", "status", "delivery",
                                 "product", "review", "great", "quality", "return", "window", "price", "total"};
  std::mt19937 rng(seed);
  std::string out;
  while (out.size() < bytes) {
    out += kWords[rng() % 16];
    out += (rng() % 5 == 0) ? ", " : " ";
    if (rng() % 7 == 0) out += std::to_string(rng() % 100000) + " ";
  }
  out.resize(bytes);
  return out;
}

std::shared_ptr<const masking::Detectors> detectors() {
  static auto d = *masking::Detectors::compile(masking::builtInDetectors());
  return d;
}

void BM_ScanBlock(benchmark::State& state) {
  const auto d = detectors();
  const std::string text = sampleText(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    auto m = d->scan(text);
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_ScanBlock)->Arg(512)->Arg(8192)->Arg(65536);

// Values of about 40 bytes each, scanned one by one (what scanning each DataRow field separately would cost).
void BM_ScanValues(benchmark::State& state) {
  const auto d = detectors();
  std::vector<std::string> values;
  for (int i = 0; i < 256; ++i) values.push_back(sampleText(40 + static_cast<std::size_t>(i % 8)));
  std::size_t bytes = 0;
  for (const auto& v : values) bytes += v.size();
  for (auto _ : state) {
    for (const auto& v : values) {
      auto m = d->scan(v);
      benchmark::DoNotOptimize(m);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_ScanValues);

// 256 rows of 6 text fields of 10 to 60 bytes, scanned with scanFields `rows` rows at a time (1: a call per DataRow).
// `hits` is the percentage of fields that hold a sensitive value (an email or a card number) instead of plain text.
void BM_ScanDataRowBatch(benchmark::State& state) {
  constexpr std::size_t kRows = 256;
  constexpr std::size_t kFields = 6;
  static const char* kSensitive[] = {"contact jane.doe@example.com", "card 4111 1111 1111 1111 on file",
                                     "billing: ops+billing@mail.example.org", "4012888888881881"};
  const auto rows_per_call = static_cast<std::size_t>(state.range(0));
  const auto d = detectors();
  std::mt19937 rng(11);
  std::vector<std::string> values;
  for (std::size_t i = 0; i < kRows * kFields; ++i) {
    if (static_cast<int64_t>(rng() % 100) < state.range(1)) values.emplace_back(kSensitive[rng() % 4]);
    else values.push_back(sampleText(10 + rng() % 51, static_cast<unsigned>(i)));
  }
  const std::vector<std::string_view> views(values.begin(), values.end());
  std::size_t bytes = 0;
  for (const auto& v : values) bytes += v.size();
  std::vector<masking::FieldMatch> found;
  std::size_t matches = 0;
  for (auto _ : state) {
    matches = 0;
    for (std::size_t r = 0; r < kRows; r += rows_per_call) {
      auto scanned = d->scanFields(std::span(views).subspan(r * kFields, rows_per_call * kFields), found);
      if (!scanned) state.SkipWithError(scanned.error().message.c_str());
      matches += found.size();
    }
    benchmark::DoNotOptimize(matches);
  }
  state.counters["matches"] = static_cast<double>(matches);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_ScanDataRowBatch)->ArgNames({"rows", "hits"})->Args({1, 0})->Args({256, 0})->Args({1, 1})->Args({256, 1});

}  // namespace
}  // namespace gatehouse::bench

BENCHMARK_MAIN();
