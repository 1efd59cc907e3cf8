// Lineage, for masking: which relation columns each output (and each stored or sent value) derives from.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "inspect/sql/analyzer.h"
#include "inspect/sql/facts_cache.h"

namespace gatehouse::inspect::sql {
namespace {

using Strs = std::vector<std::string>;

StatementFacts one(std::string_view sql) {
  auto r = analyze(sql);
  EXPECT_TRUE(r) << sql << ": " << (r ? "" : r.error().message);
  if (!r) return {};
  EXPECT_EQ(r->size(), 1u) << sql;
  return r->empty() ? StatementFacts{} : r->front();
}

// Sources as "relation.column", space-separated.
std::string str(const std::vector<ColumnSource>& sources) {
  std::string out;
  for (const auto& s : sources) {
    if (!out.empty()) out += ' ';
    out += s.relation + "." + s.column;
  }
  return out;
}

// Outputs, one string each: its sources, after "*" for a star.
Strs outputs(const StatementFacts& f) {
  Strs out;
  for (const auto& o : f.outputs) out.push_back((o.star ? "*" : "") + str(o.sources));
  return out;
}
Strs outputs(std::string_view sql) {
  const auto f = one(sql);
  EXPECT_FALSE(f.outputs_ambiguous) << sql;
  return outputs(f);
}
std::string reads(std::string_view sql) {
  return str(one(sql).reads);
}
std::string writes(std::string_view sql) {
  return str(one(sql).writes_from);
}

TEST(Lineage, PlainColumnsAndAliases) {
  EXPECT_EQ(outputs("SELECT email, id FROM customers"), (Strs{"customers.email", "customers.id"}));
  EXPECT_EQ(outputs("SELECT c.email AS e FROM customers c"), Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT customers.email FROM customers"), Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT s.customers.email FROM s.customers"), Strs{"s.customers.email"});
  EXPECT_EQ(outputs("SELECT customers.email FROM public.customers"), Strs{"public.customers.email"});
  EXPECT_EQ(outputs("SELECT 1, 'x', now()"), (Strs{"", "", ""}));
}

TEST(Lineage, ExpressionsCarryTheirColumns) {
  for (const char* sql :
       {"SELECT upper(email) FROM customers", "SELECT email || 'x' FROM customers",
        "SELECT email::text FROM customers", "SELECT CAST(email AS varchar(10)) FROM customers",
        "SELECT CASE WHEN id > 0 THEN email END FROM customers",
        "SELECT coalesce(NULL, email) FROM customers", "SELECT nullif(email, '') FROM customers",
        "SELECT email COLLATE \"C\" FROM customers", "SELECT ARRAY[email] FROM customers",
        "SELECT ROW(email, 1) FROM customers", "SELECT greatest(email, 'a') FROM customers",
        "SELECT substring(email from 2 for 3) FROM customers", "SELECT (email).x FROM customers"}) {
    const auto f = one(sql);
    ASSERT_EQ(f.outputs.size(), 1u) << sql;
    EXPECT_NE(str(f.outputs[0].sources).find("customers.email"), std::string::npos) << sql;
  }
  EXPECT_EQ(outputs("SELECT CASE WHEN id > 0 THEN email ELSE name END FROM customers"),
            Strs{"customers.email customers.id customers.name"});
}

TEST(Lineage, AggregatesAndRowsToJson) {
  EXPECT_EQ(outputs("SELECT array_agg(email) FROM customers"), Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT string_agg(email, ',') FROM customers"), Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT count(*) FILTER (WHERE vip) FROM customers"), Strs{"customers.vip"});
  EXPECT_EQ(outputs("SELECT string_agg(name, ',' ORDER BY email) FROM customers"),
            Strs{"customers.email customers.name"});
  // A FROM item's name is a whole row (and, unqualified, perhaps a column of that name).
  EXPECT_EQ(outputs("SELECT row_to_json(c) FROM customers c"), Strs{"customers.* customers.c"});
  EXPECT_EQ(outputs("SELECT json_agg(c) FROM customers c"), Strs{"customers.* customers.c"});
  EXPECT_EQ(outputs("SELECT to_jsonb(c.*) FROM customers c"), Strs{"customers.*"});
  EXPECT_EQ(outputs("SELECT row_to_json(customers) FROM customers"), Strs{"customers.* customers.customers"});
  EXPECT_EQ(outputs("SELECT (c).email FROM customers c"), Strs{"customers.* customers.c"});
}

