// Which columns of the database a session must not see in clear: the policy's column rules matched against the
// backend's catalog at login, so that a result column is recognised by the table OID and column number its
// RowDescription carries, and a view over a protected column is protected too (PostgreSQL reports a view's own
// OID for its columns). Pure: built from catalog rows the gateway fetched.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "masking/policy.h"

namespace gatehouse::masking {

// A column of a relation (table, view, materialized view, foreign table), from pg_attribute. Or, with attnum 0, a
// table none of whose columns a rule can name: `columns` is how many it has.
struct CatalogColumn {
  uint32_t rel_oid = 0;
  int16_t attnum = 0;
  std::string schema;
  std::string table;
  std::string column;
  int16_t columns = 0;
};

// A view (or materialized view) whose definition uses a relation's column, from pg_depend on its rewrite rule.
struct ViewDependency {
  uint32_t view_oid = 0;
  uint32_t ref_oid = 0;
  int16_t ref_attnum = 0;
};

// The SQL the gateway runs at login to fill a catalog; `patterns` from Policy::columnNamePatterns(). Two
// statements: the columns of candidate relations (and of every view), then the views' column dependencies. With
// `other_tables` (a rule's table glob has a wildcard), the first also names every other table, with its number of
// columns: a COPY of one can then be told to hold nothing protected. Six columns: oid, schema, table, attnum,
// column name, number of columns.
std::string catalogQuery(const std::vector<std::string>& patterns, bool other_tables = false);

class ProtectedColumns {
 public:
  ProtectedColumns() = default;
  // `active`: which of the policy's rules apply to the session (Policy::appliesTo).
  ProtectedColumns(const Policy& policy, const std::vector<bool>& active, const std::vector<CatalogColumn>& columns,
                   const std::vector<ViewDependency>& views);

  // The rule protecting a result column, by the table OID and column number of its RowDescription; nullopt when
  // none (or the column is not a plain column reference: OID 0).
  std::optional<uint16_t> byOid(uint32_t rel_oid, int16_t attnum) const;
  // The rule protecting `column` of `relation` as a statement names it ("schema.table" or "table": then any
  // schema). `column` "*" asks whether any of its columns is protected. Relations unknown to the catalog (created
  // after login) are matched against the rules' globs directly.
  std::optional<uint16_t> byName(std::string_view relation, std::string_view column) const;
  // A relation's columns in order (what COPY relation TO writes), when the catalog has it: one entry per
  // matching relation (an unqualified name may match several schemas).
  std::vector<const std::vector<std::string>*> columnsOf(std::string_view relation) const;
  // For a table the catalog named as holding no column a rule can name (and the only relation of that name): how
  // many columns it had at login.
  std::optional<int16_t> plainColumns(std::string_view relation) const;

  bool anyColumnRule() const { return any_column_rule_; }

 private:
  struct Relation {
    std::string schema;
    std::string table;
    std::vector<std::string> columns;                 // in attnum order
    std::map<std::string, uint16_t, std::less<>> protected_by_name;  // column -> rule
    std::optional<uint16_t> whole;                     // a view over a protected column: all its columns
    std::optional<int16_t> plain;                      // no column a rule can name; how many columns it has
  };
  std::optional<uint16_t> ruleForColumn(std::string_view schema, std::string_view table, std::string_view column) const;
  std::optional<uint16_t> inRelation(const Relation& r, std::string_view column) const;

  const Policy* policy_ = nullptr;
  std::vector<bool> active_;
  bool any_column_rule_ = false;
  std::unordered_map<uint64_t, uint16_t> by_oid_;  // (oid << 16 | attnum) -> rule
  std::unordered_map<uint32_t, uint16_t> whole_by_oid_;
  std::vector<Relation> relations_;
  std::multimap<std::string, std::size_t, std::less<>> by_table_;  // table name -> relations_
};

}  // namespace gatehouse::masking
