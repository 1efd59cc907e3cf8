// SQL analysis: PostgreSQL's own parser (libpg_query) turns a query string into parse trees, and this walks them
// into StatementFacts, one per statement of a multi-statement string. Pure: no I/O, no state; safe on any thread
// (libpg_query keeps its memory per thread).
#pragma once

#include <string_view>
#include <vector>

#include "core/result.h"
#include "inspect/sql/facts.h"

namespace gatehouse::inspect::sql {

// The facts of each statement in `sql`, in order. An empty string (or only comments) has none. A string the
// parser refuses is an error carrying the parser's message and position: the caller denies it (fail closed).
Result<std::vector<StatementFacts>> analyze(std::string_view sql);

}  // namespace gatehouse::inspect::sql