TEST(Lineage, StarsStayUnexpandedOverBaseRelations) {
  EXPECT_EQ(outputs("SELECT * FROM customers"), Strs{"*customers.*"});
  EXPECT_EQ(outputs("TABLE customers"), Strs{"*customers.*"});
  EXPECT_EQ(outputs("SELECT c.*, 1 FROM customers c"), (Strs{"*customers.*", ""}));
  EXPECT_EQ(outputs("SELECT * FROM customers c JOIN orders o ON c.id = o.cid"),
            Strs{"*customers.* orders.*"});
  EXPECT_EQ(outputs("SELECT o.*, c.email FROM customers c JOIN orders o USING (id)"),
            (Strs{"*orders.*", "customers.email"}));
  EXPECT_EQ(outputs("SELECT * FROM s.t"), Strs{"*s.t.*"});
}

TEST(Lineage, SubqueriesInFromExpandByName) {
  EXPECT_EQ(outputs("SELECT e FROM (SELECT email AS e FROM customers) s"), Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT s.e FROM (SELECT email AS e, id FROM customers) s"), Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT * FROM (SELECT email AS e, id FROM customers) s"),
            (Strs{"customers.email", "customers.id"}));
  EXPECT_EQ(outputs("SELECT x FROM (SELECT email, id FROM customers) s(x, y)"), Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT s.upper FROM (SELECT upper(email) FROM customers) s"), Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT s.email FROM (SELECT * FROM customers) s"), Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT * FROM (SELECT * FROM customers) s"), Strs{"*customers.*"});
  // A subquery and a table: expanded, then the table's star, in order.
  EXPECT_EQ(outputs("SELECT * FROM (SELECT email FROM customers) s, orders"),
            (Strs{"customers.email", "*orders.*"}));
  // A name this pass cannot place, qualified by the subquery, takes all of it.
  EXPECT_EQ(outputs("SELECT s.nope FROM (SELECT email, id FROM customers) s"),
            Strs{"customers.email customers.id"});
}

TEST(Lineage, UnnamedOutputsTakePostgresNames) {
  // A wrong name would fall back to the whole subquery, id included.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"upper(email)", "upper"},
      {"email::text", "email"},
      {"(email || 'x')::text", "text"},
      {"CASE WHEN true THEN email END", "case"},
      {"coalesce(email, '')", "coalesce"},
      {"nullif(email, '')", "nullif"},
      {"ARRAY[email]", "array"},
      {"ROW(email)", "row"},
      {"greatest(email, 'a')", "greatest"},
      {"(SELECT email)", "email"},
      {"(SELECT max(email) AS m)", "m"},
      {"ARRAY(SELECT email)", "array"},
      {"EXISTS (SELECT email)", "exists"},
      {"email COLLATE \"C\"", "email"},
      {"xmlelement(name x, email)", "xmlelement"}};
  for (const auto& [expr, name] : cases) {
    const auto sql = "SELECT s." + name + " FROM (SELECT " + expr + ", id FROM customers) s";
    EXPECT_EQ(outputs(sql), Strs{"customers.email"}) << sql;
  }
  EXPECT_EQ(outputs("SELECT s.\"?column?\" FROM (SELECT email || 'x', id FROM customers) s"),
            Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT s.column2 FROM (VALUES (1, 2)) s"), Strs{""});
}

TEST(Lineage, UnqualifiedColumnsMayComeFromAnyTableInScope) {
  EXPECT_EQ(outputs("SELECT email FROM customers c JOIN orders o ON c.id = o.cid"),
            Strs{"customers.email orders.email"});
  EXPECT_EQ(reads("SELECT c.email FROM customers c JOIN orders o ON c.id = o.cid"),
            "customers.email customers.id orders.cid");
  EXPECT_EQ(outputs("SELECT id FROM customers JOIN orders USING (id)"), Strs{"customers.id orders.id"});
}

