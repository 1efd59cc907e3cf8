// Lineage, for data masking: which relation columns each value a statement returns (or stores, or sends away)
// derives from, whatever the query does to it on the way (aliases, expressions, subqueries, CTEs, set
// operations, row-to-JSON...). It over-approximates: where the parse tree alone cannot tell (an unqualified
// column with two tables in scope), every candidate counts.
#pragma once

#include <boost/json/fwd.hpp>

#include "inspect/sql/facts.h"

namespace gatehouse::inspect::sql {

// Fills the lineage fields of `facts` (outputs, outputs_ambiguous, reads, writes_from, cursor_name, copy)
// from one statement's parse tree in libpg_query's JSON form (the value of a RawStmt's "stmt"). Pure: no I/O.
void addLineage(const boost::json::value& stmt, StatementFacts& facts);

}  // namespace gatehouse::inspect::sql
