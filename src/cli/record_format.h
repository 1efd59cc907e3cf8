// Text helpers for the record commands: times, durations, sizes, terminal-safe cells and aligned tables.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time_format.h"

namespace gatehouse::cli {

using core::isoUtc;
// "2024-05-01", "2024-05-01T12:00[:00][Z]" (UTC), or an age before now_us: "<n>s", "<n>m", "<n>h", "<n>d".
Result<int64_t> parseSince(std::string_view text, int64_t now_us);
// 850us, 12.3ms, 4.20s, 3m05s, 2h07m
std::string humanDuration(int64_t us);
// 512B, 1.2KiB, 3.4MiB …
std::string humanBytes(uint64_t n);

// Makes untrusted text (SQL, user names, error messages) safe and compact for one table cell: whitespace runs
// become one space, control characters (which could drive the terminal) become '?', and text longer than
// `width` code points (0: no limit) is cut with an ellipsis.
std::string cell(std::string_view text, size_t width = 0);

// Columns padded to their widest cell (counted in code points); the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : rows_{std::move(headers)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace gatehouse::cli