TEST(Lineage, ScalarAndCorrelatedSubqueries) {
  EXPECT_EQ(outputs("SELECT (SELECT email FROM customers LIMIT 1)"), Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT o.id, (SELECT c.email FROM customers c WHERE c.id = o.cid) FROM orders o"),
            (Strs{"orders.id", "customers.email"}));
  // Unqualified inside, the outer table may be meant.
  EXPECT_EQ(outputs("SELECT (SELECT email FROM customers c WHERE c.id = o.cid) FROM orders o"),
            Strs{"customers.email orders.email"});
  EXPECT_EQ(outputs("SELECT EXISTS (SELECT 1 FROM customers WHERE email = 'x')"), Strs{""});
  EXPECT_EQ(reads("SELECT EXISTS (SELECT 1 FROM customers WHERE email = 'x')"), "customers.email");
  EXPECT_EQ(outputs("SELECT id FROM orders WHERE cid IN (SELECT id FROM customers WHERE email LIKE 'a%')"),
            Strs{"orders.id"});
}

TEST(Lineage, Ctes) {
  EXPECT_EQ(outputs("WITH x AS (SELECT email AS e FROM customers) SELECT e FROM x"), Strs{"customers.email"});
  EXPECT_EQ(outputs("WITH x(a, b) AS (SELECT email, id FROM customers) SELECT b, a FROM x"),
            (Strs{"customers.id", "customers.email"}));
  EXPECT_EQ(outputs("WITH x AS (SELECT email FROM customers) SELECT * FROM x"), Strs{"customers.email"});
  EXPECT_EQ(outputs("WITH x AS (SELECT * FROM customers) SELECT x.email FROM x"), Strs{"customers.email"});
  // A CTE named like a table hides it; a qualified name never is a CTE.
  EXPECT_EQ(outputs("WITH orders AS (SELECT email FROM customers) SELECT email FROM orders"),
            Strs{"customers.email"});
  EXPECT_EQ(outputs("WITH orders AS (SELECT email FROM customers) SELECT email FROM public.orders"),
            Strs{"public.orders.email"});
  // Nearest WITH wins.
  EXPECT_EQ(
      outputs("WITH x AS (SELECT name FROM a) SELECT (WITH x AS (SELECT email AS name FROM b) SELECT name "
              "FROM x) FROM x"),
      Strs{"a.name b.email"});
}

TEST(Lineage, RecursiveCtes) {
  EXPECT_EQ(
      outputs("WITH RECURSIVE r(n, e) AS (SELECT 1, email FROM customers UNION ALL SELECT n + 1, upper(e) "
              "FROM r WHERE n < 5) SELECT e FROM r"),
      Strs{"customers.email"});
  EXPECT_EQ(
      outputs("WITH RECURSIVE t AS (SELECT id, parent, name FROM nodes UNION SELECT n.id, n.parent, t.name "
              "|| n.secret FROM nodes n JOIN t ON n.parent = t.id) SELECT name FROM t"),
      Strs{"nodes.name nodes.secret"});
  // Its star, seen from the recursive term, has the non-recursive term's shape.
  EXPECT_EQ(
      outputs("WITH RECURSIVE r AS (SELECT id, email FROM customers UNION ALL SELECT r.* FROM r JOIN edges e "
              "ON e.src = r.id) SELECT email FROM r"),
      Strs{"customers.email"});
  EXPECT_EQ(
      outputs("WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT email FROM customers) SELECT * FROM a"),
      Strs{"customers.email"});
}

TEST(Lineage, PathologicalQueriesStayBoundedAndOverApproximate) {
  // A chain of recursive CTEs takes one pass per link: past a budget, anything may come from anything read.
  std::string chain = "WITH RECURSIVE ";
  for (int i = 0; i < 150; ++i)
    chain += "a" + std::to_string(i) + " AS (SELECT 1 AS x UNION ALL SELECT x FROM a" +
             std::to_string(i + 1) + "), ";
  chain += "a150 AS (SELECT email AS x FROM customers UNION ALL SELECT x FROM a150) SELECT x FROM a0";
  const auto f = one(chain);
  EXPECT_TRUE(f.outputs_ambiguous);
  EXPECT_EQ(outputs(f), Strs{"customers.* customers.email"});
  EXPECT_EQ(str(f.writes_from), "customers.* customers.email");
  // Stars over stars double at each step; PostgreSQL's column limit stops them.
  std::string doubling = "WITH c0 AS (SELECT email FROM customers)";
  for (int i = 1; i < 40; ++i)
    doubling += ", c" + std::to_string(i) + " AS (SELECT * FROM c" + std::to_string(i - 1) + " x, c" +
                std::to_string(i - 1) + " y)";
  doubling += " SELECT * FROM c39";
  const auto g = one(doubling);
  EXPECT_TRUE(g.outputs_ambiguous);
  EXPECT_EQ(outputs(g), Strs{"customers.email"});
}

