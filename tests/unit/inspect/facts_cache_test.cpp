// The analyzed-SQL cache: statements that differ only in literal values share an entry; anything the key
// scanner does not fully understand is keyed by its exact text; what depends on a literal is never shared.
#include <gtest/gtest.h>

#include "inspect/sql/facts_cache.h"

namespace gatehouse::inspect::sql {
namespace {

TEST(ShapeKey, LiteralsAreBlanked) {
  EXPECT_EQ(shapeKey("SELECT abalance FROM pgbench_accounts WHERE aid = 42;"),
            "NSELECT abalance FROM pgbench_accounts WHERE aid = 0;");
  EXPECT_EQ(shapeKey("UPDATE t SET v = 'it''s', w = 3.25 WHERE id = $1"), "NUPDATE t SET v = '', w = 0 WHERE id = $1");
  EXPECT_EQ(shapeKey("SELECT x1, a_b$c FROM t9"), "NSELECT x1, a_b$c FROM t9");
  EXPECT_EQ(shapeKey("UPDATE t SET b = b + -4999 WHERE a = 6 / 2"), "NUPDATE t SET b = b + -0 WHERE a = 0 / 0");
  EXPECT_EQ(shapeKey("SELECT 'caf\xC3\xA9'"), "NSELECT ''") << "inside a string, any byte but a quote or backslash";
}

TEST(ShapeKey, AnythingUnusualKeepsTheExactText) {
  for (const char* sql : {"SELECT 1 -- comment", "SELECT /* c */ 1", "SELECT \"Col\" FROM t", "SELECT $$x$$",
                          "SELECT $a$x$a$", "SELECT E'\\n'", "SELECT 'a\\b'", "SELECT B'101'", "SELECT X'1F'",
                          "SELECT U&'d\\0061t'", "SELECT 1e5", "SELECT 0x1F", "SELECT 1_000", "SELECT 'a'\n'b'",
                          "SELECT 'unterminated", "SELECT caf\xC3\xA9", "SELECT 1.2.3", "SELECT 5 --3",
                          "SELECT 6 /*2*/", "SELECT $1abc", "SELECT 1 -/* x */2"}) {
    EXPECT_EQ(shapeKey(sql), "X" + std::string(sql)) << sql;
  }
}

TEST(FactsCache, StatementsDifferingInLiteralsShareOneEntry) {
  FactsCache cache;
  for (int i = 0; i < 100; ++i) {
    auto f = cache.analyze("SELECT abalance FROM pgbench_accounts WHERE aid = " + std::to_string(i));
    ASSERT_TRUE(f);
    ASSERT_EQ((*f)->size(), 1u);
    EXPECT_EQ((*f)->front().operations.at(0).relations, std::vector<std::string>{"pgbench_accounts"});
  }
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.misses(), 1u);
  EXPECT_EQ(cache.hits(), 99u);
}

TEST(FactsCache, WhatDependsOnALiteralIsNotShared) {
  FactsCache cache;
  auto a = cache.analyze("EXPLAIN (ANALYZE 0) DELETE FROM t");
  auto b = cache.analyze("EXPLAIN (ANALYZE 1) DELETE FROM t");
  ASSERT_TRUE(a && b);
  EXPECT_FALSE((*a)->front().performs(Kind::kDelete));
  EXPECT_TRUE((*b)->front().performs(Kind::kDelete));
  auto hr = cache.analyze("SET search_path = 'hr'");
  auto pub = cache.analyze("SET search_path = 'public'");
  ASSERT_TRUE(hr && pub);
  EXPECT_EQ((*hr)->front().search_path, std::vector<std::string>{"hr"});
  EXPECT_EQ((*pub)->front().search_path, std::vector<std::string>{"public"});
  // Multi-statement strings are analyzed each time (their facts carry each statement's text).
  ASSERT_TRUE(cache.analyze("SELECT 1; SELECT 2"));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(FactsCache, ParseErrorsAreNotCachedAndTheLeastRecentlyUsedGoes) {
  FactsCache cache(2);
  EXPECT_FALSE(cache.analyze("SELEC 1"));
  EXPECT_EQ(cache.size(), 0u);
  ASSERT_TRUE(cache.analyze("SELECT a FROM t1"));
  ASSERT_TRUE(cache.analyze("SELECT a FROM t2"));
  ASSERT_TRUE(cache.analyze("SELECT a FROM t1"));  // t1 used again: t2 is the oldest
  ASSERT_TRUE(cache.analyze("SELECT a FROM t3"));
  EXPECT_EQ(cache.size(), 2u);
  const auto misses = cache.misses();
  ASSERT_TRUE(cache.analyze("SELECT a FROM t1"));
  EXPECT_EQ(cache.misses(), misses) << "t1 stayed";
  ASSERT_TRUE(cache.analyze("SELECT a FROM t2"));
  EXPECT_EQ(cache.misses(), misses + 1) << "t2 was evicted";
}

}  // namespace
}  // namespace gatehouse::inspect::sql
