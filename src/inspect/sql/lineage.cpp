// Lineage; see lineage.h.
//
// Every SELECT has a scope: its FROM items (base relations, subqueries, CTE references, functions), with the
// scopes around it visible (correlated subqueries, LATERAL). A query's result is a list of columns, each with
// the sources it derives from; a FROM item over a subquery or CTE carries that list, so that a reference
// through it resolves to the base columns underneath. Expressions are walked generically: every ColumnRef
// anywhere counts, and a SubLink or nested statement contributes all of its outputs. So no column reference
// escapes, whatever node holds it: at worst a node this pass does not model adds sources.
#include "inspect/sql/lineage.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inspect/sql/parse_tree.h"

namespace gatehouse::inspect::sql {

namespace json = boost::json;

namespace {

using namespace tree;

// A source while the pass runs: views into the parse tree or into Strings, made ColumnSources at the end
// (most names are longer than a short string, so copying them would allocate at every step).
struct Src {
  std::string_view relation;
  std::string_view column;
  auto operator<=>(const Src&) const = default;
};
using Sources = std::vector<Src>;

// Names the parse tree does not hold as such ("schema.name", "column2"): kept for the pass's lifetime.
class Strings {
 public:
  std::string_view keep(std::string s) { return kept_.emplace_back(std::move(s)); }