TEST(Lineage, SetOperations) {
  EXPECT_EQ(outputs("SELECT email, id FROM customers UNION SELECT name, id FROM staff"),
            (Strs{"customers.email staff.name", "customers.id staff.id"}));
  EXPECT_EQ(outputs("SELECT a FROM x UNION SELECT b FROM y INTERSECT SELECT c FROM z"), Strs{"x.a y.b z.c"});
  const auto star = one("SELECT email FROM customers UNION ALL SELECT * FROM staff");
  EXPECT_TRUE(star.outputs_ambiguous);
  EXPECT_EQ(outputs(star), Strs{"customers.email staff.*"});
  const auto counts = one("SELECT * FROM (SELECT a FROM x UNION SELECT b FROM y) u");
  EXPECT_FALSE(counts.outputs_ambiguous);
  EXPECT_EQ(outputs(counts), Strs{"x.a y.b"});
  const auto through = one("SELECT * FROM (SELECT a FROM x UNION SELECT * FROM y) u, z");
  EXPECT_TRUE(through.outputs_ambiguous) << "an ambiguous subquery's star is ambiguous too";
  EXPECT_EQ(outputs(through), Strs{"x.a y.* z.*"});
}

TEST(Lineage, Lateral) {
  EXPECT_EQ(outputs("SELECT l.e FROM customers c, LATERAL (SELECT c.email AS e) l"), Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT x FROM customers c CROSS JOIN LATERAL unnest(ARRAY[c.email]) AS u(x)"),
            Strs{"customers.email customers.x"});
}

TEST(Lineage, FunctionsInFrom) {
  EXPECT_EQ(outputs("SELECT * FROM unnest(array(select email from customers))"), Strs{"*customers.email"});
  EXPECT_EQ(outputs("SELECT u FROM unnest(array(select email from customers)) u"), Strs{"customers.email"});
  EXPECT_EQ(outputs("SELECT * FROM generate_series(1, 10) g"), Strs{"*"});
  // A whole row passed to a function in FROM: its columns are not the row's own, so no position can be
  // trusted.
  const auto f = one("SELECT * FROM customers c, LATERAL jsonb_each(to_jsonb(c)) j");
  EXPECT_TRUE(f.outputs_ambiguous);
  EXPECT_EQ(outputs(f), Strs{"customers.* customers.c"});
}

TEST(Lineage, Values) {
  EXPECT_EQ(outputs("VALUES (1, 'a'), (2, 'b')"), (Strs{"", ""}));
  EXPECT_EQ(outputs("SELECT column2 FROM (VALUES (1, 'a')) v"), Strs{""});
  EXPECT_EQ(outputs("SELECT v.b FROM customers c, LATERAL (VALUES (c.id, c.email)) v(a, b)"),
            Strs{"customers.email"});
}

TEST(Lineage, WhereGroupOrderAreReadsOnly) {
  const auto f =
      one("SELECT count(*) FROM customers WHERE email LIKE '%x' GROUP BY region HAVING max(age) > 3 "
          "ORDER BY min(name)");
  EXPECT_EQ(outputs(f), Strs{""});
  EXPECT_EQ(str(f.reads), "customers.age customers.email customers.name customers.region");
  EXPECT_TRUE(f.writes_from.empty());
}

