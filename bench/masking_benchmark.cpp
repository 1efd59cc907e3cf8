// Content detection throughput: the built-in detectors over text, in one block, as many short values scanned one by
// one, and as DataRow-like batches of fields scanned together, in bytes per second on one core. Issue target: at
// least 1 GB/s per core on text without matches. And a whole result through a session's masker, as the relay
// hands it over: the gateway's masking cost per row, which bench/masking measures end to end.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/session_masker.h"
#include "masking/detectors.h"
#include "protocols/postgres/codec.h"

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

// bench/masking's table and policy: customers(id, name, email, phone, card_number, ssn, notes), email as a token,
// phone and card partial, ssn redacted, every built-in detector on every other text value; a tenth of the notes
// hold a card number or an email. One buffer holds RowDescription, the rows, CommandComplete and ReadyForQuery; the
// masker sees each message with the bytes after it, as the relay gives them.
void BM_MaskResult(benchmark::State& state) {
  constexpr uint32_t kCustomers = 16384;
  constexpr uint32_t kText = 25, kInt4 = 23;
  auto rule = [](std::string name, std::vector<std::string> columns, std::vector<std::string> detectors,
                 std::string style, int keep) {
    core::MaskingRuleConfig r;
    r.where = "bench";
    r.name = std::move(name);
    r.columns = std::move(columns);
    r.detectors = std::move(detectors);
    r.style = std::move(style);
    r.keep = keep;
    return r;
  };
  core::MaskingConfig config;
  config.where = "bench";
  config.rules.push_back(rule("customer-email", {"customers.email"}, {}, "token", 4));
  config.rules.push_back(rule("customer-phone", {"customers.phone"}, {}, "partial", 2));
  config.rules.push_back(rule("customer-card", {"customers.card_number"}, {}, "partial", 4));
  config.rules.push_back(rule("customer-ssn", {"customers.ssn"}, {}, "redact", 4));
  config.rules.push_back(rule("sensitive-content", {}, {"builtin"}, "redact", 4));
  auto policy = masking::Policy::compile(config, std::string(32, 'K'));
  if (!policy) {
    state.SkipWithError(policy.error().message.c_str());
    return;
  }
  const std::vector<bool> active((*policy)->rules().size(), true);
  std::vector<masking::CatalogColumn> catalog;
  std::vector<pg::FieldDescription> fields;
  int16_t n = 0;
  for (const char* c : {"id", "name", "email", "phone", "card_number", "ssn", "notes"}) {
    catalog.push_back(masking::CatalogColumn{kCustomers, ++n, "public", "customers", c});
    pg::FieldDescription f;
    f.name = c;
    f.table_oid = kCustomers;
    f.column = n;
    f.type_oid = n == 1 ? kInt4 : kText;
    f.type_size = n == 1 ? 4 : -1;
    f.type_modifier = -1;
    fields.push_back(f);
  }

  const auto rows = static_cast<int>(state.range(0));
  std::string result;
  pg::encode(pg::BackendMessage{pg::RowDescription{fields}}, result);
  for (int i = 1; i <= rows; ++i) {
    const auto s = std::to_string(i);
    const auto four = std::string(4 - std::min<std::size_t>(4, std::to_string(i % 10000).size()), '0') +
                      std::to_string(i % 10000);
    const std::string notes = i % 20 == 0    ? "pay with 4242 4242 4242 4242 next time"
                              : i % 20 == 10 ? "also at other" + s + "@example.org"
                                             : "ordered the usual, shipped on time, no complaints";
    pg::encode(pg::BackendMessage{pg::DataRow{{s, "Person " + s, "person" + s + "@example.com", "+1-555-" + four,
                                               "4111 1111 1111 1111", std::to_string(100 + i % 800) + "-45-" + four,
                                               notes}}},
               result);
  }
  pg::encode(pg::BackendMessage{pg::CommandComplete{"SELECT " + std::to_string(rows)}}, result);
  pg::encode(pg::BackendMessage{pg::ReadyForQuery{'I'}}, result);
  std::string query;
  pg::encode(pg::FrontendMessage{pg::Query{"SELECT * FROM customers"}}, query);

  gateway::SessionMasker masker(*policy, active, masking::ProtectedColumns(**policy, active, catalog, {}));
  std::string replacement;
  std::size_t out_bytes = 0;
  for (auto _ : state) {
    if (!masker.onFrontend('Q', std::string_view(query).substr(5)).empty()) {
      state.SkipWithError("the query was refused");
      return;
    }
    out_bytes = 0;
    for (std::size_t at = 0; at < result.size();) {
      const std::string_view all(result);
      const uint32_t len = (static_cast<uint32_t>(static_cast<unsigned char>(all[at + 1])) << 24) |
                           (static_cast<uint32_t>(static_cast<unsigned char>(all[at + 2])) << 16) |
                           (static_cast<uint32_t>(static_cast<unsigned char>(all[at + 3])) << 8) |
                           static_cast<uint32_t>(static_cast<unsigned char>(all[at + 4]));
      const std::size_t size = len + 1;
      if (masker.onBackend(all[at], all.substr(at + 5, len - 4), replacement, all.substr(at + size))) out_bytes += replacement.size();
      else out_bytes += size;
      at += size;
    }
    masker.endOfInput();
    masker.takeCounts();
  }
  benchmark::DoNotOptimize(out_bytes);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * rows);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * result.size()));
}
BENCHMARK(BM_MaskResult)->ArgName("rows")->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace gatehouse::bench

BENCHMARK_MAIN();
