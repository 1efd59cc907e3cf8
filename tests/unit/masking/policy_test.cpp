// Masking policy: compiling the config's rules (errors with YAML paths, detectors, globs, styles), which rules
// apply to whom, the LIKE patterns sent to the catalog, and the `masking:` section of gatehouse.yaml.
#include "masking/policy.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/config.h"

namespace gatehouse::masking {
namespace {

const std::string kKey(32, 'k');

core::MaskingRuleConfig rule(std::string name, std::vector<std::string> columns, std::vector<std::string> detectors = {},
                             std::string style = "redact") {
  core::MaskingRuleConfig r;
  r.where = "m.rules[?]";
  r.name = std::move(name);
  r.columns = std::move(columns);
  r.detectors = std::move(detectors);
  r.style = std::move(style);
  return r;
}

core::MaskingConfig config(std::vector<core::MaskingRuleConfig> rules) {
  core::MaskingConfig c;
  c.where = "m";
  for (std::size_t i = 0; i < rules.size(); ++i) rules[i].where = "m.rules[" + std::to_string(i) + "]";
  c.rules = std::move(rules);
  return c;
}

std::string compileError(const core::MaskingConfig& c, std::string key = kKey) {
  auto p = Policy::compile(c, std::move(key));
  if (p) return "(compiled)";
  return p.error().message;
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// ---- Compilation errors ----

TEST(PolicyCompile, RefusesAShortTokenKey) {
  const auto c = config({rule("ssn", {"customers.ssn"})});
  const auto err = compileError(c, std::string(31, 'k'));
  EXPECT_TRUE(contains(err, "m.token_key")) << err;
  EXPECT_TRUE(contains(err, "32 bytes")) << err;
  EXPECT_TRUE(Policy::compile(c, std::string(32, 'k'))) << "32 bytes is enough";
}

TEST(PolicyCompile, UnknownDetectorListsTheKnownOnes) {
  auto c = config({rule("ok", {"t.c"}), rule("content", {}, {"email", "emial"})});
  c.detectors.push_back(core::CustomDetectorConfig{"m.detectors[0]", "order_id", R"(ORD-\d{6})", false});
  const auto err = compileError(c);
  EXPECT_TRUE(contains(err, "m.rules[1].detectors[1]: unknown detector 'emial'")) << err;
  for (const auto* name : {"builtin", "email", "card_number", "us_ssn", "phone", "iban", "ipv4", "ipv6",
                           "aws_access_key_id", "jwt", "pem_private_key", "api_key", "order_id"})
    EXPECT_TRUE(contains(err, name)) << name << " missing from: " << err;
}

TEST(PolicyCompile, RefusesBadColumnGlobs) {
  for (const char* bad : {"ssn", "a.b.c.d", "a..b", ".b.c", "t.", ""}) {
    const auto err = compileError(config({rule("r0", {"t.ok"}), rule("r1", {"public.t.ok", bad})}));
    EXPECT_TRUE(contains(err, "m.rules[1].columns[1]")) << bad << ": " << err;
    EXPECT_TRUE(contains(err, "is not schema.table.column or table.column")) << bad << ": " << err;
  }
}

TEST(PolicyCompile, RefusesAnUnknownStyle) {
  for (const char* bad : {"mask", "Redact", "", "hash"}) {
    const auto err = compileError(config({rule("r0", {"t.a"}), rule("r1", {"t.b"}, {}, bad)}));
    EXPECT_TRUE(contains(err, "m.rules[1].style")) << bad << ": " << err;
    EXPECT_TRUE(contains(err, "is not redact, partial, token or null")) << bad << ": " << err;
  }
  for (const char* good : {"redact", "partial", "token", "null"})
    EXPECT_TRUE(Policy::compile(config({rule("r", {"t.a"}, {}, good)}), kKey)) << good;
}

TEST(PolicyCompile, CustomDetectorNamesMustBeNew) {
  for (const char* bad : {"email", "builtin", "", "mine"}) {
    auto c = config({rule("r", {}, {"email"})});
    c.detectors.push_back(core::CustomDetectorConfig{"m.detectors[0]", "mine", "abc", false});
    c.detectors.push_back(core::CustomDetectorConfig{"m.detectors[1]", bad, "def", false});
    const auto err = compileError(c);
    EXPECT_TRUE(contains(err, "m.detectors[1].name")) << "'" << bad << "': " << err;
    EXPECT_TRUE(contains(err, "reserved or already a detector")) << "'" << bad << "': " << err;
  }
}

TEST(PolicyCompile, AnInvalidCustomPatternNamesTheDetector) {
  auto c = config({rule("r", {}, {"broken"})});
  c.detectors.push_back(core::CustomDetectorConfig{"m.detectors[0]", "broken", "(unclosed", false});
  const auto err = compileError(c);
  EXPECT_TRUE(contains(err, "m.detectors")) << err;
  EXPECT_TRUE(contains(err, "broken")) << err;
}

// ---- What a compiled policy holds ----

TEST(PolicyCompile, BuiltinExpandsToEveryBuiltInDetector) {
  auto p = Policy::compile(config({rule("content", {}, {"builtin"})}), kKey);
  ASSERT_TRUE(p) << p.error().message;
  const auto builtins = builtInDetectors();
  ASSERT_EQ((*p)->rules().size(), 1u);
  ASSERT_EQ((*p)->rules()[0].detectors.size(), builtins.size());
  ASSERT_NE((*p)->detectors(), nullptr);
  ASSERT_EQ((*p)->detectors()->size(), builtins.size());
  std::vector<std::string> names;
  for (auto d : (*p)->rules()[0].detectors) names.push_back((*p)->detectors()->spec(d).name);
  for (const auto& b : builtins)
    EXPECT_NE(std::find(names.begin(), names.end(), b.name), names.end()) << b.name;
}

TEST(PolicyCompile, DetectorsAreSharedBetweenRulesAndOnlyUsedOnesCompiled) {
  auto c = config({rule("a", {}, {"email", "order_id"}), rule("b", {}, {"order_id", "email"}),
                   rule("cols", {"t.c"})});
  c.detectors.push_back(core::CustomDetectorConfig{"m.detectors[0]", "order_id", R"(ORD-\d{6})", true});
  c.detectors.push_back(core::CustomDetectorConfig{"m.detectors[1]", "unused", "zzz", false});
  auto p = Policy::compile(c, kKey);
  ASSERT_TRUE(p) << p.error().message;
  const auto* d = (*p)->detectors();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->size(), 2u) << "email and order_id, once each; 'unused' not compiled";
  const auto& ra = (*p)->rules()[0].detectors;
  const auto& rb = (*p)->rules()[1].detectors;
  ASSERT_EQ(ra.size(), 2u);
  ASSERT_EQ(rb.size(), 2u);
  EXPECT_EQ(ra[0], rb[1]);
  EXPECT_EQ(ra[1], rb[0]);
  EXPECT_EQ(d->spec(ra[1]).name, "order_id");
  EXPECT_TRUE(d->spec(ra[1]).caseless);
  EXPECT_TRUE((*p)->rules()[2].detectors.empty());

  auto found = d->scan("see ord-123456 or x@example.com");
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ(d->spec((*found)[0].detector).name, "order_id") << "caseless custom detector";
  EXPECT_EQ(d->spec((*found)[1].detector).name, "email");
}

TEST(PolicyCompile, NoDetectorsWithoutADetectorRule) {
  auto p = Policy::compile(config({rule("ssn", {"customers.ssn"}, {}, "null")}), kKey);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ((*p)->detectors(), nullptr);
  EXPECT_EQ((*p)->tokenKey(), kKey);
}

TEST(PolicyCompile, RulesKeepTheirStyleAndGlobs) {
  auto r = rule("phone", {"customers.phone", "crm.*.mobile*"}, {}, "partial");
  r.keep = 2;
  r.replacement = "[x]";
  r.groups = {"dev"};
  r.except_groups = {"dba"};
  auto p = Policy::compile(config({r}), kKey);
  ASSERT_TRUE(p) << p.error().message;
  const auto& c = (*p)->rules()[0];
  EXPECT_EQ(c.name, "phone");
  EXPECT_EQ(c.style.style, Style::kPartial);
  EXPECT_EQ(c.style.keep, 2);
  EXPECT_EQ(c.style.replacement, "[x]");
  EXPECT_EQ(c.groups, std::vector<std::string>{"dev"});
  EXPECT_EQ(c.except_groups, std::vector<std::string>{"dba"});
  ASSERT_EQ(c.columns.size(), 2u);
  EXPECT_EQ(c.columns[0].schema, "*") << "table.column means any schema";
  EXPECT_EQ(c.columns[0].table, "customers");
  EXPECT_EQ(c.columns[0].column, "phone");
  EXPECT_EQ(c.columns[1].schema, "crm");
  EXPECT_EQ(c.columns[1].table, "*");
  EXPECT_EQ(c.columns[1].column, "mobile*");
}

// ---- Who a rule applies to ----

TEST(PolicyAppliesTo, GroupsAndExceptGroups) {
  auto everyone = rule("everyone", {"t.a"});
  auto dba_only = rule("dba_only", {"t.b"});
  dba_only.groups = {"dba", "ops"};
  auto not_admin = rule("not_admin", {"t.c"});
  not_admin.except_groups = {"admin"};
  auto dev_not_lead = rule("dev_not_lead", {"t.d"});
  dev_not_lead.groups = {"dev"};
  dev_not_lead.except_groups = {"lead"};
  auto p = Policy::compile(config({everyone, dba_only, not_admin, dev_not_lead}), kKey);
  ASSERT_TRUE(p) << p.error().message;
  using V = std::vector<bool>;
  EXPECT_EQ((*p)->appliesTo({}), (V{true, false, true, false}));
  EXPECT_EQ((*p)->appliesTo({"ops"}), (V{true, true, true, false}));
  EXPECT_EQ((*p)->appliesTo({"admin"}), (V{true, false, false, false}));
  EXPECT_EQ((*p)->appliesTo({"dev"}), (V{true, false, true, true}));
  EXPECT_EQ((*p)->appliesTo({"dev", "lead"}), (V{true, false, true, false})) << "except wins over groups";
  EXPECT_EQ((*p)->appliesTo({"DEV"}), (V{true, false, true, false})) << "group names are exact";
}

// ---- Catalog patterns ----

TEST(PolicyPatterns, ColumnNamePatternsEscapeLikeWildcards) {
  auto p = Policy::compile(config({rule("a", {"customers.ssn", "*.e_mail", "public.t.pct%"}),
                                   rule("b", {"*.*.card*", "other.ssn", "t.back\\slash"}),
                                   rule("content", {}, {"email"})}),
                           kKey);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ((*p)->columnNamePatterns(),
            (std::vector<std::string>{"ssn", "e\\_mail", "pct\\%", "card%", "back\\\\slash"}));
}

TEST(PolicyPatterns, TableWildcards) {
  auto named = Policy::compile(config({rule("a", {"customers.ssn", "*.customers.card", "public.t.x"})}), kKey);
  ASSERT_TRUE(named) << named.error().message;
  EXPECT_FALSE((*named)->anyTableWildcard()) << "a schema wildcard still names its table";
  for (const char* glob : {"*.ssn", "public.*.ssn", "cust*.ssn"}) {
    auto p = Policy::compile(config({rule("a", {"customers.email", glob})}), kKey);
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_TRUE((*p)->anyTableWildcard()) << glob;
  }
}

TEST(PolicyPatterns, NoColumnRulesNoPatterns) {
  auto p = Policy::compile(config({rule("content", {}, {"email"})}), kKey);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_TRUE((*p)->columnNamePatterns().empty());
}

// ---- Glob matching ----

TEST(ColumnGlobMatch, ThreePartGlobs) {
  const ColumnGlob g{"public", "customers", "ssn"};
  EXPECT_TRUE(columnGlobMatch(g, "public", "customers", "ssn"));
  EXPECT_TRUE(columnGlobMatch(g, "PUBLIC", "Customers", "SSN")) << "case-insensitive";
  EXPECT_FALSE(columnGlobMatch(g, "crm", "customers", "ssn"));
  EXPECT_FALSE(columnGlobMatch(g, "public", "customer", "ssn"));
  EXPECT_FALSE(columnGlobMatch(g, "public", "customers", "ssn2"));
  EXPECT_TRUE(columnGlobMatch(g, "", "customers", "ssn")) << "an unqualified relation may be in any schema";
  EXPECT_FALSE(columnGlobMatch(g, "", "customers", "email"));

  const ColumnGlob stars{"crm*", "*", "*_email"};
  EXPECT_TRUE(columnGlobMatch(stars, "crm_eu", "contacts", "work_email"));
  EXPECT_TRUE(columnGlobMatch(stars, "CRM", "x", "_EMAIL"));
  EXPECT_FALSE(columnGlobMatch(stars, "public", "contacts", "work_email"));
  EXPECT_FALSE(columnGlobMatch(stars, "crm", "contacts", "email"));
}

TEST(ColumnGlobMatch, TwoPartGlobsFromTheConfigMatchAnySchema) {
  auto p = Policy::compile(config({rule("r", {"cust*.SSN"})}), kKey);
  ASSERT_TRUE(p) << p.error().message;
  const auto& g = (*p)->rules()[0].columns.at(0);
  EXPECT_TRUE(columnGlobMatch(g, "public", "customers", "ssn"));
  EXPECT_TRUE(columnGlobMatch(g, "crm", "CUSTOMER", "ssn"));
  EXPECT_TRUE(columnGlobMatch(g, "", "cust", "Ssn"));
  EXPECT_FALSE(columnGlobMatch(g, "public", "orders", "ssn"));
  EXPECT_FALSE(columnGlobMatch(g, "public", "customers", "ssn_hash"));
}

// ---- gatehouse.yaml `masking:` ----

std::string yamlWith(const std::string& masking) {
  std::string indented;
  std::size_t start = 0;
  while (start < masking.size()) {
    auto nl = masking.find('\n', start);
    if (nl == std::string::npos) nl = masking.size();
    indented += "      " + masking.substr(start, nl - start) + "\n";
    start = nl + 1;
  }
  return "data_dir: data\n"
         "connections:\n"
         "  - name: pg\n"
         "    type: postgres\n"
         "    host: 127.0.0.1\n"
         "    database: app\n"
         "    user: app\n"
         "    allow_groups: [dev]\n"
         "    masking:\n" +
         indented;
}

TEST(MaskingConfig, ParsesEveryField) {
  auto cfg = core::parseConfig(yamlWith(R"(token_key: { env: MASK_KEY }
detectors:
  - { name: order_id, pattern: 'ORD-\d{6}', caseless: true }
rules:
  - name: ssn
    columns: [customers.ssn, "hr.*.ssn"]
    style: "null"
  - name: phone
    columns: [customers.phone]
    style: partial
    keep: 2
    groups: [dev]
    except_groups: [dba]
  - name: content
    detectors: [builtin, order_id]
    replacement: "[redacted]")"),
                               "/base");
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_EQ(cfg->connections.size(), 1u);
  ASSERT_TRUE(cfg->connections[0].masking.has_value());
  const auto& m = *cfg->connections[0].masking;
  EXPECT_EQ(m.where, "connections[0].masking");
  ASSERT_TRUE(m.token_key.has_value());
  EXPECT_EQ(m.token_key->env, "MASK_KEY");
  ASSERT_EQ(m.detectors.size(), 1u);
  EXPECT_EQ(m.detectors[0].where, "connections[0].masking.detectors[0]");
  EXPECT_EQ(m.detectors[0].name, "order_id");
  EXPECT_EQ(m.detectors[0].pattern, R"(ORD-\d{6})");
  EXPECT_TRUE(m.detectors[0].caseless);
  ASSERT_EQ(m.rules.size(), 3u);
  EXPECT_EQ(m.rules[1].where, "connections[0].masking.rules[1]");
  EXPECT_EQ(m.rules[0].columns, (std::vector<std::string>{"customers.ssn", "hr.*.ssn"}));
  EXPECT_EQ(m.rules[0].style, "null");
  EXPECT_EQ(m.rules[1].style, "partial");
  EXPECT_EQ(m.rules[1].keep, 2);
  EXPECT_EQ(m.rules[1].groups, std::vector<std::string>{"dev"});
  EXPECT_EQ(m.rules[1].except_groups, std::vector<std::string>{"dba"});
  EXPECT_EQ(m.rules[2].style, "redact") << "the default style";
  EXPECT_EQ(m.rules[2].keep, 4) << "the default keep";
  EXPECT_EQ(m.rules[2].replacement, "[redacted]");
  EXPECT_EQ(m.rules[2].detectors, (std::vector<std::string>{"builtin", "order_id"}));

  auto p = Policy::compile(m, kKey);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ((*p)->rules()[0].style.style, Style::kNull);
}

TEST(MaskingConfig, ASingleColumnMayBeWrittenWithoutBrackets) {
  auto cfg = core::parseConfig(yamlWith("rules:\n  - { name: a, columns: t.a, detectors: email }"), "/base");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->connections[0].masking->rules.at(0).columns, std::vector<std::string>{"t.a"});
  EXPECT_EQ(cfg->connections[0].masking->rules.at(0).detectors, std::vector<std::string>{"email"});
}

TEST(MaskingConfig, NoMaskingSectionNoMasking) {
  const std::string yaml = yamlWith("rules: []");
  auto cfg = core::parseConfig(yaml.substr(0, yaml.find("    masking:")), "/base");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_FALSE(cfg->connections.at(0).masking.has_value());
}

TEST(MaskingConfig, CompileErrorsCarryTheYamlPath) {
  const std::string yaml = yamlWith(R"(rules:
  - { name: a, columns: [t.a] }
  - { name: b, columns: [t.b], style: scramble })");
  auto cfg = core::parseConfig(yaml, "/base");
  ASSERT_TRUE(cfg) << cfg.error().message;
  const auto err = compileError(*cfg->connections[0].masking);
  EXPECT_EQ(err.rfind("connections[0].masking.rules[1].style:", 0), 0u) << err;

  auto cfg2 = core::parseConfig(yamlWith(R"(rules:
  - { name: a, columns: [t.a, nodot] })"),
                                "/base");
  ASSERT_TRUE(cfg2) << cfg2.error().message;
  const auto err2 = compileError(*cfg2->connections[0].masking);
  EXPECT_EQ(err2.rfind("connections[0].masking.rules[0].columns[1]:", 0), 0u) << err2;

  auto cfg3 = core::parseConfig(yamlWith(R"(rules:
  - { name: a, detectors: [email, nope] })"),
                                "/base");
  ASSERT_TRUE(cfg3) << cfg3.error().message;
  const auto err3 = compileError(*cfg3->connections[0].masking);
  EXPECT_EQ(err3.rfind("connections[0].masking.rules[0].detectors[1]: unknown detector 'nope'", 0), 0u) << err3;

  auto cfg4 = core::parseConfig(yamlWith(R"(token_key: { env: K }
rules:
  - { name: a, columns: [t.a] })"),
                                "/base");
  ASSERT_TRUE(cfg4) << cfg4.error().message;
  const auto err4 = compileError(*cfg4->connections[0].masking, "short");
  EXPECT_EQ(err4.rfind("connections[0].masking.token_key:", 0), 0u) << err4;
}

struct BadMasking {
  const char* masking;
  const char* expected;  // a part of the message
};

class MaskingConfigErrors : public ::testing::TestWithParam<BadMasking> {};

TEST_P(MaskingConfigErrors, NameTheKey) {
  auto cfg = core::parseConfig(yamlWith(GetParam().masking), "/base");
  ASSERT_FALSE(cfg) << "accepted: " << GetParam().masking;
  EXPECT_NE(cfg.error().message.find(GetParam().expected), std::string::npos) << cfg.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    All, MaskingConfigErrors,
    ::testing::Values(
        BadMasking{"rules: []", "connections[0].masking.rules: masking needs a list of rules"},
        BadMasking{"token_key: { env: K }", "connections[0].masking.rules: masking needs a list of rules"},
        BadMasking{"rules: { name: a }", "connections[0].masking.rules: masking needs a list of rules"},
        BadMasking{"rules:\n  - { name: a, columns: [t.a] }\n  - { name: b }",
                   "connections[0].masking.rules[1]: a rule needs 'columns', 'detectors' or both"},
        BadMasking{"rules:\n  - { name: a, columns: [], detectors: [] }",
                   "connections[0].masking.rules[0]: a rule needs 'columns', 'detectors' or both"},
        BadMasking{"rules:\n  - { name: a, columns: [t.a] }\n  - { name: a, columns: [t.b] }",
                   "connections[0].masking.rules[1].name: a second rule named 'a'"},
        BadMasking{"rules:\n  - { columns: [t.a] }", "connections[0].masking.rules[0]: a rule needs a 'name'"},
        BadMasking{"rules:\n  - { name: '', columns: [t.a] }", "connections[0].masking.rules[0].name"},
        BadMasking{"rules:\n  - { name: a, columns: [t.a], keep: 65 }", "connections[0].masking.rules[0].keep"},
        BadMasking{"rules:\n  - { name: a, columns: [t.a], keep: -1 }", "connections[0].masking.rules[0].keep"},
        BadMasking{"rules:\n  - { name: a, columns: [t.a], mask: x }", "connections[0].masking.rules[0]"},
        BadMasking{"rules:\n  - { name: a, columns: { t: a } }", "connections[0].masking.rules[0].columns: expected a list"},
        BadMasking{"rules:\n  - { name: a, columns: [[t.a]] }", "connections[0].masking.rules[0].columns[0]"},
        BadMasking{"token_key: plaintextsecret\nrules:\n  - { name: a, columns: [t.a] }",
                   "connections[0].masking.token_key: plain secrets are not allowed"},
        BadMasking{"detectors: { name: x }\nrules:\n  - { name: a, columns: [t.a] }",
                   "connections[0].masking.detectors: expected a list"},
        BadMasking{"detectors:\n  - { name: x }\nrules:\n  - { name: a, columns: [t.a] }",
                   "connections[0].masking.detectors[0]: a detector needs a 'name' and a 'pattern'"},
        BadMasking{"detectors:\n  - { name: x, pattern: y, caseless: maybe }\nrules:\n  - { name: a, columns: [t.a] }",
                   "connections[0].masking.detectors[0].caseless"},
        BadMasking{"rules:\n  - { name: a, columns: [t.a] }\nextra: 1", "connections[0].masking"}));

}  // namespace
}  // namespace gatehouse::masking