TEST(Lineage, InsertUpdateDeleteStore) {
  const auto ins = one("INSERT INTO archive (e) SELECT email FROM customers");
  EXPECT_TRUE(ins.outputs.empty());
  EXPECT_EQ(str(ins.writes_from), "customers.email");
  EXPECT_EQ(writes("INSERT INTO t SELECT * FROM customers"), "customers.*");
  EXPECT_EQ(writes("INSERT INTO t VALUES (1, 'x')"), "");
  const auto up = one("UPDATE customers SET notes = email WHERE id = 1");
  EXPECT_EQ(str(up.writes_from), "customers.email");
  EXPECT_EQ(str(up.reads), "customers.email customers.id");
  EXPECT_EQ(writes("UPDATE t SET a = c.email FROM customers c WHERE t.id = c.id"), "customers.email");
  EXPECT_EQ(writes("UPDATE t SET a = email FROM customers c WHERE t.id = c.id"), "customers.email t.email");
  EXPECT_EQ(writes("UPDATE t SET (a, b) = (SELECT email, id FROM customers c WHERE c.id = t.cid)"),
            "customers.email customers.id t.email t.id");
  EXPECT_EQ(writes("MERGE INTO t USING customers c ON t.id = c.id WHEN MATCHED THEN UPDATE SET a = c.email "
                   "WHEN NOT MATCHED THEN INSERT (a) VALUES (c.phone)"),
            "customers.email customers.phone");
  EXPECT_EQ(writes("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET b = excluded.a || t.secret"),
            "t.a t.secret");
}

TEST(Lineage, ReturningGivesBackWhatWasStored) {
  EXPECT_EQ(outputs("INSERT INTO t (a, b) SELECT email, id FROM customers RETURNING b, a"),
            (Strs{"customers.id t.b", "customers.email t.a"}));
  EXPECT_EQ(outputs("INSERT INTO t SELECT email FROM customers RETURNING a"), Strs{"customers.email t.a"});
  EXPECT_EQ(outputs("INSERT INTO t (a) VALUES (1) RETURNING *"), Strs{"*t.*"});
  EXPECT_EQ(outputs("UPDATE customers SET notes = email RETURNING notes"),
            Strs{"customers.email customers.notes"});
  EXPECT_EQ(outputs("DELETE FROM customers c USING orders o WHERE o.cid = c.id RETURNING c.email, o.id"),
            (Strs{"customers.email", "orders.id"}));
  EXPECT_EQ(outputs("DELETE FROM customers RETURNING *"), Strs{"*customers.*"});
  EXPECT_TRUE(one("DELETE FROM customers").outputs.empty());
}

TEST(Lineage, DataModifyingCtes) {
  const auto f =
      one("WITH d AS (DELETE FROM customers RETURNING email) INSERT INTO archive SELECT email FROM d");
  EXPECT_EQ(str(f.writes_from), "customers.email");
  const auto g =
      one("WITH u AS (UPDATE t SET a = (SELECT email FROM customers) RETURNING a) SELECT a FROM u");
  // Unqualified in the subquery, email may be the target's own column.
  EXPECT_EQ(outputs(g), Strs{"customers.email t.a t.email"});
  EXPECT_EQ(str(g.writes_from), "customers.email t.email");
}

TEST(Lineage, CreateTableAsSelectIntoAndViewsStore) {
  for (const char* sql :
       {"CREATE TABLE x AS SELECT email FROM customers", "SELECT email INTO x FROM customers",
        "CREATE VIEW v AS SELECT email FROM customers",
        "CREATE MATERIALIZED VIEW v AS SELECT email FROM customers"}) {
    const auto f = one(sql);
    EXPECT_TRUE(f.outputs.empty()) << sql;
    EXPECT_EQ(str(f.writes_from), "customers.email") << sql;
    EXPECT_EQ(str(f.reads), "customers.email") << sql;
  }
  EXPECT_EQ(writes("SELECT * INTO x FROM a UNION SELECT * FROM b"), "a.* b.*");
  EXPECT_EQ(writes("CREATE TABLE x AS SELECT * FROM customers"), "customers.*");
}

TEST(Lineage, SideEffectFunctionsSendTheirArguments) {
  const auto f = one("SELECT set_config('x.y', email, false) FROM customers");
  EXPECT_EQ(outputs(f), Strs{"customers.email"});
  EXPECT_EQ(str(f.writes_from), "customers.email");
  EXPECT_EQ(writes("SELECT id FROM customers WHERE pg_notify('ch', email) IS NOT NULL"), "customers.email");
  EXPECT_EQ(writes("SELECT public.DBLINK_EXEC('conn', 'insert ' || (SELECT email FROM customers LIMIT 1))"),
            "customers.email");
  EXPECT_EQ(writes("SELECT lo_from_bytea(0, convert_to(c::text, 'UTF8')) FROM customers c"),
            "customers.* customers.c");
  EXPECT_EQ(writes("SELECT upper(email) FROM customers"), "");
  EXPECT_EQ(writes("CALL keep((SELECT email FROM customers LIMIT 1))"), "customers.email");
}