 private:
  std::deque<std::string> kept_;  // a deque never moves its elements
};

// The last String of a list of names (a function's or type's name), or empty.
std::string_view lastName(const json::array* names) {
  std::string_view out;
  if (names)
    for (const auto& n : *names)
      if (auto s = stringNode(n); !s.empty()) out = s;
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view relationName(const json::object& rv, Strings& strings) {
  const auto schema = text(rv, "schemaname");
  const auto rel = text(rv, "relname");
  return schema.empty() ? rel : strings.keep(std::string(schema) + "." + std::string(rel));
}

// Functions that store their arguments or send them out of the database: what they are given leaves the
// result.
bool sendsArguments(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kNames = {
      "set_config",    "pg_notify", "dblink",  "dblink_exec",   "dblink_send_query",
      "lo_from_bytea", "lo_put",    "lowrite", "pg_file_write", "pg_logical_emit_message"};
  return std::any_of(kNames.begin(), kNames.end(), [&](std::string_view k) {
    return k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
             return a == std::tolower(static_cast<unsigned char>(b));
           });
  });
}

// The name PostgreSQL gives an unnamed output column (FigureColnameInternal), with its strength: 2 a real
// name, 1 a type name from a cast (a cast around it may replace it), 0 none ("?column?").
std::pair<std::string_view, int> figureName(const json::value& v, Strings& strings) {
  auto [type, b] = node(v);
  if (!b) return {{}, 0};
  if (type == "ColumnRef") {
    if (auto s = lastName(list(*b, "fields")); !s.empty()) return {s, 2};
    return {{}, 0};
  }
  if (type == "A_Indirection") {
    if (auto s = lastName(list(*b, "indirection")); !s.empty()) return {s, 2};
    const auto* arg = b->if_contains("arg");
    return arg ? figureName(*arg, strings) : std::pair<std::string_view, int>{{}, 0};
  }
  if (type == "FuncCall") return {lastName(list(*b, "funcname")), 2};
  if (type == "A_Expr")
    return text(*b, "kind") == "AEXPR_NULLIF" ? std::pair<std::string_view, int>{"nullif", 2}
                                              : std::pair<std::string_view, int>{{}, 0};
  if (type == "TypeCast") {
    std::pair<std::string_view, int> inner{{}, 0};
    if (const auto* arg = b->if_contains("arg")) inner = figureName(*arg, strings);
    if (inner.second > 1) return inner;
    const auto* tn = field(*b, "typeName");
    const auto name = tn ? lastName(list(*tn, "names")) : std::string_view();
    return name.empty() ? inner : std::pair<std::string_view, int>{name, 1};
  }
  if (type == "CollateClause") {
    const auto* arg = b->if_contains("arg");
    return arg ? figureName(*arg, strings) : std::pair<std::string_view, int>{{}, 0};
  }
  if (type == "SubLink") {
    const auto kind = text(*b, "subLinkType");
    if (kind == "EXISTS_SUBLINK") return {"exists", 2};
    if (kind == "ARRAY_SUBLINK") return {"array", 2};
    if (kind != "EXPR_SUBLINK") return {{}, 0};
    // The subquery's first output's name (of its leftmost branch, for a set operation).
    const json::object* s = nullptr;
    if (const auto* sub = b->if_contains("subselect"))
      if (auto [st, sb] = node(*sub); st == "SelectStmt") s = sb;
    while (s && field(*s, "larg")) s = field(*s, "larg");
    const auto* targets = s ? list(*s, "targetList") : nullptr;
    if (!targets || targets->empty()) return {{}, 0};
    auto [tt, tb] = node(targets->front());
    if (tt != "ResTarget" || !tb) return {{}, 0};
    if (auto n = text(*tb, "name"); !n.empty()) return {n, 2};
    const auto* val = tb->if_contains("val");
    auto inner = val ? figureName(*val, strings) : std::pair<std::string_view, int>{{}, 0};
    return {inner.second > 0 ? inner.first : "?column?", 2};
  }
  if (type == "GroupingFunc") return {"grouping", 2};
  if (type == "CaseExpr") return {"case", 2};
  if (type == "A_ArrayExpr") return {"array", 2};
  if (type == "RowExpr") return {"row", 2};
  if (type == "CoalesceExpr") return {"coalesce", 2};
  if (type == "MinMaxExpr") return {text(*b, "op") == "IS_GREATEST" ? "greatest" : "least", 2};
  if (type == "XmlSerialize") return {"xmlserialize", 2};
  if (type == "XmlExpr" || type == "SQLValueFunction") {
    // IS_XMLELEMENT -> xmlelement, SVFOP_CURRENT_TIMESTAMP_N -> current_timestamp.
    auto op = text(*b, "op");
    if (op == "IS_DOCUMENT") return {{}, 0};
    if (op.starts_with("IS_")) op.remove_prefix(3);
    if (op.starts_with("SVFOP_")) op.remove_prefix(6);
    if (op.ends_with("_N")) op.remove_suffix(2);
    return {strings.keep(lower(op)), 2};
  }
  return {{}, 0};
}

std::string_view outputName(const json::value& v, Strings& strings) {
  auto [name, strength] = figureName(v, strings);
  return strength > 0 ? name : "?column?";
}

void append(Sources& to, const Sources& from) {
  to.insert(to.end(), from.begin(), from.end());
}
void normalize(Sources& s) {
  std::sort(s.begin(), s.end());
  s.erase(std::unique(s.begin(), s.end()), s.end());
}

// One output column of a query as this pass sees it. A star keeps the relations it expands apart from its
// concrete sources: a lookup of column x through it gives (relation, x), whereas a concrete whole-row source
// (relation, "*") gives every column.
struct Col {
  std::string_view name;  // empty for a star
  bool star = false;
  std::vector<std::string_view> expands;  // a star: the base relations whose columns it stands for
  Sources sources;                        // concrete sources (for a star: of each of its columns)
  bool operator==(const Col&) const = default;
};

// PostgreSQL refuses a longer target list (MaxTupleAttributeNumber); stars over stars over CTEs could
// otherwise grow a result exponentially before the server ever says so. A longer one collapses.
constexpr std::size_t kMaxColumns = 1664;

struct Rel {
  std::vector<Col> cols;
  bool ambiguous = false;  // collapsed to one column holding every source: positions and names are unknown
  bool operator==(const Rel&) const = default;
};

void allSources(const Col& c, Sources& out) {
  append(out, c.sources);
  for (const auto& r : c.expands) out.push_back(Src{r, "*"});
}
void allSources(const Rel& r, Sources& out) {
  for (const auto& c : r.cols) allSources(c, out);
}
bool hasStar(const Rel& r) {
  return std::any_of(r.cols.begin(), r.cols.end(), [](const Col& c) { return c.star; });
}

Rel collapsed(const Rel& r) {
  Col c{.name = "?column?"};
  allSources(r, c.sources);
  normalize(c.sources);
  return Rel{.cols = {std::move(c)}, .ambiguous = true};
}

// Adjacent stars cannot be told apart in a result (where one ends and the next begins): they become one.
void mergeStars(std::vector<Col>& cols) {
  std::vector<Col> out;
  out.reserve(cols.size());
  for (auto& c : cols) {
    if (c.star && !out.empty() && out.back().star) {
      auto& s = out.back();
      for (auto& r : c.expands)
        if (std::find(s.expands.begin(), s.expands.end(), r) == s.expands.end()) s.expands.push_back(r);
      append(s.sources, c.sources);
      normalize(s.sources);
    } else {
      out.push_back(std::move(c));
    }
  }
  cols = std::move(out);
}

// A set operation's result: column by column when both sides line up, else everything in one ambiguous
// column.
Rel combine(const Rel& l, const Rel& r) {
  if (l.ambiguous || r.ambiguous || hasStar(l) || hasStar(r) || l.cols.size() != r.cols.size()) {
    Rel both = l;
    both.cols.insert(both.cols.end(), r.cols.begin(), r.cols.end());
    return collapsed(both);
  }
  Rel out = l;
  for (std::size_t i = 0; i < out.cols.size(); ++i) {
    append(out.cols[i].sources, r.cols[i].sources);
    normalize(out.cols[i].sources);
  }
  return out;
}

// A recursive CTE's next pass, added to what it had. Its shape only moves from none (not computed yet) to a
// list of columns to collapsed, and its sources only grow: the passes end.
bool absorb(Rel& cur, Rel next) {
  Rel merged;
  const bool same = !cur.ambiguous && !next.ambiguous && cur.cols.size() == next.cols.size() &&
                    std::equal(cur.cols.begin(), cur.cols.end(), next.cols.begin(),
                               [](const Col& a, const Col& b) { return a.star == b.star; });
  if (cur.cols.empty() && !cur.ambiguous) {
    merged = std::move(next);
  } else if (same) {
    merged = cur;
    for (std::size_t i = 0; i < merged.cols.size(); ++i) {
      auto& c = merged.cols[i];
      for (auto& r : next.cols[i].expands)
        if (std::find(c.expands.begin(), c.expands.end(), r) == c.expands.end()) c.expands.push_back(r);
      std::sort(c.expands.begin(), c.expands.end());
      append(c.sources, next.cols[i].sources);
      normalize(c.sources);
    }
  } else {
    Rel both = cur;
    both.cols.insert(both.cols.end(), next.cols.begin(), next.cols.end());
    merged = collapsed(both);
  }
  if (merged == cur) return false;
  cur = std::move(merged);
  return true;
}

// Alias column names (AS s(a, b), a CTE's column list) rename outputs by position. Over a star, positions are
// unknown, and a star's columns would no longer carry their relation's names: it collapses.
void rename(Rel& r, const json::object* alias, std::string_view key) {
  const auto* names = alias ? list(*alias, key) : nullptr;
  if (!names || names->empty()) return;
  if (r.ambiguous || hasStar(r)) {
    r = collapsed(r);
    return;
  }
  for (std::size_t i = 0; i < names->size() && i < r.cols.size(); ++i)
    r.cols[i].name = stringNode((*names)[i]);
}

// A FROM item.
struct Item {
  // How the statement names it: its alias, else the relation's (CTE's, function's) name.
  std::string_view name;
  // A base relation; empty for a derived item (subquery, CTE, function, join alias).
  std::string_view relation;
  // A base item with an alias: the relation's own name no longer refers to it.
  bool aliased = false;
  // A base item with alias column names (t AS x(a, b)): its names are not the relation's.
  bool renamed = false;
  // False for a join's alias, whose sides are items of their own.
  bool in_star = true;
  // A derived item's columns.
  Rel rel;
  // A statement's target (INSERT/UPDATE ... RETURNING): values it stores, in every column or in named ones.
  Sources assigned_all;
  std::vector<std::pair<std::string_view, Sources>> assigned;
  bool base() const { return !relation.empty(); }
};

struct Cte {
  std::string_view name;
  Rel rel;
};

struct Scope {
  const Scope* parent = nullptr;
  std::vector<Cte> ctes;
  std::vector<Item> items;
};

Item baseItem(const json::object& rv, Strings& strings) {
  const auto* alias = field(rv, "alias");
  const auto aliasname = alias ? text(*alias, "aliasname") : std::string_view();
  const auto* colnames = alias ? list(*alias, "colnames") : nullptr;
  return Item{.name = aliasname.empty() ? text(rv, "relname") : aliasname,
              .relation = relationName(rv, strings),
              .aliased = !aliasname.empty(),
              .renamed = colnames && !colnames->empty()};
}

// Everything a whole-row reference to the item holds.
void wholeRow(const Item& it, Sources& out) {
  if (it.base()) {
    out.push_back(Src{it.relation, "*"});
    append(out, it.assigned_all);
    for (const auto& [name, s] : it.assigned) append(out, s);
    return;
  }
  allSources(it.rel, out);
}

// Column `col` of a derived item; false when none of its columns can be it.
bool derivedColumn(const Item& it, std::string_view col, Sources& out) {
  if (it.rel.ambiguous) {
    allSources(it.rel, out);
    return true;
  }
  bool found = false;
  for (const auto& c : it.rel.cols) {
    if (c.star) {
      for (const auto& r : c.expands) out.push_back(Src{r, col});
      append(out, c.sources);
      found = true;
    } else if (c.name == col) {
      append(out, c.sources);
      found = true;
    }
  }
  return found;
}

void column(const Item& it, std::string_view col, bool qualified, Sources& out) {
  if (!it.base()) {
    // A qualified name must be one of the item's columns: if none matches, this pass named it differently.
    if (!derivedColumn(it, col, out) && qualified) allSources(it.rel, out);
    return;
  }
  out.push_back(Src{it.relation, it.renamed ? "*" : col});
  append(out, it.assigned_all);
  for (const auto& [name, s] : it.assigned)
    if (name == col) append(out, s);
}

// The columns `*` stands for over an item.
void expand(const Item& it, Rel& out) {
  if (it.base()) {
    Col c{.star = true, .expands = {it.relation}};
    append(c.sources, it.assigned_all);
    for (const auto& [name, s] : it.assigned) append(c.sources, s);
    normalize(c.sources);
    out.cols.push_back(std::move(c));
    out.ambiguous = out.ambiguous || it.renamed;
    return;
  }
  out.cols.insert(out.cols.end(), it.rel.cols.begin(), it.rel.cols.end());
  out.ambiguous = out.ambiguous || it.rel.ambiguous;
}

// The nearest scope with FROM items: what a bare `*` expands.
const Scope* itemsScope(const Scope* s) {
  while (s && s->items.empty()) s = s->parent;
  return s;
}

// The item a qualifier names: [alias or relation name], or [schema, relation] (with a catalog in front, too).
const Item* findItem(std::span<const std::string_view> q, const Scope* scope) {
  const auto names = [&](const Item& it) {
    if (q.size() == 1) return it.name == q.front();
    const auto schema = q[q.size() - 2], rel = q.back();
    const auto r = it.relation;
    return it.base() && !it.aliased && r.size() == schema.size() + 1 + rel.size() && r.starts_with(schema) &&
           r[schema.size()] == '.' && r.ends_with(rel);
  };
  for (const Scope* s = scope; s; s = s->parent)
    for (const auto& it : s->items)
      if (names(it)) return &it;
  return nullptr;
}

const Rel* findCte(std::string_view name, const Scope* scope) {
  for (const Scope* s = scope; s; s = s->parent)
    for (const auto& c : s->ctes)
      if (c.name == name) return &c.rel;
  return nullptr;
}

// A DefElem's boolean as PostgreSQL reads it (defGetBoolean; HEADER MATCH counts as a header).
bool defBoolean(const json::object& def) {
  const auto* arg = def.if_contains("arg");
  if (!arg) return true;
  auto [type, b] = node(*arg);
  if (!b) return true;
  if (type == "Boolean") return flag(*b, "boolval");
  if (type == "Integer") {
    const auto* i = b->if_contains("ival");
    return i && i->is_int64() && i->get_int64() != 0;
  }
  const auto s = lower(text(*b, "sval"));
  return s != "false" && s != "off" && s != "0" && s != "no";
}

CopyOptions copyOptions(const json::object& stmt) {
  CopyOptions o;
  o.from = flag(stmt, "is_from");
  o.stdio = text(stmt, "filename").empty() && !flag(stmt, "is_program");
  bool delimiter = false, null_string = false, escape = false;
  if (const auto* opts = list(stmt, "options")) {
    for (const auto& d : *opts) {
      auto [type, def] = node(d);
      if (type != "DefElem" || !def) continue;
      const auto name = text(*def, "defname");
      const auto* arg = def->if_contains("arg");
      const auto value = arg ? stringNode(*arg) : std::string_view();
      if (name == "format") {
        const auto f = lower(value);
        o.format = f == "csv" ? CopyFormat::kCsv : f == "binary" ? CopyFormat::kBinary : CopyFormat::kText;
      } else if (name == "delimiter" && !value.empty()) {
        o.delimiter = value.front();
        delimiter = true;
      } else if (name == "null") {
        o.null_string = std::string(value);
        null_string = true;
      } else if (name == "quote" && !value.empty()) {
        o.quote = value.front();
      } else if (name == "escape" && !value.empty()) {
        o.escape = value.front();
        escape = true;
      } else if (name == "header") {
        o.header = defBoolean(*def);
      }
    }
  }
  // PostgreSQL's defaults, which depend on the format (ProcessCopyOptions).
  const bool csv = o.format == CopyFormat::kCsv;
  if (!delimiter) o.delimiter = csv ? ',' : '\t';
  if (!null_string) o.null_string = csv ? "" : "\\N";
  if (!escape) o.escape = o.quote;
  return o;
}

// The SELECT whose INTO clause a set operation's result goes to: its leftmost branch (the grammar puts it
// there).
bool selectsInto(const json::object& select) {
  for (const json::object* s = &select; s; s = field(*s, "larg"))
    if (field(*s, "intoClause")) return true;
  return false;
}

class Lineage {
 public:
  explicit Lineage(StatementFacts& facts) : f_(facts) {}

