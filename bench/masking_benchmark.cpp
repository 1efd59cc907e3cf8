// Content detection throughput: the built-in detectors (one Vectorscan database) over text without sensitive
// values, in one block and as many short values (result rows), in bytes per second per core. Issue target:
// at least 1 GB/s per core on text without matches.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "masking/detectors.h"

namespace gatehouse::bench {
namespace {

// Words, numbers and punctuation like a table's text columns, with nothing sensitive in them.
std::string sampleText(std::size_t bytes) {
  static const char* kWords[] = {"order", "shipped", "the", "customer", "asked", "about", "status", "delivery",
                                 "product", "review", "great", "quality", "return", "window", "price", "total"};
  std::mt19937 rng(7);
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

}  // namespace
}  // namespace gatehouse::bench

BENCHMARK_MAIN();
