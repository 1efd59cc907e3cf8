// Protected columns from the catalog; see catalog.h.
#include "masking/catalog.h"

#include <fmt/format.h>

#include <algorithm>

namespace gatehouse::masking {

namespace {

uint64_t key(uint32_t oid, int16_t attnum) { return (uint64_t{oid} << 16) | static_cast<uint16_t>(attnum); }

// A dollar-quoted literal whose tag is not in the text (the patterns come from the config, not from clients, but
// a quote in a column name must not break the query).
std::string literal(std::string_view text) {
  // Neither in the text nor completed by the closing delimiter: a text ending in "$gh" would close at `$gh` + `$`.
  const std::string padded = std::string(text) + "$";
  std::string tag = "gh";
  while (padded.find("$" + tag + "$") != std::string::npos) tag += "x";
  return fmt::format("${0}${1}${0}$", tag, text);
}

}  // namespace

std::string catalogQuery(const std::vector<std::string>& patterns, bool other_tables) {
  std::string list;
  for (const auto& p : patterns) list += (list.empty() ? "" : ", ") + literal(p);
  if (list.empty()) list = literal("");
  const std::string candidates = fmt::format(
      "(SELECT attrelid FROM pg_catalog.pg_attribute WHERE attnum > 0 AND NOT attisdropped "
      "AND attname::text ILIKE ANY (ARRAY[{}]::text[]))",
      list);
  constexpr std::string_view kUserSchemas =
      "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'";
  // Relations with a column a rule may name, and every view (a view over a protected column is protected).
  std::string columns = fmt::format(
      "SELECT c.oid::int8, n.nspname, c.relname, a.attnum, a.attname, NULL::int2 "
      "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
      "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
      "WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f', 'm', 'v') AND {} "
      "AND (c.relkind IN ('v', 'm') OR c.oid IN {})",
      kUserSchemas, candidates);
  if (other_tables)
    columns += fmt::format(
        " UNION ALL SELECT c.oid::int8, n.nspname, c.relname, 0::int2, NULL::name, "
        "(SELECT count(*)::int2 FROM pg_catalog.pg_attribute WHERE attrelid = c.oid AND attnum > 0 "
        "AND NOT attisdropped) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p', 'f') AND {} AND c.oid NOT IN {}",
        kUserSchemas, candidates);
  return fmt::format(
      "{} ORDER BY 1, 4; "
      "SELECT DISTINCT r.ev_class::int8, d.refobjid::int8, d.refobjsubid "
      "FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid "
      "WHERE d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass "
      "AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjsubid > 0 "
      "AND r.ev_class <> d.refobjid",
      columns);
}

ProtectedColumns::ProtectedColumns(const Policy& policy, const std::vector<bool>& active,
                                   const std::vector<CatalogColumn>& columns, const std::vector<ViewDependency>& views)
    : policy_(&policy), active_(active) {
  for (std::size_t r = 0; r < policy.rules().size(); ++r)
    any_column_rule_ = any_column_rule_ || (active_[r] && !policy.rules()[r].columns.empty());

  std::unordered_map<uint32_t, std::size_t> rel_index;
  for (const auto& c : columns) {
    auto [it, fresh] = rel_index.emplace(c.rel_oid, relations_.size());
    if (fresh) {
      relations_.push_back(Relation{.schema = c.schema, .table = c.table, .columns = {}, .protected_by_name = {},
                                    .whole = std::nullopt, .plain = std::nullopt});
      by_table_.emplace(c.table, it->second);
    }
    Relation& rel = relations_[it->second];
    if (c.attnum == 0) {
      rel.plain = c.columns;
      continue;
    }
    rel.columns.push_back(c.column);
    if (auto rule = ruleForColumn(c.schema, c.table, c.column)) {
      by_oid_[key(c.rel_oid, c.attnum)] = *rule;
      rel.protected_by_name[c.column] = *rule;
    }
  }
  // A view that uses a protected column (or a protected view) is protected as a whole: which of its columns
  // carries the value is not in the catalog. Views over views: repeat until nothing changes.
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& v : views) {
      std::optional<uint16_t> rule;
      if (auto it = by_oid_.find(key(v.ref_oid, v.ref_attnum)); it != by_oid_.end()) rule = it->second;
      if (auto it = whole_by_oid_.find(v.ref_oid); it != whole_by_oid_.end())
        rule = stricterRule(policy, rule, it->second);
      if (!rule) continue;
      auto [it, fresh] = whole_by_oid_.emplace(v.view_oid, *rule);
      if (!fresh && stricterRule(policy, it->second, rule) != it->second) it->second = *rule, fresh = true;
      changed = changed || fresh;
    }
  }
  for (const auto& [oid, rule] : whole_by_oid_)
    if (auto it = rel_index.find(oid); it != rel_index.end()) relations_[it->second].whole = rule;
}