  void run(const json::value& stmt) {
    Rel r = statement(stmt, nullptr);
    if (evaluations_ > kMaxEvaluations) {
      // Recursive CTEs were not followed to the end: anything may come from anything read, and go anywhere.
      Sources all = reads_;
      for (const auto& s : reads_) all.push_back(Src{s.relation, "*"});
      allSources(r, all);
      append(all, writes_);
      normalize(all);
      r = Rel{.cols = {Col{.name = "?column?", .sources = all}}, .ambiguous = true};
      writes_ = std::move(all);
    }
    // In a star, a concrete whole-row source (f(c) in FROM) would read as "the column of the same name": only
    // "any column may be any source" says it right.
    const bool whole_row_in_star = std::any_of(r.cols.begin(), r.cols.end(), [](const Col& c) {
      return c.star &&
             std::any_of(c.sources.begin(), c.sources.end(), [](const auto& s) { return s.column == "*"; });
    });
    if (whole_row_in_star && !r.ambiguous) r = collapsed(r);
    f_.outputs_ambiguous = r.ambiguous;
    f_.outputs.clear();
    for (const auto& c : r.cols) {
      Sources s;
      allSources(c, s);
      normalize(s);
      append(reads_, s);
      f_.outputs.push_back(OutputColumn{.sources = columnSources(s), .star = c.star});
    }
    normalize(writes_);
    append(reads_, writes_);
    normalize(reads_);
    f_.reads = columnSources(reads_);
    f_.writes_from = columnSources(writes_);
  }

