// ProtectedColumns from catalog rows (tables, views over protected columns, names as statements write them) and
// the login catalog query (its patterns quoted so that any column name leaves it valid SQL).
#include "masking/catalog.h"

#include <gtest/gtest.h>

#include "inspect/sql/analyzer.h"

namespace gatehouse::masking {
namespace {

const std::string kKey(32, 'k');

core::MaskingRuleConfig rule(std::string name, std::vector<std::string> columns, std::vector<std::string> detectors,
                             std::string style) {
  core::MaskingRuleConfig r;
  r.where = "m.rules[" + name + "]";
  r.name = std::move(name);
  r.columns = std::move(columns);
  r.detectors = std::move(detectors);
  r.style = std::move(style);
  return r;
}

// Rules: 0 ssn (any schema), 1 email (public only, and any contact_email), 2 phone (crm only, group support),
// 3 content (email detector).
std::shared_ptr<const Policy> makePolicy() {
  core::MaskingConfig c;
  c.where = "m";
  c.rules.push_back(rule("ssn", {"customers.ssn"}, {}, "null"));
  c.rules.push_back(rule("email", {"public.customers.email", "*.*.contact_email"}, {}, "token"));
  auto phone = rule("phone", {"crm.*.phone"}, {}, "partial");
  phone.groups = {"support"};
  c.rules.push_back(phone);
  c.rules.push_back(rule("content", {}, {"email"}, "redact"));
  auto p = Policy::compile(c, kKey);
  EXPECT_TRUE(p) << p.error().message;
  return *p;
}

constexpr uint32_t kCustomers = 16384, kCrmCustomers = 16500, kView = 16600, kViewOfView = 16700,
                   kSafeView = 16800, kLeads = 16900, kBothView = 16950;

std::vector<CatalogColumn> catalogRows() {
  std::vector<CatalogColumn> rows;
  auto add = [&](uint32_t oid, const char* schema, const char* table, std::vector<const char*> cols) {
    int16_t n = 0;
    for (const auto* c : cols) rows.push_back(CatalogColumn{oid, ++n, schema, table, c});
  };
  add(kCustomers, "public", "customers", {"id", "name", "email", "phone", "ssn", "notes"});
  add(kCrmCustomers, "crm", "customers", {"id", "ssn", "phone"});
  add(kView, "public", "v_customers", {"id", "label"});
  add(kViewOfView, "public", "v_v", {"label"});
  add(kSafeView, "public", "v_safe", {"id", "name"});
  add(kLeads, "sales", "leads", {"contact_email", "company"});
  add(kBothView, "public", "v_both", {"x"});
  return rows;
}

std::vector<ViewDependency> viewRows() {
  return {
      {kView, kCustomers, 1},          // v_customers: id, and ssn (as label)
      {kView, kCustomers, 5},
      {kViewOfView, kView, 2},         // v_v over v_customers.label
      {kSafeView, kCustomers, 1},      // v_safe: id and name only
      {kSafeView, kCustomers, 2},
      {kBothView, kCustomers, 3},      // v_both: email (rule 1) and ssn (rule 0)
      {kBothView, kCustomers, 5},
  };
}

class Catalog : public ::testing::Test {
 protected:
  ProtectedColumns build(std::vector<bool> active) {
    return ProtectedColumns(*policy, active, catalogRows(), viewRows());
  }
  std::shared_ptr<const Policy> policy = makePolicy();
  const std::vector<bool> all{true, true, true, true};
  const std::vector<bool> no_support{true, true, false, true};
};

using R = std::optional<uint16_t>;

TEST_F(Catalog, ProtectedColumnsByOid) {
  const auto pc = build(all);
  EXPECT_EQ(pc.byOid(kCustomers, 5), R(0)) << "public.customers.ssn";
  EXPECT_EQ(pc.byOid(kCustomers, 3), R(1)) << "public.customers.email";
  EXPECT_EQ(pc.byOid(kCustomers, 1), R()) << "id";
  EXPECT_EQ(pc.byOid(kCustomers, 6), R()) << "notes: only content detectors";
  EXPECT_EQ(pc.byOid(kCustomers, 4), R()) << "the phone rule is for crm only";
  EXPECT_EQ(pc.byOid(kCrmCustomers, 2), R(0)) << "customers.ssn is any schema";
  EXPECT_EQ(pc.byOid(kCrmCustomers, 3), R(2));
  EXPECT_EQ(pc.byOid(kCrmCustomers, 1), R());
  EXPECT_EQ(pc.byOid(kLeads, 1), R(1));
  EXPECT_EQ(pc.byOid(kLeads, 2), R());
  EXPECT_EQ(pc.byOid(0, 5), R()) << "OID 0: not a column reference";
  EXPECT_EQ(pc.byOid(99999, 1), R()) << "unknown relation";
  EXPECT_TRUE(pc.anyColumnRule());
}

TEST_F(Catalog, AViewOverAProtectedColumnIsProtectedWhole) {
  const auto pc = build(all);
  EXPECT_EQ(pc.byOid(kView, 1), R(0)) << "even its id column: which column carries ssn is not known";
  EXPECT_EQ(pc.byOid(kView, 2), R(0));
  EXPECT_EQ(pc.byOid(kViewOfView, 1), R(0)) << "a view over that view";
  EXPECT_EQ(pc.byOid(kSafeView, 1), R());
  EXPECT_EQ(pc.byOid(kSafeView, 2), R());
  EXPECT_EQ(pc.byOid(kBothView, 1), R(0)) << "the lowest rule of those it depends on";

  EXPECT_EQ(pc.byName("v_customers", "id"), R(0));
  EXPECT_EQ(pc.byName("public.v_v", "label"), R(0));
  EXPECT_EQ(pc.byName("v_v", "*"), R(0));
  EXPECT_EQ(pc.byName("v_safe", "name"), R());
  EXPECT_EQ(pc.byName("public.v_safe", "id"), R());
  // "*" over a relation also asks the globs: *.*.contact_email names a column of any table.
  EXPECT_EQ(pc.byName("public.v_safe", "*"), R(1));
}

TEST_F(Catalog, ViewChainsInAnyOrderOfRows) {
  // The dependency of v_v on v_customers comes first: the loop must go round again.
  auto views = viewRows();
  std::reverse(views.begin(), views.end());
  const ProtectedColumns pc(*policy, all, catalogRows(), views);
  EXPECT_EQ(pc.byOid(kViewOfView, 1), R(0));
  EXPECT_EQ(pc.byName("v_v", "label"), R(0));
}

TEST_F(Catalog, ByNameQualifiedUnqualifiedAndStar) {
  const auto pc = build(all);
  EXPECT_EQ(pc.byName("customers", "ssn"), R(0));
  EXPECT_EQ(pc.byName("public.customers", "ssn"), R(0));
  EXPECT_EQ(pc.byName("crm.customers", "ssn"), R(0));
  EXPECT_EQ(pc.byName("public.customers", "email"), R(1));
  EXPECT_EQ(pc.byName("customers", "email"), R(1)) << "unqualified: could be public.customers";
  EXPECT_EQ(pc.byName("crm.customers", "email"), R()) << "the email rule names public only";
  EXPECT_EQ(pc.byName("crm.customers", "phone"), R(2));
  EXPECT_EQ(pc.byName("public.customers", "phone"), R());
  EXPECT_EQ(pc.byName("customers", "phone"), R(2)) << "unqualified: could be crm.customers";
  EXPECT_EQ(pc.byName("customers", "id"), R());
  EXPECT_EQ(pc.byName("public.customers", "notes"), R());
  EXPECT_EQ(pc.byName("customers", "*"), R(0)) << "some column of it is protected; the lowest rule";
  EXPECT_EQ(pc.byName("crm.customers", "*"), R(0));
  EXPECT_EQ(pc.byName("sales.leads", "*"), R(1));
  EXPECT_EQ(pc.byName("leads", "company"), R());
}

TEST_F(Catalog, RelationsUnknownToTheCatalogMatchTheGlobsDirectly) {
  const auto pc = build(all);
  EXPECT_EQ(pc.byName("archive.customers", "ssn"), R(0)) << "created after login";
  EXPECT_EQ(pc.byName("new_leads", "contact_email"), R(1));
  EXPECT_EQ(pc.byName("public.customers", "contact_email"), R(1)) << "a column added after login";
  EXPECT_EQ(pc.byName("crm.new_table", "phone"), R(2));
  EXPECT_EQ(pc.byName("orders", "ssn"), R());
  EXPECT_EQ(pc.byName("orders", "id"), R());
  EXPECT_EQ(pc.byName("archive.customers", "*"), R(0));
  // *.*.contact_email may name a column of any table unknown to the catalog (added after login): fail closed.
  EXPECT_EQ(pc.byName("orders", "*"), R(1));
}

TEST_F(Catalog, TablesWithNothingARuleCanNameAreKnownByTheirColumnCount) {
  auto rows = catalogRows();
  rows.push_back(CatalogColumn{.rel_oid = 17000, .attnum = 0, .schema = "public", .table = "invoices", .column = "",
                               .columns = 3});
  rows.push_back(CatalogColumn{.rel_oid = 17001, .attnum = 0, .schema = "public", .table = "notes", .column = "",
                               .columns = 2});
  rows.push_back(CatalogColumn{.rel_oid = 17002, .attnum = 0, .schema = "archive", .table = "notes", .column = "",
                               .columns = 4});
  const ProtectedColumns pc(*policy, all, rows, viewRows());
  EXPECT_EQ(pc.plainColumns("invoices"), std::optional<int16_t>(3));
  EXPECT_EQ(pc.plainColumns("public.invoices"), std::optional<int16_t>(3));
  EXPECT_EQ(pc.plainColumns("crm.invoices"), std::nullopt) << "not that schema's";
  EXPECT_EQ(pc.plainColumns("notes"), std::nullopt) << "two schemas have one: which is meant is not known";
  EXPECT_EQ(pc.plainColumns("archive.notes"), std::optional<int16_t>(4));
  EXPECT_EQ(pc.plainColumns("customers"), std::nullopt) << "it has protected columns";
  EXPECT_EQ(pc.plainColumns("unknown_table"), std::nullopt);
  EXPECT_EQ(pc.byName("invoices", "contact_email"), R(1)) << "a column added after login still matches the globs";
  EXPECT_TRUE(pc.columnsOf("invoices").size() == 1 && pc.columnsOf("invoices")[0]->empty());
}

TEST_F(Catalog, RulesNotActiveForTheSessionAreIgnored) {
  const auto pc = build(no_support);
  EXPECT_EQ(pc.byOid(kCrmCustomers, 3), R());
  EXPECT_EQ(pc.byName("crm.customers", "phone"), R());
  EXPECT_EQ(pc.byName("crm.new_table", "phone"), R());
  EXPECT_EQ(pc.byOid(kCrmCustomers, 2), R(0)) << "the other rules still hold";

  const auto no_ssn = build({false, true, true, true});
  EXPECT_EQ(no_ssn.byOid(kCustomers, 5), R());
  EXPECT_EQ(no_ssn.byOid(kView, 1), R()) << "the view depends on nothing protected for this session";
  EXPECT_EQ(no_ssn.byOid(kViewOfView, 1), R());
  EXPECT_EQ(no_ssn.byOid(kBothView, 1), R(1)) << "still over email";
  EXPECT_EQ(no_ssn.byName("customers", "ssn"), R());

  const auto content_only = build({false, false, false, true});
  EXPECT_FALSE(content_only.anyColumnRule());
  EXPECT_EQ(content_only.byName("customers", "*"), R());
  EXPECT_EQ(content_only.byOid(kCustomers, 3), R());
}

TEST_F(Catalog, ColumnsOfInOrderPerMatchingRelation) {
  const auto pc = build(all);
  const auto pub = pc.columnsOf("public.customers");
  ASSERT_EQ(pub.size(), 1u);
  EXPECT_EQ(*pub[0], (std::vector<std::string>{"id", "name", "email", "phone", "ssn", "notes"}));
  const auto crm = pc.columnsOf("crm.customers");
  ASSERT_EQ(crm.size(), 1u);
  EXPECT_EQ(*crm[0], (std::vector<std::string>{"id", "ssn", "phone"}));
  EXPECT_EQ(pc.columnsOf("customers").size(), 2u) << "an unqualified name matches both schemas";
  EXPECT_TRUE(pc.columnsOf("other.customers").empty());
  EXPECT_TRUE(pc.columnsOf("orders").empty());
  ASSERT_EQ(pc.columnsOf("v_customers").size(), 1u);
  EXPECT_EQ(*pc.columnsOf("v_customers")[0], (std::vector<std::string>{"id", "label"}));
}

TEST(CatalogEmpty, DefaultProtectsNothing) {
  const ProtectedColumns pc;
  EXPECT_FALSE(pc.anyColumnRule());
  EXPECT_EQ(pc.byOid(kCustomers, 5), R());
  EXPECT_EQ(pc.byName("customers", "ssn"), R());
  EXPECT_TRUE(pc.columnsOf("customers").empty());
}

// ---- The login query ----

// The number of statements the query parses into (0: it does not parse).
std::size_t statements(const std::string& sql) {
  auto facts = inspect::sql::analyze(sql);
  return facts ? facts->size() : 0;
}

TEST(CatalogQuery, PatternsAreDollarQuoted) {
  const auto q = catalogQuery({"ssn", "e\\_mail", "card%"});
  EXPECT_NE(q.find("ARRAY[$gh$ssn$gh$, $gh$e\\_mail$gh$, $gh$card%$gh$]"), std::string::npos) << q;
  EXPECT_NE(q.find("ILIKE ANY"), std::string::npos) << q;
  EXPECT_EQ(statements(q), 2u) << q;
}

TEST(CatalogQuery, OtherTablesAreAskedForOnlyWhenATableGlobHasAWildcard) {
  const auto q = catalogQuery({"ssn"}, true);
  EXPECT_NE(q.find("UNION ALL"), std::string::npos) << q;
  EXPECT_EQ(statements(q), 2u) << q;
  EXPECT_EQ(catalogQuery({"ssn"}).find("UNION ALL"), std::string::npos);
}

TEST(CatalogQuery, NoPatternsStillValid) {
  const auto q = catalogQuery({});
  EXPECT_NE(q.find("ARRAY[$gh$$gh$]"), std::string::npos) << q;
  EXPECT_EQ(statements(q), 2u) << q;
}

TEST(CatalogQuery, ATagInsideAPatternChangesTheTag) {
  const auto q = catalogQuery({"a$gh$b", "ok"});
  EXPECT_NE(q.find("$ghx$a$gh$b$ghx$"), std::string::npos) << q;
  EXPECT_NE(q.find("$gh$ok$gh$"), std::string::npos) << q;
  EXPECT_EQ(statements(q), 2u) << q;

  const auto q2 = catalogQuery({"$gh$$ghx$"});
  EXPECT_NE(q2.find("$ghxx$$gh$$ghx$$ghxx$"), std::string::npos) << q2;
  EXPECT_EQ(statements(q2), 2u) << q2;
}

TEST(CatalogQuery, QuotesAndDollarsInPatternsKeepTheQueryValid) {
  for (const char* p : {"o'brien", "a\"b", "x$", "$", "$$", "gh$", "a;b", "x$gh", "x$g", "$gh", "e\\"}) {
    const auto q = catalogQuery({p});
    EXPECT_EQ(statements(q), 2u) << "pattern [" << p << "]: " << q;
  }
}

}  // namespace
}  // namespace gatehouse::masking
