// The indexer: copies events from the append-only logs into the store, so that `gatehouse sessions` and
// `gatehouse audit` can query them. The logs stay the source of truth; the store's per-file offsets say how far
// each has been applied, and move in the same transaction as the rows, so a crash neither loses nor repeats.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>

#include "core/result.h"
#include "store/store.h"

namespace gatehouse::recording {

class Indexer {
 public:
  Indexer(store::Store& store, std::filesystem::path dir) : store_(store), dir_(std::move(dir)) {}

  // Reads every log file in the directory from its stored offset and applies the complete lines, in batches.
  // A partial last line (still being written) is left for a later call; a corrupt line is skipped, logged and
  // counted. Returns the number of events applied. A missing directory holds no events.
  Result<size_t> catchUp();

  // Corrupt lines skipped by this indexer so far.
  uint64_t corruptLines() const { return corrupt_lines_.load(std::memory_order_relaxed); }

 private:
  Result<size_t> indexFile(const std::filesystem::path& file);

  store::Store& store_;
  std::filesystem::path dir_;
  std::mutex mu_;                          // one catchUp at a time per indexer
  std::map<std::string, uint64_t> known_;  // offsets known indexed, to skip unchanged files without a query
  std::atomic<uint64_t> corrupt_lines_{0};
};

// Calls catchUp every `period` until `stop` is requested, then once more so that a clean shutdown leaves
// nothing unindexed. Errors are logged (once per failure streak) and retried on the next period.
void runIndexerLoop(Indexer& indexer, std::stop_token stop, std::chrono::milliseconds period);

}  // namespace gatehouse::recording