 private:
  static std::vector<ColumnSource> columnSources(const Sources& s) {
    std::vector<ColumnSource> out;
    out.reserve(s.size());
    for (const auto& x : s) out.push_back(ColumnSource{std::string(x.relation), std::string(x.column)});
    return out;
  }

  // A statement's result rows (empty when it returns none); what it stores goes to writes_.
  Rel statement(const json::value& v, const Scope* parent) {
    ++evaluations_;
    auto [type, b] = node(v);
    if (!b) {
      walk(v, parent, reads_);
      return {};
    }
    if (type == "SelectStmt") {
      Rel r = select(*b, parent);
      if (!selectsInto(*b)) return r;
      allSources(r, writes_);
      return {};
    }
    if (type == "InsertStmt") return insert(*b, parent);
    if (type == "UpdateStmt") return update(*b, parent);
    if (type == "DeleteStmt") return remove(*b, parent);
    if (type == "MergeStmt") return merge(*b, parent);
    if (type == "CopyStmt") return copy(*b, parent);
    if (type == "DeclareCursorStmt" || type == "FetchStmt" || type == "ClosePortalStmt") {
      f_.cursor_name = text(*b, "portalname");
      const auto* q = b->if_contains("query");
      return q ? statement(*q, parent) : Rel{};
    }
    if (type == "ExplainStmt") {
      // A plan, not data; but EXPLAIN ANALYZE runs the statement, with whatever it stores.
      if (const auto* q = b->if_contains("query")) statement(*q, parent);
      return {};
    }
    if (type == "PrepareStmt") {
      const auto* q = b->if_contains("query");
      return q ? statement(*q, parent) : Rel{};
    }
    if (type == "CreateTableAsStmt" || type == "ViewStmt") {
      if (const auto* q = b->if_contains("query")) allSources(statement(*q, parent), writes_);
      return {};
    }
    if (type == "CallStmt") {
      // A procedure may keep or send anything it is given.
      if (const auto* call = b->if_contains("funccall")) walk(*call, parent, writes_);
      return {};
    }
    // Any other statement: its expressions (a CHECK, an index's WHERE, a trigger's WHEN) may name columns of
    // the relation it acts on.
    Scope s{.parent = parent};
    if (const auto* rv = rangeVar(b->if_contains("relation"))) s.items.push_back(baseItem(*rv, strings_));
    for (const auto& kv : *b)
      if (kv.key() != "relation") walk(kv.value(), &s, reads_);
    return {};
  }

