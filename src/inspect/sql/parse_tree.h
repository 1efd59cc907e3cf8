// Reading libpg_query's JSON parse tree: each node is {"Type": {fields}}; a field may be missing. Shared by the
// analyzer (statement facts) and the lineage pass, which walk the same tree.
#pragma once

#include <boost/json.hpp>

#include <cctype>
#include <string_view>
#include <utility>

namespace gatehouse::inspect::sql::tree {

namespace json = boost::json;

inline const json::object* object(const json::value* v) { return v ? v->if_object() : nullptr; }
inline const json::object* field(const json::object& o, std::string_view key) { return object(o.if_contains(key)); }
inline const json::array* list(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? v->if_array() : nullptr;
}
inline bool flag(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}
inline std::string_view text(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// A node {"Type": {...}}: its type and body, or an empty type.
inline std::pair<std::string_view, const json::object*> node(const json::value& v) {
  const auto* o = v.if_object();
  if (!o || o->size() != 1) return {{}, nullptr};
  const auto& kv = *o->begin();
  const std::string_view type = kv.key();
  if (type.empty() || !std::isupper(static_cast<unsigned char>(type.front()))) return {{}, nullptr};
  return {type, kv.value().if_object()};
}

// The text of a String node ({"String": {"sval": "x"}}), or empty.
inline std::string_view stringNode(const json::value& v) {
  auto [type, body] = node(v);
  return type == "String" && body ? text(*body, "sval") : std::string_view();
}

// A RangeVar, wrapped as a node ({"RangeVar": {...}}, where a field may hold any node) or bare (where the
// field's type is RangeVar itself: InsertStmt.relation, IntoClause.rel, ...): its body, or null.
inline const json::object* rangeVar(const json::value* v) {
  if (!v) return nullptr;
  if (auto [type, body] = node(*v); type == "RangeVar") return body;
  const auto* o = v->if_object();
  return o && o->if_contains("relname") ? o : nullptr;
}

}  // namespace gatehouse::inspect::sql::tree
