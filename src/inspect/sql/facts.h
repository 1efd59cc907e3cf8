// What a SQL statement really does, as the guardrails see it: the operations it performs (with their target
// relations), the functions it calls, and the conditions a policy cares about (a DELETE without WHERE, COPY TO
// PROGRAM...). Built from PostgreSQL's own parser (libpg_query), never from patterns over the text.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::inspect::sql {

// The kinds of operation a statement performs. A statement may perform several: `WITH d AS (DELETE ...) SELECT`
// is a delete and a select; `SELECT ... INTO t` a select and a create; `EXPLAIN ANALYZE UPDATE` an explain and an
// update (ANALYZE runs it).
enum class Kind : uint8_t {
  kSelect,       // reads (SELECT, and the reads of any other statement: FROM/USING lists, subqueries)
  kInsert,
  kUpdate,
  kDelete,
  kMerge,
  kTruncate,
  kCreate,       // object: table, view, index, function, procedure, schema, database, role, extension, ...
  kAlter,        // object as for create; ALTER SYSTEM is object "system"
  kDrop,         // object as for create
  kGrant,        // object: table, schema, function, ..., or "role" for GRANT role TO role
  kRevoke,
  kCopy,         // COPY in either direction (the conditions say which, and whether to a program or file); also
                 // an insert (COPY t FROM) or a select (COPY t TO) of its table
  kSet,          // SET / SET LOCAL of a setting (not role or session authorization)
  kReset,        // RESET
  kShow,
  kSetRole,      // SET [LOCAL] ROLE, SET SESSION AUTHORIZATION (RESET ROLE is a reset: back to the login role)
  kProcedural,   // DO blocks; CREATE FUNCTION/PROCEDURE bodies (also a create); CALL (also a call)
  kTransaction,  // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION, ...
  kCall,
  kExplain,
  kPrepare,
  kExecute,
  kDeallocate,
  kMaintenance,  // VACUUM, ANALYZE, REINDEX, CLUSTER, CHECKPOINT, REFRESH MATERIALIZED VIEW
  kLock,
  kListen,       // LISTEN, UNLISTEN
  kNotify,
  kDiscard,
  kComment,      // COMMENT ON, SECURITY LABEL
  kCursor,       // DECLARE (its query is judged too), FETCH, MOVE, CLOSE
  kLoad,         // LOAD 'library'
  kOther,        // any other utility statement
};

std::string_view kindName(Kind k);
// "select", "drop", "set_role"... as in kindName; nullopt for an unknown name.
std::optional<Kind> kindFromName(std::string_view name);

// Conditions a policy may name.
enum class Condition : uint8_t {
  kUpdateWithoutWhere,  // no WHERE, or one that names no column (WHERE true, WHERE 1 = 1)
  kDeleteWithoutWhere,
  kDropDatabase,
  kAlterSystem,
  kCopyToProgram,
  kCopyFromProgram,
  kCopyToFile,          // a server-side file
  kCopyFromFile,
  kDataModifyingCte,    // WITH ... AS (INSERT|UPDATE|DELETE|MERGE ...)
  kSelectInto,
  kExplainAnalyze,      // EXPLAIN ANALYZE: the statement runs
};

std::string_view conditionName(Condition c);
std::optional<Condition> conditionFromName(std::string_view name);

struct Operation {
  Kind kind = Kind::kOther;
  std::string object;                  // for create/alter/drop/grant/revoke/comment: "table", "database", ...
  std::vector<std::string> relations;  // as written: "schema.name" or "name" (the parser's identifiers)
  bool operator==(const Operation&) const = default;
};

// How a statement changes the session's search_path, which decides the schema of unqualified names.
enum class SearchPathChange : uint8_t {
  kNone,
  kSet,      // SET search_path = a, b (the new path in StatementFacts::search_path)
  kReset,    // back to the default: RESET search_path, SET ... TO DEFAULT, RESET ALL, DISCARD ALL
  kUnknown,  // changed in a way the gateway cannot follow: SET LOCAL, set_config(...)
};

// Where a value comes from: a column of a relation named in the statement.
struct ColumnSource {
  std::string relation;  // as written after resolving aliases and CTE/subquery names to base relations: "schema.name" or "name"
  std::string column;    // a column name, or "*": every column of the relation (a whole-row reference such as row_to_json(c), c.*)
  auto operator<=>(const ColumnSource&) const = default;
};

struct OutputColumn {
  // Every relation column this output's value derives from (deduplicated, sorted).
  std::vector<ColumnSource> sources;
  // An unexpanded `*` / `t.*` over base relations, whose columns the text does not list: it stands for zero or more
  // output columns. `sources` then hold (relation, "*") for each relation it expands (each output column derives
  // from that relation's column of the same name), plus concrete sources that apply to all of them (e.g. the
  // arguments of a set-returning function in FROM).
  bool star = false;
  bool operator==(const OutputColumn&) const = default;
};

enum class CopyFormat : uint8_t { kText, kCsv, kBinary };
struct CopyOptions {
  bool from = false;           // COPY ... FROM (else TO)
  bool stdio = true;           // STDIN/STDOUT (false: a server file or program)
  CopyFormat format = CopyFormat::kText;
  char delimiter = '\t';       // text default '\t', csv default ','
  std::string null_string;     // text default "\\N", csv default ""
  char quote = '"';            // csv
  char escape = '"';           // csv (defaults to quote)
  bool header = false;
  bool operator==(const CopyOptions&) const = default;
};

struct StatementFacts {
  std::string text;                     // this statement's own text, from a multi-statement string
  std::vector<Operation> operations;    // at least one
  std::vector<std::string> functions;   // called anywhere in it, as written: "name" or "schema.name"
  std::vector<Condition> conditions;
  std::string prepared_name;            // PREPARE name / EXECUTE name / DEALLOCATE name
  bool forgets_all_prepared = false;    // DEALLOCATE ALL, DISCARD ALL
  SearchPathChange search_path_change = SearchPathChange::kNone;
  std::vector<std::string> search_path;  // for kSet
  std::vector<OutputColumn> outputs;  // the columns of the rows the statement returns, in order (see below)
  bool outputs_ambiguous = false;     // output positions cannot be told apart (e.g. a `*` inside one branch of a UNION): any output column may derive from any source in `outputs`
  std::vector<ColumnSource> reads;        // every column the statement references anywhere (WHERE, JOIN, GROUP BY, ORDER BY, subqueries...), resolved like outputs
  std::vector<ColumnSource> writes_from;  // sources of values the statement stores or sends elsewhere than its result (below)
  std::string cursor_name;            // DECLARE name / FETCH / MOVE / CLOSE name
  std::optional<CopyOptions> copy;    // for COPY
  bool has(Condition c) const;
  bool performs(Kind k) const;
};

}  // namespace gatehouse::inspect::sql