  // Every ColumnRef under `v`, resolved in `scope`, into `out` (and reads_). `out` may be reads_ or writes_.
  void walk(const json::value& v, const Scope* scope, Sources& out) {
    if (const auto* a = v.if_array()) {
      for (const auto& e : *a) walk(e, scope, out);
      return;
    }
    const auto* o = v.if_object();
    if (!o) return;
    auto [type, b] = node(v);
    if (!b) {
      for (const auto& kv : *o) walk(kv.value(), scope, out);
      return;
    }
    if (type == "ColumnRef") {
      const auto from = out.size();
      columnRef(*b, scope, out);
      if (&out != &reads_)
        reads_.insert(reads_.end(), out.begin() + static_cast<std::ptrdiff_t>(from), out.end());
      return;
    }
    if (type == "SubLink") {
      if (const auto* t = b->if_contains("testexpr")) walk(*t, scope, out);
      if (const auto* s = b->if_contains("subselect")) allSources(statement(*s, scope), out);
      return;
    }
    if (type == "FuncCall") {
      if (!sendsArguments(lastName(list(*b, "funcname")))) {
        for (const auto& kv : *b)
          if (kv.key() != "funcname") walk(kv.value(), scope, out);
        return;
      }
      Sources args;
      for (const auto& kv : *b)
        if (kv.key() != "funcname") walk(kv.value(), scope, args);
      append(writes_, args);
      append(out, args);
      return;
    }
    if (type.ends_with("Stmt")) {
      allSources(statement(v, scope), out);
      return;
    }
    for (const auto& kv : *b) walk(kv.value(), scope, out);
  }

  void columnRef(const json::object& ref, const Scope* scope, Sources& out) {
    const auto* fields = list(ref, "fields");
    if (!fields || fields->empty() || fields->size() > 4) return;
    std::array<std::string_view, 4> names;
    std::size_t n = 0;
    bool star = false;
    for (const auto& f : *fields) {
      if (auto [t, fb] = node(f); t == "A_Star") {
        star = true;
        break;
      }
      names[n++] = stringNode(f);
    }
    const std::span<const std::string_view> q(names.data(), n);
    if (star) return starRef(q, scope, out);
    resolve(q, scope, out);
  }

  // "s.t" for a qualifier [s, t] (or [catalog, s, t]).
  std::string_view dotted(std::span<const std::string_view> q) {
    return strings_.keep(std::string(q[q.size() - 2]) + "." + std::string(q.back()));
  }

  // [col], [q, col], [s, t, col]...
  void resolve(std::span<const std::string_view> names, const Scope* scope, Sources& out) {
    if (names.empty()) return;
    if (names.size() == 1) return unqualified(names.front(), scope, out);
    const auto col = names.back();
    const auto q = names.first(names.size() - 1);
    if (const Item* it = findItem(q, scope)) return column(*it, col, true, out);
    // Not a FROM item: a composite column's field (c.f for (c).f), or a name placed where this pass cannot
    // see.
    if (q.size() >= 2) out.push_back(Src{dotted(q), col});
    resolve(q, scope, out);
    unqualified(col, scope, out);
  }

  // Without the catalog, any table in scope may have the column: every base item counts, and any derived item
  // with a column of that name. A FROM item's own name is also a whole-row reference to it.
  void unqualified(std::string_view col, const Scope* scope, Sources& out) {
    const auto from = out.size();
    for (const Scope* s = scope; s; s = s->parent) {
      for (const auto& it : s->items) {
        column(it, col, false, out);
        if (it.name == col) wholeRow(it, out);
      }
    }
    if (out.size() > from) return;
    // Nothing can be it: a name this pass figured differently (or an output alias in ORDER BY): every derived
    // item's columns.
    for (const Scope* s = scope; s; s = s->parent)
      for (const auto& it : s->items)
        if (!it.base()) wholeRow(it, out);
  }

  // t.* or * inside an expression (row_to_json(t.*)): whole rows.
  void starRef(std::span<const std::string_view> q, const Scope* scope, Sources& out) {
    if (q.empty()) {
      if (const Scope* s = itemsScope(scope))
        for (const auto& it : s->items)
          if (it.in_star) wholeRow(it, out);
      return;
    }
    if (const Item* it = findItem(q, scope)) return wholeRow(*it, out);
    if (q.size() >= 2) out.push_back(Src{dotted(q), "*"});
    resolve(q, scope, out);
  }