TEST(Lineage, Copy) {
  const auto t = one("COPY customers TO STDOUT");
  EXPECT_EQ(outputs(t), Strs{"*customers.*"});
  ASSERT_TRUE(t.copy);
  EXPECT_EQ(*t.copy, (CopyOptions{.from = false,
                                  .stdio = true,
                                  .format = CopyFormat::kText,
                                  .delimiter = '\t',
                                  .null_string = "\\N",
                                  .quote = '"',
                                  .escape = '"',
                                  .header = false}));
  EXPECT_TRUE(t.writes_from.empty());
  EXPECT_EQ(outputs("COPY public.customers (email, id) TO STDOUT"),
            (Strs{"public.customers.email", "public.customers.id"}));
  EXPECT_EQ(outputs("COPY (SELECT upper(email) FROM customers) TO STDOUT"), Strs{"customers.email"});

  const auto csv = one("COPY customers TO STDOUT WITH (FORMAT csv, HEADER, DELIMITER ';', QUOTE '''')");
  ASSERT_TRUE(csv.copy);
  EXPECT_EQ(*csv.copy, (CopyOptions{.from = false,
                                    .stdio = true,
                                    .format = CopyFormat::kCsv,
                                    .delimiter = ';',
                                    .null_string = "",
                                    .quote = '\'',
                                    .escape = '\'',
                                    .header = true}));
  const auto old = one("COPY customers TO STDOUT WITH CSV HEADER");
  ASSERT_TRUE(old.copy);
  EXPECT_EQ(old.copy->format, CopyFormat::kCsv);
  EXPECT_TRUE(old.copy->header);
  EXPECT_EQ(old.copy->delimiter, ',');
  const auto old2 = one("COPY customers TO STDOUT DELIMITER '|' NULL 'nil' CSV ESCAPE '\\'");
  ASSERT_TRUE(old2.copy);
  EXPECT_EQ(*old2.copy, (CopyOptions{.from = false,
                                     .stdio = true,
                                     .format = CopyFormat::kCsv,
                                     .delimiter = '|',
                                     .null_string = "nil",
                                     .quote = '"',
                                     .escape = '\\',
                                     .header = false}));
  const auto bin = one("COPY customers TO STDOUT BINARY");
  ASSERT_TRUE(bin.copy);
  EXPECT_EQ(bin.copy->format, CopyFormat::kBinary);
  EXPECT_EQ(one("COPY customers TO STDOUT (FORMAT binary)").copy->format, CopyFormat::kBinary);
  EXPECT_FALSE(one("COPY customers TO STDOUT (FORMAT csv, HEADER false)").copy->header);
  EXPECT_FALSE(one("COPY customers TO STDOUT (FORMAT csv, HEADER 0)").copy->header);
  EXPECT_TRUE(one("COPY customers TO STDOUT (FORMAT csv, HEADER on)").copy->header);
  EXPECT_EQ(one("COPY customers TO STDOUT (NULL '')").copy->null_string, "");
}

TEST(Lineage, CopyFromAndToFiles) {
  const auto in = one("COPY customers FROM STDIN (FORMAT csv)");
  ASSERT_TRUE(in.copy);
  EXPECT_TRUE(in.copy->from);
  EXPECT_TRUE(in.copy->stdio);
  EXPECT_TRUE(in.outputs.empty());
  EXPECT_TRUE(in.writes_from.empty());
  const auto file = one("COPY customers TO '/tmp/x'");
  ASSERT_TRUE(file.copy);
  EXPECT_FALSE(file.copy->stdio);
  EXPECT_TRUE(file.outputs.empty()) << "the rows go to the file, not to the client";
  EXPECT_EQ(str(file.writes_from), "customers.*");
  EXPECT_EQ(writes("COPY (SELECT email FROM customers) TO PROGRAM 'curl -d @- x'"), "customers.email");
  EXPECT_EQ(reads("COPY customers FROM STDIN WHERE id > 3"), "customers.id");
}

