// SQL analysis; see analyzer.h.
//
// libpg_query gives the parse tree as JSON (pg_query_parse): each node is an object with one key, its type
// ("SelectStmt", "RangeVar", "FuncCall"...), whose value holds the node's fields in lower case. The walker below
// visits every node; a few node types are statements or carry what a policy needs (relations, function names,
// WHERE clauses), the rest are only walked through, so that nothing nested anywhere escapes: a function call in
// a DEFAULT, a DELETE in a CTE, a relation in a subquery of an UPDATE's SET list.
// The JSON form is used rather than the protobuf one: it is the faster of the two here (DESIGN.md, calibration),
// and Boost.JSON reads it without a generated schema. Its layout: https://github.com/pganalyze/libpg_query
// (pg_query.proto names every node and field).
#include "inspect/sql/analyzer.h"

#include <pg_query.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "inspect/sql/lineage.h"
#include "inspect/sql/parse_tree.h"

namespace gatehouse::inspect::sql {

namespace json = boost::json;

namespace {

using namespace tree;

constexpr std::array<std::pair<Kind, std::string_view>, 32> kKindNames = {{
    {Kind::kSelect, "select"},       {Kind::kInsert, "insert"},        {Kind::kUpdate, "update"},
    {Kind::kDelete, "delete"},       {Kind::kMerge, "merge"},          {Kind::kTruncate, "truncate"},
    {Kind::kCreate, "create"},       {Kind::kAlter, "alter"},          {Kind::kDrop, "drop"},
    {Kind::kGrant, "grant"},         {Kind::kRevoke, "revoke"},        {Kind::kCopy, "copy"},
    {Kind::kSet, "set"},             {Kind::kReset, "reset"},          {Kind::kShow, "show"},
    {Kind::kSetRole, "set_role"},    {Kind::kProcedural, "procedural"}, {Kind::kTransaction, "transaction"},
    {Kind::kCall, "call"},           {Kind::kExplain, "explain"},      {Kind::kPrepare, "prepare"},
    {Kind::kExecute, "execute"},     {Kind::kDeallocate, "deallocate"}, {Kind::kMaintenance, "maintenance"},
    {Kind::kLock, "lock"},           {Kind::kListen, "listen"},        {Kind::kNotify, "notify"},
    {Kind::kDiscard, "discard"},     {Kind::kComment, "comment"},      {Kind::kCursor, "cursor"},
    {Kind::kLoad, "load"},           {Kind::kOther, "other"},
}};

constexpr std::array<std::pair<Condition, std::string_view>, 11> kConditionNames = {{
    {Condition::kUpdateWithoutWhere, "update_without_where"},
    {Condition::kDeleteWithoutWhere, "delete_without_where"},
    {Condition::kDropDatabase, "drop_database"},
    {Condition::kAlterSystem, "alter_system"},
    {Condition::kCopyToProgram, "copy_to_program"},
    {Condition::kCopyFromProgram, "copy_from_program"},
    {Condition::kCopyToFile, "copy_to_file"},
    {Condition::kCopyFromFile, "copy_from_file"},
    {Condition::kDataModifyingCte, "data_modifying_cte"},
    {Condition::kSelectInto, "select_into"},
    {Condition::kExplainAnalyze, "explain_analyze"},
}};

// A dotted name from a list of String nodes (["s", "t"] -> "s.t").
std::string dotted(const json::array* names) {
  std::string out;
  if (!names) return out;
  for (const auto& n : *names) {
    const auto s = stringNode(n);
    if (s.empty()) continue;
    if (!out.empty()) out += '.';
    out += s;
  }
  return out;
}

std::string rangeVarName(const json::object& rv) {
  std::string name(text(rv, "schemaname"));
  if (!name.empty()) name += '.';
  name += text(rv, "relname");
  return name;
}

// "OBJECT_FOREIGN_TABLE" -> "foreign table".
std::string objectName(std::string_view enum_value) {
  if (enum_value.starts_with("OBJECT_")) enum_value.remove_prefix(7);
  std::string out;
  for (char c : enum_value) out += c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (out == "matview") out = "materialized view";
  return out;
}

// "CreateForeignServerStmt" with prefix "Create" -> "foreign server".
std::string objectFromNodeType(std::string_view type, std::string_view prefix) {
  type.remove_prefix(prefix.size());
  if (type.ends_with("Stmt")) type.remove_suffix(4);
  std::string out;
  for (char c : type) {
    if (std::isupper(static_cast<unsigned char>(c)) && !out.empty()) out += ' ';
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Whether a WHERE clause filters rows at all: one that names no column (WHERE true, WHERE 1 = 1, WHERE $1) keeps
// every row, so it counts as no WHERE. WHERE CURRENT OF names the cursor's one row.
bool filtersRows(const json::value& v) {
  if (const auto* o = v.if_object()) {
    for (const auto& kv : *o) {
      if (kv.key() == "ColumnRef" || kv.key() == "CurrentOfExpr") return true;
      if (filtersRows(kv.value())) return true;
    }
  } else if (const auto* a = v.if_array()) {
    for (const auto& e : *a)
      if (filtersRows(e)) return true;
  }
  return false;
}

class Walker {
 public:
  explicit Walker(StatementFacts& facts) : f_(facts) {}

  void statement(const json::value& stmt) {
    auto [type, body] = node(stmt);
    if (type == "SelectStmt") reads();  // a SELECT is a read even of no relation (SELECT 1, SELECT f())
    visit(stmt);
    if (f_.operations.empty()) push(Kind::kOther);
  }

 private:
  // The statement's read operation (created on first need): the relations it reads besides its targets.
  Operation& reads() {
    if (reads_index_ == kNone) {
      reads_index_ = f_.operations.size();
      f_.operations.push_back(Operation{.kind = Kind::kSelect, .object = {}, .relations = {}});
    }
    return f_.operations[reads_index_];
  }
  void condition(Condition c) {
    if (!f_.has(c)) f_.conditions.push_back(c);
  }
  static void addRelation(Operation& o, std::string name) {
    if (name.empty()) return;
    if (std::find(o.relations.begin(), o.relations.end(), name) == o.relations.end())
      o.relations.push_back(std::move(name));
  }
  // A relation the statement writes or acts on, for the operation at `index` (indexes survive push_back).
  void targetNode(std::size_t index, const json::value* v) {
    if (const auto* rv = rangeVar(v)) addRelation(f_.operations[index], rangeVarName(*rv));
  }
  std::size_t push(Kind kind, std::string object = {}) {
    f_.operations.push_back(Operation{.kind = kind, .object = std::move(object), .relations = {}});
    return f_.operations.size() - 1;
  }
  // Several changes in one statement (set_config twice...) leave it unknown.
  void changePath(SearchPathChange c) {
    if (f_.search_path_change != SearchPathChange::kNone && f_.search_path_change != c)
      c = SearchPathChange::kUnknown;
    f_.search_path_change = c;
  }
  void searchPath(const json::object& b, std::string_view kind) {
    if (flag(b, "is_local")) return changePath(SearchPathChange::kUnknown);  // reverts at the transaction's end
    if (kind == "VAR_RESET" || kind == "VAR_RESET_ALL" || kind == "VAR_SET_DEFAULT")
      return changePath(SearchPathChange::kReset);
    if (kind != "VAR_SET_VALUE") return changePath(SearchPathChange::kUnknown);
    std::vector<std::string> path;
    if (const auto* args = list(b, "args")) {
      for (const auto& a : *args) {
        auto [at, ab] = node(a);
        const auto* sval = at == "A_Const" && ab ? field(*ab, "sval") : nullptr;
        if (!sval) return changePath(SearchPathChange::kUnknown);
        path.emplace_back(text(*sval, "sval"));
      }
    }
    changePath(SearchPathChange::kSet);
    if (f_.search_path_change == SearchPathChange::kSet) f_.search_path = std::move(path);
  }

  bool isCte(const json::object& rv) const {
    if (!text(rv, "schemaname").empty()) return false;
    const auto name = text(rv, "relname");
    return std::find(ctes_.begin(), ctes_.end(), name) != ctes_.end();
  }

  // Visits every field of `body` but those named in `skip`.
  void fields(const json::object& body, std::initializer_list<std::string_view> skip = {}) {
    for (const auto& kv : body) {
      if (std::find(skip.begin(), skip.end(), kv.key()) != skip.end()) continue;
      visit(kv.value());
    }
  }

  void visit(const json::value& v) {
    if (const auto* a = v.if_array()) {
      for (const auto& e : *a) visit(e);
      return;
    }
    const auto* o = v.if_object();
    if (!o) return;
    auto [type, body] = node(v);
    if (!type.empty() && body) return visitNode(type, *body);
    // A field whose type is a message rather than any node holds that message bare: a RangeVar (a relation)
    // or a FuncCall (CallStmt.funccall) is known by its fields, so that none is missed wherever it sits.
    if (o->if_contains("relname")) return visitNode("RangeVar", *o);
    if (const auto* names = o->if_contains("funcname"); names && names->is_array()) return visitNode("FuncCall", *o);
    for (const auto& kv : *o) visit(kv.value());
  }

  // A node that may hold a WITH clause: its CTEs' names hide relations of the same name inside it. A CTE's own
  // query sees only the CTEs before it (all of them, in WITH RECURSIVE).
  void withScope(const json::object& body, std::initializer_list<std::string_view> skip, auto&& rest) {
    const auto* with = field(body, "withClause");
    const auto saved = ctes_.size();
    if (with) {
      const json::object& clause = *with;
      const bool recursive = flag(clause, "recursive");
      const auto* ctes = list(clause, "ctes");
      if (ctes && recursive) {
        for (const auto& c : *ctes)
          if (auto [t, b] = node(c); t == "CommonTableExpr" && b) ctes_.emplace_back(text(*b, "ctename"));
      }
      if (ctes) {
        for (const auto& c : *ctes) {
          auto [t, b] = node(c);
          if (t != "CommonTableExpr" || !b) continue;
          if (const auto* q = b->if_contains("ctequery")) {
            auto [qt, qb] = node(*q);
            if (qt == "InsertStmt" || qt == "UpdateStmt" || qt == "DeleteStmt" || qt == "MergeStmt")
              condition(Condition::kDataModifyingCte);
            visit(*q);
          }
          if (!recursive) ctes_.emplace_back(text(*b, "ctename"));
        }
      }
    }
    std::vector<std::string_view> all(skip);
    all.push_back("withClause");
    for (const auto& kv : body) {
      if (std::find(all.begin(), all.end(), kv.key()) != all.end()) continue;
      visit(kv.value());
    }
    rest();
    ctes_.resize(saved);
  }

  void visitNode(std::string_view type, const json::object& b) {
    if (type == "RangeVar") {
      if (!isCte(b)) addRelation(reads(), rangeVarName(b));
      return;
    }
    if (type == "FuncCall") {
      auto name = dotted(list(b, "funcname"));
      // set_config('search_path', ...) may change it; its arguments need not be constants.
      if (name == "set_config" || name == "pg_catalog.set_config") changePath(SearchPathChange::kUnknown);
      if (!name.empty() && std::find(f_.functions.begin(), f_.functions.end(), name) == f_.functions.end())
        f_.functions.push_back(std::move(name));
      fields(b, {"funcname"});
      return;
    }
    if (type == "SelectStmt") {
      if (const auto* into = field(b, "intoClause")) {
        condition(Condition::kSelectInto);
        targetNode(push(Kind::kCreate, "table"), into->if_contains("rel"));
      }
      withScope(b, {"intoClause"}, [] {});
      return;
    }
    if (type == "InsertStmt" || type == "UpdateStmt" || type == "DeleteStmt" || type == "MergeStmt") {
      const Kind kind = type == "InsertStmt" ? Kind::kInsert
                        : type == "UpdateStmt" ? Kind::kUpdate
                        : type == "DeleteStmt" ? Kind::kDelete
                                               : Kind::kMerge;
      const auto index = push(kind);
      targetNode(index, b.if_contains("relation"));
      if (kind == Kind::kUpdate || kind == Kind::kDelete) {
        const auto* where = b.if_contains("whereClause");
        if (!where || !filtersRows(*where))
          condition(kind == Kind::kUpdate ? Condition::kUpdateWithoutWhere : Condition::kDeleteWithoutWhere);
      }
      withScope(b, {"relation"}, [] {});
      return;
    }
    if (type == "TruncateStmt") {
      const auto index = push(Kind::kTruncate, "table");
      if (const auto* rels = list(b, "relations"))
        for (const auto& r : *rels) targetNode(index, &r);
      return;
    }
    if (type == "CopyStmt") {
      const auto index = push(Kind::kCopy);
      targetNode(index, b.if_contains("relation"));
      const bool from = flag(b, "is_from");
      // What it really does to its table: COPY t FROM inserts into t, COPY t TO reads it.
      if (const auto* rel = b.if_contains("relation"); rel && rangeVar(rel)) targetNode(push(from ? Kind::kInsert : Kind::kSelect), rel);
      const bool program = flag(b, "is_program");
      const bool file = !text(b, "filename").empty();
      if (program) condition(from ? Condition::kCopyFromProgram : Condition::kCopyToProgram);
      else if (file) condition(from ? Condition::kCopyFromFile : Condition::kCopyToFile);
      fields(b, {"relation"});
      return;
    }
    if (type == "ExplainStmt") {
      bool analyze = false;
      if (const auto* opts = list(b, "options")) {
        for (const auto& o : *opts) {
          auto [ot, ob] = node(o);
          if (ot != "DefElem" || !ob || text(*ob, "defname") != "analyze") continue;
          // EXPLAIN (ANALYZE false) does not run it; any other value (or none) does.
          const auto* arg = ob->if_contains("arg");
          analyze = true;
          if (arg) {
            const auto s = stringNode(*arg);
            if (s == "false" || s == "off" || s == "0") analyze = false;
            if (auto [at, ab] = node(*arg); at == "Boolean" && ab && !flag(*ab, "boolval")) analyze = false;
            if (auto [at, ab] = node(*arg); at == "Integer" && ab && !ab->if_contains("ival")) analyze = false;
          }
        }
      }
      const auto index = push(Kind::kExplain);
      if (analyze) {
        condition(Condition::kExplainAnalyze);
        fields(b, {"options"});
        return;
      }
      // Plain EXPLAIN plans the statement and runs nothing: it reads no data and calls no function, but names
      // the relations it would touch.
      StatementFacts inner;
      Walker w(inner);
      if (const auto* q = b.if_contains("query")) w.visit(*q);
      for (auto& o : inner.operations)
        for (auto& r : o.relations) addRelation(f_.operations[index], std::move(r));
      return;
    }
    if (type == "PrepareStmt" || type == "ExecuteStmt") {
      push(type == "PrepareStmt" ? Kind::kPrepare : Kind::kExecute);
      f_.prepared_name = std::string(text(b, "name"));
      fields(b, {"name"});
      return;
    }
    if (type == "DeallocateStmt") {
      f_.prepared_name = std::string(text(b, "name"));
      f_.forgets_all_prepared = f_.prepared_name.empty();
      return void(push(Kind::kDeallocate));
    }
    if (type == "DropStmt") {
      const auto object = objectName(text(b, "removeType"));
      const auto index = push(Kind::kDrop, object);
      static constexpr std::array<std::string_view, 6> kRelationObjects = {
          "table", "view", "materialized view", "index", "sequence", "foreign table"};
      if (std::find(kRelationObjects.begin(), kRelationObjects.end(), object) != kRelationObjects.end()) {
        if (const auto* objs = list(b, "objects")) {
          for (const auto& o : *objs) {
            auto [lt, lb] = node(o);
            if (lt == "List" && lb) addRelation(f_.operations[index], dotted(list(*lb, "items")));
          }
        }
      }
      return;
    }
    if (type == "DropdbStmt") {
      condition(Condition::kDropDatabase);
      return void(push(Kind::kDrop, "database"));
    }
    if (type == "AlterSystemStmt") {
      condition(Condition::kAlterSystem);
      return void(push(Kind::kAlter, "system"));
    }
    if (type == "CreateStmt" || type == "CreateForeignTableStmt") {
      const auto index = push(Kind::kCreate, type == "CreateStmt" ? "table" : "foreign table");
      targetNode(index, b.if_contains("relation"));
      fields(b, {"relation"});
      return;
    }
    if (type == "CreateTableAsStmt") {
      const auto index = push(Kind::kCreate, objectName(text(b, "objtype")));
      if (const auto* into = field(b, "into")) targetNode(index, into->if_contains("rel"));
      fields(b, {"into"});
      return;
    }
    if (type == "ViewStmt") {
      const auto index = push(Kind::kCreate, "view");
      targetNode(index, b.if_contains("view"));
      fields(b, {"view"});
      return;
    }
    if (type == "IndexStmt") {
      const auto index = push(Kind::kCreate, "index");
      targetNode(index, b.if_contains("relation"));
      fields(b, {"relation"});
      return;
    }
    if (type == "CreateFunctionStmt") {
      push(Kind::kCreate, flag(b, "is_procedure") ? "procedure" : "function");
      push(Kind::kProcedural);
      // The body is procedural code, judged as such; its text is not SQL of this statement.
      return;
    }
    if (type == "DoStmt") return void(push(Kind::kProcedural));
    if (type == "CreatedbStmt") return void(push(Kind::kCreate, "database"));
    if (type == "CreateRoleStmt") return void(push(Kind::kCreate, "role"));
    if (type == "CreateTrigStmt") {
      const auto index = push(Kind::kCreate, "trigger");
      targetNode(index, b.if_contains("relation"));
      fields(b, {"relation"});
      return;
    }
    if (type == "RuleStmt") {
      const auto index = push(Kind::kCreate, "rule");
      targetNode(index, b.if_contains("relation"));
      fields(b, {"relation"});
      return;
    }
    if (type == "DefineStmt") return void(push(Kind::kCreate, objectName(text(b, "kind"))));
    if (type == "CompositeTypeStmt" || type == "CreateEnumStmt" || type == "CreateRangeStmt")
      return void(push(Kind::kCreate, "type"));
    if (type == "AlterTableStmt") {
      const auto index = push(Kind::kAlter, objectName(text(b, "objtype")));
      targetNode(index, b.if_contains("relation"));
      fields(b, {"relation"});
      return;
    }
    if (type == "RenameStmt") {
      const auto index = push(Kind::kAlter, objectName(text(b, "renameType")));
      targetNode(index, b.if_contains("relation"));
      return;
    }
    if (type == "AlterObjectSchemaStmt" || type == "AlterOwnerStmt") {
      const auto index = push(Kind::kAlter, objectName(text(b, "objectType")));
      targetNode(index, b.if_contains("relation"));
      return;
    }
    if (type == "GrantStmt") {
      const auto index = push(flag(b, "is_grant") ? Kind::kGrant : Kind::kRevoke, objectName(text(b, "objtype")));
      if (text(b, "objtype") == "OBJECT_TABLE" || text(b, "objtype") == "OBJECT_SEQUENCE") {
        if (const auto* objs = list(b, "objects"))
          for (const auto& o : *objs) targetNode(index, &o);
      }
      return;
    }
    if (type == "GrantRoleStmt") return void(push(flag(b, "is_grant") ? Kind::kGrant : Kind::kRevoke, "role"));
    if (type == "VariableSetStmt") {
      const auto name = text(b, "name");
      const auto kind = text(b, "kind");
      const bool reset = kind == "VAR_RESET" || kind == "VAR_RESET_ALL";
      // Switching to another role is a role change; resetting only returns to the session's own login role
      // (RESET ROLE, RESET ALL), which gives nothing the login did not have.
      const bool role = name == "role" || name == "session_authorization";
      push(role && !reset ? Kind::kSetRole : reset ? Kind::kReset : Kind::kSet);
      if (name == "search_path" || kind == "VAR_RESET_ALL") searchPath(b, kind);
      fields(b);
      return;
    }
    if (type == "VariableShowStmt") return void(push(Kind::kShow));
    if (type == "TransactionStmt") return void(push(Kind::kTransaction));
    if (type == "CallStmt") {
      // A procedure is procedural code: what it does is in its body, not in the call.
      push(Kind::kCall);
      push(Kind::kProcedural);
      fields(b);
      return;
    }
    if (type == "VacuumStmt" || type == "ReindexStmt" || type == "ClusterStmt" || type == "RefreshMatViewStmt" ||
        type == "CheckPointStmt") {
      const auto index = push(Kind::kMaintenance);
      targetNode(index, b.if_contains("relation"));
      if (const auto* rels = list(b, "rels")) {
        for (const auto& r : *rels) {
          if (auto [rt, rb] = node(r); rt == "VacuumRelation" && rb) targetNode(index, rb->if_contains("relation"));
        }
      }
      return;
    }
    if (type == "LockStmt") {
      const auto index = push(Kind::kLock);
      if (const auto* rels = list(b, "relations"))
        for (const auto& r : *rels) targetNode(index, &r);
      return;
    }
    if (type == "ListenStmt" || type == "UnlistenStmt") return void(push(Kind::kListen));
    if (type == "NotifyStmt") return void(push(Kind::kNotify));
    if (type == "DiscardStmt") {
      if (text(b, "target") == "DISCARD_ALL") {
        changePath(SearchPathChange::kReset);
        f_.forgets_all_prepared = true;
      }
      return void(push(Kind::kDiscard));
    }
    if (type == "CommentStmt" || type == "SecLabelStmt") return void(push(Kind::kComment));
    if (type == "DeclareCursorStmt") {
      push(Kind::kCursor);
      fields(b);
      return;
    }
    if (type == "FetchStmt" || type == "ClosePortalStmt") return void(push(Kind::kCursor));
    if (type == "LoadStmt") return void(push(Kind::kLoad));
    if (type.starts_with("Create") && type.ends_with("Stmt")) {
      push(Kind::kCreate, objectFromNodeType(type, "Create"));
      fields(b);
      return;
    }
    if (type.starts_with("Alter") && type.ends_with("Stmt")) {
      push(Kind::kAlter, objectFromNodeType(type, "Alter"));
      fields(b);
      return;
    }
    if (type.starts_with("Drop") && type.ends_with("Stmt")) {
      push(Kind::kDrop, objectFromNodeType(type, "Drop"));
      return;
    }
    if (type.ends_with("Stmt")) {
      push(Kind::kOther);
      fields(b);
      return;
    }
    fields(b);  // an expression or clause: walk through it
  }

  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  StatementFacts& f_;
  std::size_t reads_index_ = kNone;
  std::vector<std::string> ctes_;  // CTE names in scope (unqualified names that are not relations)
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) || s.back() == ';')) s.remove_suffix(1);
  return s;
}

struct ParseResultDeleter {
  void operator()(PgQueryParseResult* r) const {
    pg_query_free_parse_result(*r);
    delete r;
  }
};

}  // namespace