  // t.* or * in a select list: the columns it stands for.
  void expandStar(std::span<const std::string_view> q, const Scope* scope, Rel& out) {
    if (q.empty()) {
      if (const Scope* s = itemsScope(scope))
        for (const auto& it : s->items)
          if (it.in_star) expand(it, out);
      return;
    }
    if (const Item* it = findItem(q, scope)) return expand(*it, out);
    Col c{.star = true};
    starRef(q, scope, c.sources);
    normalize(c.sources);
    out.cols.push_back(std::move(c));
  }

  // A select list or RETURNING list.
  Rel targets(const json::array& entries, const Scope* scope) {
    Rel r;
    for (const auto& t : entries) {
      auto [tt, tb] = node(t);
      const auto* val = tb ? tb->if_contains("val") : nullptr;
      if (tt != "ResTarget" || !val) {
        Col c{.name = "?column?"};
        walk(t, scope, c.sources);
        normalize(c.sources);
        r.cols.push_back(std::move(c));
        continue;
      }
      auto [vt, vb] = node(*val);
      if (vt == "ColumnRef" && vb) {
        const auto* fields = list(*vb, "fields");
        if (fields && !fields->empty() && node(fields->back()).first == "A_Star") {
          std::array<std::string_view, 4> names;
          std::size_t n = 0;
          for (std::size_t i = 0; i + 1 < fields->size() && n < names.size(); ++i)
            names[n++] = stringNode((*fields)[i]);
          const auto first = r.cols.size();
          expandStar(std::span<const std::string_view>(names.data(), n), scope, r);
          for (auto i = first; i < r.cols.size(); ++i) allSources(r.cols[i], reads_);
          continue;
        }
      }
      if (vt == "A_Indirection" && vb) {
        // (composite).*: as many columns as the row type has, each from the whole value.
        const auto* ind = list(*vb, "indirection");
        if (ind && !ind->empty() && node(ind->back()).first == "A_Star") {
          Col c{.star = true};
          walk(*val, scope, c.sources);
          normalize(c.sources);
          r.cols.push_back(std::move(c));
          continue;
        }
      }
      const auto name = text(*tb, "name");
      Col c{.name = name.empty() ? outputName(*val, strings_) : name};
      walk(*val, scope, c.sources);
      normalize(c.sources);
      r.cols.push_back(std::move(c));
    }
    mergeStars(r.cols);
    if (r.ambiguous || r.cols.size() > kMaxColumns) r = collapsed(r);
    return r;
  }

  // The CTEs of a WITH clause, into `scope`. Each sees those before it. In WITH RECURSIVE all see all: each
  // starts from its non-recursive term and is computed again until nothing changes (see absorb: this ends).
  void with(const json::object* clause, Scope& scope) {
    const auto* ctes = clause ? list(*clause, "ctes") : nullptr;
    if (!ctes) return;
    const bool recursive = flag(*clause, "recursive");
    std::vector<const json::object*> bodies;
    for (const auto& c : *ctes) {
      auto [t, b] = node(c);
      if (t != "CommonTableExpr" || !b) continue;
      bodies.push_back(b);
      const auto* q = b->if_contains("ctequery");
      const json::object* body = q ? node(*q).second : nullptr;
      Rel r;
      if (!recursive) {
        if (q) r = statement(*q, &scope);
      } else if (const auto* larg = body && !field(*body, "withClause") ? field(*body, "larg") : nullptr) {
        r = select(*larg, &scope);
      }
      rename(r, b, "aliascolnames");
      scope.ctes.push_back(Cte{text(*b, "ctename"), std::move(r)});
    }
    if (!recursive) return;
    const auto first = scope.ctes.size() - bodies.size();
    // At least one full pass, so that every column reference in them is resolved (and read) once.
    bool changed = true;
    do {
      changed = false;
      for (std::size_t i = 0; i < bodies.size(); ++i) {
        const auto* q = bodies[i]->if_contains("ctequery");
        Rel r = q ? statement(*q, &scope) : Rel{};
        rename(r, bodies[i], "aliascolnames");
        changed = absorb(scope.ctes[first + i].rel, std::move(r)) || changed;
      }
    } while (changed && evaluations_ <= kMaxEvaluations);
  }