std::optional<uint16_t> ProtectedColumns::ruleForColumn(std::string_view schema, std::string_view table,
                                                        std::string_view column) const {
  if (!policy_) return std::nullopt;
  const auto& rules = policy_->rules();
  std::optional<uint16_t> out;
  for (std::size_t r = 0; r < rules.size(); ++r) {
    if (!active_[r]) continue;
    for (const auto& g : rules[r].columns) {
      const bool hit = column == "*" ? columnGlobMatch(ColumnGlob{g.schema, g.table, "*"}, schema, table, "x")
                                     : columnGlobMatch(g, schema, table, column);
      if (hit) out = stricterRule(*policy_, out, static_cast<uint16_t>(r));
    }
  }
  return out;
}

std::optional<uint16_t> ProtectedColumns::inRelation(const Relation& r, std::string_view column) const {
  if (r.whole) return r.whole;
  if (column == "*") {
    std::optional<uint16_t> out;
    for (const auto& [name, rule] : r.protected_by_name) out = stricterRule(*policy_, out, rule);
    return out;
  }
  if (auto it = r.protected_by_name.find(column); it != r.protected_by_name.end()) return it->second;
  return std::nullopt;
}

std::optional<uint16_t> ProtectedColumns::byOid(uint32_t rel_oid, int16_t attnum) const {
  if (rel_oid == 0) return std::nullopt;
  if (auto it = by_oid_.find(key(rel_oid, attnum)); it != by_oid_.end()) return it->second;
  if (auto it = whole_by_oid_.find(rel_oid); it != whole_by_oid_.end()) return it->second;
  return std::nullopt;
}

std::optional<uint16_t> ProtectedColumns::byName(std::string_view relation, std::string_view column) const {
  std::string_view schema;
  std::string_view table = relation;
  if (const auto dot = relation.rfind('.'); dot != std::string_view::npos) {
    schema = relation.substr(0, dot);
    table = relation.substr(dot + 1);
  }
  std::optional<uint16_t> out = ruleForColumn(schema, table, column);
  for (auto [it, end] = by_table_.equal_range(table); it != end; ++it) {
    const Relation& r = relations_[it->second];
    if (!schema.empty() && r.schema != schema) continue;
    out = stricterRule(*policy_, out, inRelation(r, column));
  }
  return out;
}

std::optional<int16_t> ProtectedColumns::plainColumns(std::string_view relation) const {
  std::string_view schema;
  std::string_view table = relation;
  if (const auto dot = relation.rfind('.'); dot != std::string_view::npos) {
    schema = relation.substr(0, dot);
    table = relation.substr(dot + 1);
  }
  std::optional<int16_t> out;
  std::size_t matches = 0;
  for (auto [it, end] = by_table_.equal_range(table); it != end; ++it) {
    const Relation& r = relations_[it->second];
    if (!schema.empty() && r.schema != schema) continue;
    ++matches;
    out = r.plain;
  }
  return matches == 1 ? out : std::nullopt;
}

std::vector<const std::vector<std::string>*> ProtectedColumns::columnsOf(std::string_view relation) const {
  std::string_view schema;
  std::string_view table = relation;
  if (const auto dot = relation.rfind('.'); dot != std::string_view::npos) {
    schema = relation.substr(0, dot);
    table = relation.substr(dot + 1);
  }
  std::vector<const std::vector<std::string>*> out;
  for (auto [it, end] = by_table_.equal_range(table); it != end; ++it) {
    const Relation& r = relations_[it->second];
    if (schema.empty() || r.schema == schema) out.push_back(&r.columns);  // a plain table's list is empty
  }
  return out;
}

}  // namespace gatehouse::masking
