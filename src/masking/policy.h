// A connection's masking policy, compiled from the config: its rules (columns by glob, content detectors, a style,
// the groups it concerns) and one Hyperscan database with every detector any rule uses. Built once at start,
// shared read-only by every session of the connection; each session picks the rules that apply to its identity.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/result.h"
#include "masking/detectors.h"
#include "masking/styles.h"

namespace gatehouse::masking {

// schema.table.column, each part a glob (`*` any run, case-insensitive); an empty schema matches any schema.
struct ColumnGlob {
  std::string schema;
  std::string table;
  std::string column;
};

struct Rule {
  std::string name;
  std::vector<ColumnGlob> columns;
  std::vector<uint16_t> detectors;  // indices into Policy::detectors()
  StyleSpec style;
  std::vector<std::string> groups;         // empty: everyone
  std::vector<std::string> except_groups;  // members of these are exempt
};

class Policy {
 public:
  // `token_key`: the secret of the token style (at least 32 bytes).
  static Result<std::shared_ptr<const Policy>> compile(const core::MaskingConfig& config, std::string token_key);

  const std::vector<Rule>& rules() const { return rules_; }
  // Null when no rule uses a detector.
  const Detectors* detectors() const { return detectors_.get(); }
  const std::string& tokenKey() const { return token_key_; }

  // Which rules apply to a member of `groups` (one flag per rule).
  std::vector<bool> appliesTo(const std::vector<std::string>& groups) const;
  // SQL LIKE patterns for the column names any column rule can match: the gateway asks the catalog only about
  // relations with such a column.
  std::vector<std::string> columnNamePatterns() const;
  // Whether a column rule's table part has a wildcard (`*.ssn`): it names columns of tables yet unseen.
  bool anyTableWildcard() const;

 private:
  std::vector<Rule> rules_;
  std::shared_ptr<const Detectors> detectors_;
  std::string token_key_;
};

// Of two rules covering one value, the one that reveals less (null > redact > token > partial; the earlier rule
// on a tie): a value derived from several protected columns is masked by the strictest of their rules.
std::optional<uint16_t> stricterRule(const Policy& policy, std::optional<uint16_t> a, std::optional<uint16_t> b);

// Whether a column glob matches a column of schema.table. An empty `schema` (a relation named without one)
// matches any schema pattern: the relation could be in any schema on the search path.
bool columnGlobMatch(const ColumnGlob& glob, std::string_view schema, std::string_view table, std::string_view column);

}  // namespace gatehouse::masking