TEST(Lineage, CopyOptionsAreNeverSharedThroughTheCache) {
  FactsCache cache;
  auto a = cache.analyze("COPY t TO STDOUT (DELIMITER ',')");
  auto b = cache.analyze("COPY t TO STDOUT (DELIMITER ';')");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE((*a)->front().copy && (*b)->front().copy);
  EXPECT_EQ((*a)->front().copy->delimiter, ',');
  EXPECT_EQ((*b)->front().copy->delimiter, ';');
  EXPECT_EQ(cache.size(), 0u);
}

TEST(Lineage, CursorsAndPreparedStatements) {
  const auto d = one("DECLARE c CURSOR WITH HOLD FOR SELECT email FROM customers");
  EXPECT_EQ(d.cursor_name, "c");
  EXPECT_EQ(outputs(d), Strs{"customers.email"});
  for (const char* sql : {"FETCH 10 FROM c", "MOVE NEXT IN c", "CLOSE c"}) {
    const auto f = one(sql);
    EXPECT_EQ(f.cursor_name, "c") << sql;
    EXPECT_TRUE(f.outputs.empty()) << sql;
  }
  const auto p = one("PREPARE q(int) AS SELECT email FROM customers WHERE id = $1");
  EXPECT_EQ(outputs(p), Strs{"customers.email"});
  EXPECT_EQ(writes("PREPARE q AS INSERT INTO t SELECT email FROM customers"), "customers.email");
}

TEST(Lineage, ExplainReturnsAPlan) {
  const auto e = one("EXPLAIN SELECT email FROM customers");
  EXPECT_TRUE(e.outputs.empty());
  EXPECT_EQ(str(e.reads), "customers.email");
  EXPECT_EQ(writes("EXPLAIN ANALYZE INSERT INTO t SELECT email FROM customers"), "customers.email");
}

TEST(Lineage, OneFactsPerStatement) {
  auto r = analyze("SELECT email FROM customers; SELECT id FROM orders; COPY t TO STDOUT");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ(outputs((*r)[0]), Strs{"customers.email"});
  EXPECT_EQ(outputs((*r)[1]), Strs{"orders.id"});
  EXPECT_EQ(outputs((*r)[2]), Strs{"*t.*"});
  EXPECT_FALSE((*r)[0].copy);
  EXPECT_TRUE((*r)[2].copy);
}

TEST(Lineage, OtherStatementsStillReportTheirColumnReads) {
  EXPECT_EQ(reads("CREATE INDEX ON customers (lower(email))"), "customers.email");
  EXPECT_EQ(reads("SET search_path = public"), "");
  EXPECT_TRUE(one("SET search_path = public").outputs.empty());
}

TEST(Lineage, StarsReadEvenWhenNotReturned) {
  EXPECT_EQ(reads("SELECT count(*) FROM (SELECT * FROM customers) s"), "customers.*");
  EXPECT_EQ(outputs("SELECT count(*) FROM (SELECT * FROM customers) s"), Strs{""});
}

TEST(Lineage, ACompositeExpansionIsAmbiguous) {
  const auto f = one("SELECT (c).* FROM customers c");
  EXPECT_TRUE(f.outputs_ambiguous);
  EXPECT_EQ(outputs(f), Strs{"customers.* customers.c"});
}

TEST(Lineage, RenamedColumnsOverAStarCannotBePlaced) {
  const auto f = one("SELECT * FROM (SELECT * FROM customers) s(a, b)");
  EXPECT_TRUE(f.outputs_ambiguous);
  EXPECT_EQ(outputs(f), Strs{"customers.*"});
  const auto g = one("SELECT * FROM customers AS c(a, b)");
  EXPECT_TRUE(g.outputs_ambiguous);
  EXPECT_EQ(outputs("SELECT a FROM customers AS c(a, b)"), Strs{"customers.*"});
  const auto j = one("SELECT * FROM (customers JOIN orders USING (id)) AS j(x)");
  EXPECT_TRUE(j.outputs_ambiguous);
  EXPECT_EQ(outputs(j), Strs{"customers.* orders.*"});
  EXPECT_EQ(outputs("SELECT j.email FROM (customers c JOIN orders o ON c.id = o.cid) AS j"),
            Strs{"customers.email orders.email"});
}

}  // namespace
}  // namespace gatehouse::inspect::sql