  // A FROM item, into `items`. `outer` is the scope around the FROM list (its CTEs, not its items): what a
  // subquery without LATERAL sees.
  void fromItem(const json::value& v, Scope& items, const Scope& outer) {
    auto [type, b] = node(v);
    if (!b) return;
    const auto* alias = field(*b, "alias");
    const auto aliasname = alias ? text(*alias, "aliasname") : std::string_view();
    if (type == "RangeVar") {
      const auto relname = text(*b, "relname");
      const Rel* cte = text(*b, "schemaname").empty() ? findCte(relname, &items) : nullptr;
      if (!cte) return items.items.push_back(baseItem(*b, strings_));
      Item it{.name = aliasname.empty() ? relname : aliasname, .rel = *cte};
      rename(it.rel, alias, "colnames");
      return items.items.push_back(std::move(it));
    }
    if (type == "RangeSubselect") {
      const auto* q = b->if_contains("subquery");
      Item it{.name = aliasname};
      if (q) it.rel = statement(*q, flag(*b, "lateral") ? &items : &outer);
      rename(it.rel, alias, "colnames");
      return items.items.push_back(std::move(it));
    }
    if (type == "JoinExpr") {
      const auto start = items.items.size();
      if (const auto* l = b->if_contains("larg")) fromItem(*l, items, outer);
      if (const auto* r = b->if_contains("rarg")) fromItem(*r, items, outer);
      if (const auto* quals = b->if_contains("quals")) walk(*quals, &items, reads_);
      if (const auto* u = list(*b, "usingClause"))
        for (const auto& name : *u) unqualified(stringNode(name), &items, reads_);
      if (aliasname.empty()) return;
      Item it{.name = aliasname, .in_star = false};
      for (auto i = start; i < items.items.size(); ++i)
        if (items.items[i].in_star) expand(items.items[i], it.rel);
      mergeStars(it.rel.cols);
      if (it.rel.ambiguous || it.rel.cols.size() > kMaxColumns) it.rel = collapsed(it.rel);
      // Renamed columns: `*` gives the alias's names, which the sides' own stars would not say.
      if (const auto* colnames = list(*alias, "colnames"); colnames && !colnames->empty()) {
        rename(it.rel, alias, "colnames");
        for (auto i = start; i < items.items.size(); ++i) items.items[i].in_star = false;
        it.in_star = true;
      }
      return items.items.push_back(std::move(it));
    }
    if (type == "RangeTableSample") {
      if (const auto* rel = b->if_contains("relation")) fromItem(*rel, items, outer);
      for (const auto& kv : *b)
        if (kv.key() != "relation") walk(kv.value(), &items, reads_);
      return;
    }
    // A function (its arguments may name earlier items even without LATERAL), XMLTABLE, or anything else:
    // each of its columns, whatever their names and number, derives from everything in it.
    Item it{.name = aliasname};
    if (it.name.empty() && type == "RangeFunction") {
      if (const auto* fs = list(*b, "functions"); fs && !fs->empty()) {
        auto [lt, lb] = node(fs->front());
        const auto* fitems = lb ? list(*lb, "items") : nullptr;
        if (fitems && !fitems->empty())
          if (auto [ft, fb] = node(fitems->front()); ft == "FuncCall" && fb)
            it.name = lastName(list(*fb, "funcname"));
      }
    }
    Col c{.star = true};
    walk(v, &items, c.sources);
    normalize(c.sources);
    it.rel.cols.push_back(std::move(c));
    items.items.push_back(std::move(it));
  }

  Rel select(const json::object& b, const Scope* parent) {
    Scope outer{.parent = parent};
    with(field(b, "withClause"), outer);
    const auto* larg = field(b, "larg");
    const auto* rarg = field(b, "rarg");
    if (larg && rarg) {
      Rel r = combine(select(*larg, &outer), select(*rarg, &outer));
      for (const auto& kv : b)
        if (kv.key() != "withClause" && kv.key() != "larg" && kv.key() != "rarg")
          walk(kv.value(), &outer, reads_);
      return r;
    }
    if (const auto* rows = list(b, "valuesLists")) {
      Rel r;
      for (const auto& row : *rows) {
        auto [lt, lb] = node(row);
        const auto* cells = lb ? list(*lb, "items") : nullptr;
        if (!cells) continue;
        for (std::size_t i = 0; i < cells->size(); ++i) {
          if (r.cols.size() <= i)
            r.cols.push_back(Col{.name = strings_.keep("column" + std::to_string(i + 1))});
          walk((*cells)[i], &outer, r.cols[i].sources);
        }
      }
      for (auto& c : r.cols) normalize(c.sources);
      for (const auto& kv : b)
        if (kv.key() != "withClause" && kv.key() != "valuesLists") walk(kv.value(), &outer, reads_);
      return r;
    }
    Scope items{.parent = &outer};
    if (const auto* from = list(b, "fromClause"))
      for (const auto& item : *from) fromItem(item, items, outer);
    const auto* tl = list(b, "targetList");
    Rel r = tl ? targets(*tl, &items) : Rel{};
    // WHERE, GROUP BY, HAVING, ORDER BY, windows, DISTINCT ON, LIMIT: read, not returned.
    static constexpr std::array<std::string_view, 4> kDone = {"withClause", "fromClause", "targetList",
                                                              "intoClause"};
    for (const auto& kv : b)
      if (std::find(kDone.begin(), kDone.end(), kv.key()) == kDone.end()) walk(kv.value(), &items, reads_);
    return r;
  }

  // The target of UPDATE/DELETE/MERGE/COPY, first in `items`; false if there is none.
  bool target(const json::object& b, Scope& items) {
    const auto* rv = rangeVar(b.if_contains("relation"));
    if (rv) items.items.push_back(baseItem(*rv, strings_));
    return rv != nullptr;
  }

  Rel returning(const json::object& b, const Scope& items) {
    const auto* r = list(b, "returningList");
    return r ? targets(*r, &items) : Rel{};
  }

  // SET lists (UPDATE, ON CONFLICT DO UPDATE): each expression is stored in its column.
  std::vector<std::pair<std::string_view, Sources>> assignments(const json::array* set, const Scope& scope) {
    std::vector<std::pair<std::string_view, Sources>> out;
    if (!set) return out;
    for (const auto& t : *set) {
      auto [tt, tb] = node(t);
      if (tt != "ResTarget" || !tb) continue;
      Sources s;
      if (const auto* val = tb->if_contains("val")) walk(*val, &scope, s);
      if (const auto* ind = tb->if_contains("indirection")) walk(*ind, &scope, reads_);
      normalize(s);
      append(writes_, s);
      out.emplace_back(text(*tb, "name"), std::move(s));
    }
    return out;
  }

