// Masking policy compilation; see policy.h.
#include "masking/policy.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "policy/guardrails.h"

namespace gatehouse::masking {

namespace {

Result<ColumnGlob> parseGlob(std::string_view text, const std::string& where) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto dot = text.find('.', start);
    parts.emplace_back(text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  const bool empty_part = std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); });
  if (empty_part || parts.size() < 2 || parts.size() > 3)
    return makeError(fmt::format("{}: '{}' is not schema.table.column or table.column", where, text));
  if (parts.size() == 2) return ColumnGlob{"*", parts[0], parts[1]};
  return ColumnGlob{parts[0], parts[1], parts[2]};
}

// A glob as a LIKE pattern: `*` -> `%`, LIKE's own wildcards escaped.
std::string likePattern(std::string_view glob) {
  std::string out;
  for (char c : glob) {
    if (c == '*') out += '%';
    else if (c == '%' || c == '_' || c == '\\') (out += '\\') += c;
    else out += c;
  }
  return out;
}

}  // namespace

namespace {

int strictness(Style s) {
  switch (s) {
    case Style::kPartial: return 0;
    case Style::kToken: return 1;
    case Style::kRedact: return 2;
    case Style::kNull: return 3;
  }
  return 3;
}

}  // namespace

std::optional<uint16_t> stricterRule(const Policy& policy, std::optional<uint16_t> a, std::optional<uint16_t> b) {
  if (!a) return b;
  if (!b) return a;
  const int sa = strictness(policy.rules()[*a].style.style), sb = strictness(policy.rules()[*b].style.style);
  if (sa != sb) return sa > sb ? a : b;
  return std::min(*a, *b);
}

bool columnGlobMatch(const ColumnGlob& glob, std::string_view schema, std::string_view table, std::string_view column) {
  return (schema.empty() || policy::globMatch(glob.schema, schema)) && policy::globMatch(glob.table, table) &&
         policy::globMatch(glob.column, column);
}

Result<std::shared_ptr<const Policy>> Policy::compile(const core::MaskingConfig& config, std::string token_key) {
  if (token_key.size() < 32) return makeError(config.where + ".token_key: the key must be at least 32 bytes");
  auto policy = std::make_shared<Policy>();
  policy->token_key_ = std::move(token_key);

  // Every detector a rule can name: the built-in ones, then the custom ones (which may not reuse a name).
  std::vector<DetectorSpec> known = builtInDetectors();
  const std::size_t builtin_count = known.size();
  for (const auto& d : config.detectors) {
    const bool taken = std::any_of(known.begin(), known.end(), [&](const DetectorSpec& k) { return k.name == d.name; });
    if (d.name.empty() || d.name == "builtin" || taken)
      return makeError(fmt::format("{}.name: '{}' is empty, reserved or already a detector", d.where, d.name));
    known.push_back(DetectorSpec{d.name, d.pattern, Validator::kNone, d.caseless});
  }

  std::vector<DetectorSpec> used;
  std::map<std::string, uint16_t, std::less<>> used_index;
  auto use = [&](std::size_t k) {
    auto [it, fresh] = used_index.emplace(known[k].name, static_cast<uint16_t>(used.size()));
    if (fresh) used.push_back(known[k]);
    return it->second;
  };

  for (const auto& rc : config.rules) {
    Rule rule;
    rule.name = rc.name;
    rule.groups = rc.groups;
    rule.except_groups = rc.except_groups;
    for (std::size_t i = 0; i < rc.columns.size(); ++i) {
      auto glob = parseGlob(rc.columns[i], fmt::format("{}.columns[{}]", rc.where, i));
      if (!glob) return glob.error();
      rule.columns.push_back(std::move(*glob));
    }
    for (std::size_t i = 0; i < rc.detectors.size(); ++i) {
      const auto& name = rc.detectors[i];
      if (name == "builtin") {
        for (std::size_t k = 0; k < builtin_count; ++k) rule.detectors.push_back(use(k));
        continue;
      }
      const auto k = std::find_if(known.begin(), known.end(), [&](const DetectorSpec& s) { return s.name == name; });
      if (k == known.end()) {
        std::string names = "builtin";
        for (const auto& s : known) names += ", " + s.name;
        return makeError(fmt::format("{}.detectors[{}]: unknown detector '{}' (known: {})", rc.where, i, name, names));
      }
      rule.detectors.push_back(use(static_cast<std::size_t>(k - known.begin())));
    }
    const auto style = styleFromName(rc.style);
    if (!style)
      return makeError(fmt::format("{}.style: '{}' is not redact, partial, token or null", rc.where, rc.style));
    rule.style = StyleSpec{.style = *style, .keep = rc.keep, .replacement = rc.replacement};
    policy->rules_.push_back(std::move(rule));
  }
  if (!used.empty()) {
    auto compiled = Detectors::compile(std::move(used));
    if (!compiled) return makeError(config.where + ".detectors: " + compiled.error().message);
    policy->detectors_ = std::move(*compiled);
  }
  return std::shared_ptr<const Policy>(std::move(policy));
}

std::vector<bool> Policy::appliesTo(const std::vector<std::string>& groups) const {
  auto member = [&](const std::vector<std::string>& of) {
    return std::any_of(of.begin(), of.end(),
                       [&](const std::string& g) { return std::find(groups.begin(), groups.end(), g) != groups.end(); });
  };
  std::vector<bool> out;
  out.reserve(rules_.size());
  for (const auto& r : rules_) out.push_back((r.groups.empty() || member(r.groups)) && !member(r.except_groups));
  return out;
}

bool Policy::anyTableWildcard() const {
  for (const auto& r : rules_)
    for (const auto& c : r.columns)
      if (c.table.find('*') != std::string::npos) return true;
  return false;
}

std::vector<std::string> Policy::columnNamePatterns() const {
  std::vector<std::string> out;
  for (const auto& r : rules_)
    for (const auto& c : r.columns) {
      auto p = likePattern(c.column);
      if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(std::move(p));
    }
  return out;
}

}  // namespace gatehouse::masking
