// A per-thread cache of analyzed SQL, so that parsing costs once per statement shape rather than once per
// statement: pgbench, ORMs and most applications send the same statements with different literal values.
//
// The key is the text with its number and string literals blanked (`... WHERE aid = 42` and `... aid = 7` share
// one), computed by a small scanner that gives up — and falls back to the exact text as the key — on anything
// it does not fully understand (comments, quoted identifiers, dollar quotes, escapes, non-ASCII...). Blanking is
// safe because no fact the guardrails or masking use depends on a literal's value, with three exceptions that are
// never cached: EXPLAIN options (`ANALYZE 0`), `SET search_path = 'x'` and COPY options (`DELIMITER ';'`). Multi-statement strings are not cached.
// Why not pg_query_normalize: it costs a full lexer pass and allocations (2-4 µs, DESIGN.md), about as much as
// what the cache saves on a short statement; the scanner here costs ~1 ns per byte.
#pragma once

#include <cstddef>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "inspect/sql/facts.h"

namespace gatehouse::inspect::sql {

using FactsList = std::vector<StatementFacts>;

// The cache key of `sql` (see above): "N" + the text with literals blanked, or "X" + the text as it is.
std::string shapeKey(std::string_view sql);

class FactsCache {
 public:
  explicit FactsCache(std::size_t capacity = 4096) : capacity_(capacity) {}

  // The facts of `sql`: from the cache, or analyzed (and kept when that is safe). Parse errors are not cached.
  Result<std::shared_ptr<const FactsList>> analyze(std::string_view sql);

  std::size_t size() const { return index_.size(); }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }

  // The calling thread's cache (sessions on one worker share it; no locks).
  static FactsCache& forThisThread();

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const FactsList> facts;
  };
  std::size_t capacity_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;  // keys point into lru_
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace gatehouse::inspect::sql