  Rel insert(const json::object& b, const Scope* parent) {
    Scope outer{.parent = parent};
    with(field(b, "withClause"), outer);
    Rel stored;
    if (const auto* q = b.if_contains("selectStmt")) stored = statement(*q, &outer);
    allSources(stored, writes_);
    const auto* rv = rangeVar(b.if_contains("relation"));
    if (!rv) return {};
    // Which value lands in which column (RETURNING gives them back): by position when the columns are listed
    // and the rows line up, else any value in any column.
    Item t = baseItem(*rv, strings_);
    const auto* cols = list(b, "cols");
    if (cols && !stored.ambiguous && !hasStar(stored) && cols->size() == stored.cols.size()) {
      for (std::size_t i = 0; i < cols->size(); ++i) {
        auto [ct, cb] = node((*cols)[i]);
        t.assigned.emplace_back(cb ? text(*cb, "name") : std::string_view(), stored.cols[i].sources);
      }
    } else {
      allSources(stored, t.assigned_all);
      normalize(t.assigned_all);
    }
    const auto relation = t.relation;
    Scope items{.parent = &outer};
    items.items.push_back(std::move(t));
    if (cols) walk(*cols, &items, reads_);  // subscripts in the column list
    if (const auto* conflict = field(b, "onConflictClause")) {
      // EXCLUDED is the row proposed for insertion.
      Item excluded{.name = "excluded", .in_star = false};
      Col row{.star = true, .expands = {relation}};
      allSources(stored, row.sources);
      normalize(row.sources);
      excluded.rel.cols.push_back(std::move(row));
      items.items.push_back(std::move(excluded));
      auto set = assignments(list(*conflict, "targetList"), items);
      for (const auto& kv : *conflict)
        if (kv.key() != "targetList") walk(kv.value(), &items, reads_);
      items.items.pop_back();
      auto& assigned = items.items.front().assigned;
      assigned.insert(assigned.end(), set.begin(), set.end());
    }
    return returning(b, items);
  }

  Rel update(const json::object& b, const Scope* parent) {
    Scope outer{.parent = parent};
    with(field(b, "withClause"), outer);
    Scope items{.parent = &outer};
    const bool has_target = target(b, items);
    if (const auto* from = list(b, "fromClause"))
      for (const auto& item : *from) fromItem(item, items, outer);
    auto set = assignments(list(b, "targetList"), items);
    if (const auto* where = b.if_contains("whereClause")) walk(*where, &items, reads_);
    // RETURNING gives the new values.
    if (has_target) {
      auto& t = items.items.front().assigned;
      t.insert(t.end(), set.begin(), set.end());
    }
    return returning(b, items);
  }

  Rel remove(const json::object& b, const Scope* parent) {
    Scope outer{.parent = parent};
    with(field(b, "withClause"), outer);
    Scope items{.parent = &outer};
    target(b, items);
    if (const auto* using_ = list(b, "usingClause"))
      for (const auto& item : *using_) fromItem(item, items, outer);
    if (const auto* where = b.if_contains("whereClause")) walk(*where, &items, reads_);
    return returning(b, items);
  }

  Rel merge(const json::object& b, const Scope* parent) {
    Scope outer{.parent = parent};
    with(field(b, "withClause"), outer);
    Scope items{.parent = &outer};
    target(b, items);
    if (const auto* source = b.if_contains("sourceRelation")) fromItem(*source, items, outer);
    if (const auto* on = b.if_contains("joinCondition")) walk(*on, &items, reads_);
    if (const auto* whens = list(b, "mergeWhenClauses")) {
      for (const auto& w : *whens) {
        auto [wt, wb] = node(w);
        if (!wb) continue;
        // UPDATE SET expressions and INSERT VALUES are stored; the WHEN condition is only read.
        for (const auto& kv : *wb) {
          const bool stored = kv.key() == "targetList" || kv.key() == "values";
          walk(kv.value(), &items, stored ? writes_ : reads_);
        }
      }
    }
    return returning(b, items);
  }

  Rel copy(const json::object& b, const Scope* parent) {
    const auto options = copyOptions(b);
    f_.copy = options;
    Scope items{.parent = parent};
    const bool has_target = target(b, items);
    Rel r;
    if (const auto* q = b.if_contains("query")) {
      r = statement(*q, parent);
    } else if (has_target) {
      const auto rel = items.items.front().relation;
      if (const auto* cols = list(b, "attlist"); cols && !cols->empty()) {
        for (const auto& c : *cols) {
          const auto name = stringNode(c);
          r.cols.push_back(Col{.name = name, .sources = {Src{rel, name}}});
        }
      } else {
        r.cols.push_back(Col{.star = true, .expands = {rel}});
      }
    }
    if (const auto* where = b.if_contains("whereClause")) walk(*where, &items, reads_);
    if (options.from) return {};
    // To a server file or program, the rows leave the database without passing the gateway.
    if (!options.stdio) {
      allSources(r, writes_);
      return {};
    }
    return r;
  }

  // Passes over recursive CTEs cost passes x CTEs; past this many statements evaluated, the passes stop (see
  // run).
  static constexpr std::size_t kMaxEvaluations = 5000;

  StatementFacts& f_;
  std::size_t evaluations_ = 0;
  Strings strings_;
  Sources reads_;
  Sources writes_;
};

}  // namespace

void addLineage(const json::value& stmt, StatementFacts& facts) {
  Lineage(facts).run(stmt);
}

}  // namespace gatehouse::inspect::sql