std::string_view kindName(Kind k) {
  for (const auto& [kind, name] : kKindNames)
    if (kind == k) return name;
  return "other";
}

std::optional<Kind> kindFromName(std::string_view name) {
  for (const auto& [kind, n] : kKindNames)
    if (n == name) return kind;
  return std::nullopt;
}

std::string_view conditionName(Condition c) {
  for (const auto& [cond, name] : kConditionNames)
    if (cond == c) return name;
  return "";
}

std::optional<Condition> conditionFromName(std::string_view name) {
  for (const auto& [cond, n] : kConditionNames)
    if (n == name) return cond;
  return std::nullopt;
}

bool StatementFacts::has(Condition c) const {
  return std::find(conditions.begin(), conditions.end(), c) != conditions.end();
}

bool StatementFacts::performs(Kind k) const {
  return std::any_of(operations.begin(), operations.end(), [&](const Operation& o) { return o.kind == k; });
}

Result<std::vector<StatementFacts>> analyze(std::string_view sql) {
  const std::string input(sql);  // the parser wants a NUL-terminated string
  if (input.find('\0') != std::string::npos) return makeError("the query text contains a NUL byte");
  std::unique_ptr<PgQueryParseResult, ParseResultDeleter> parsed(new PgQueryParseResult(pg_query_parse(input.c_str())));
  if (parsed->error) {
    std::string message = parsed->error->message ? parsed->error->message : "cannot parse";
    if (parsed->error->cursorpos > 0) message += " (at character " + std::to_string(parsed->error->cursorpos) + ")";
    return makeError(message);
  }
  boost::system::error_code ec;
  // Boost.JSON's default depth limit (32) is less than the parse tree of a few nested subqueries; the parser
  // itself bounds the nesting (max_stack_depth), so the limit here is only a backstop.
  json::parse_options options;
  options.max_depth = 10000;
  const json::value tree = json::parse(parsed->parse_tree ? parsed->parse_tree : "{}", ec, {}, options);
  if (ec || !tree.is_object()) return makeError("the SQL parser's output could not be read");
  std::vector<StatementFacts> out;
  const auto* stmts = list(tree.get_object(), "stmts");
  if (!stmts) return out;
  for (const auto& entry : *stmts) {
    const auto* e = entry.if_object();
    if (!e || !e->if_contains("stmt")) return makeError("the SQL parser's output has a statement without a tree");
    StatementFacts facts;
    const auto* loc = e->if_contains("stmt_location");
    const auto* len = e->if_contains("stmt_len");
    const std::size_t from = loc && loc->is_int64() ? static_cast<std::size_t>(loc->get_int64()) : 0;
    const std::size_t n = len && len->is_int64() && len->get_int64() > 0 ? static_cast<std::size_t>(len->get_int64())
                                                                         : std::string_view::npos;
    facts.text = std::string(trim(from < sql.size() ? sql.substr(from, n) : std::string_view()));
    Walker(facts).statement(e->at("stmt"));
    addLineage(e->at("stmt"), facts);
    out.push_back(std::move(facts));
  }
  return out;
}

}  // namespace gatehouse::inspect::sql
