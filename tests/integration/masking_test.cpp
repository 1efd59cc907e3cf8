// Data masking through the real gateway and a real PostgreSQL, with psql and libpq: each rule and style shows the
// expected masked output, and an evasion corpus (aliases, functions, casts, JSON and array aggregates, subqueries,
// CTEs, UNION, views, prepared statements, cursors, COPY, binary results, error messages, notifications, writes
// elsewhere) where every case is either masked or refused — never a protected value in clear. The people in the
// table are synthetic, generated here.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {

constexpr const char* kMasking = R"(      rules:
        - name: ssn
          columns: [customers.ssn]
          style: "null"
          except_groups: [dba]
        - name: contact
          columns: [public.customers.email]
          style: token
          except_groups: [dba]
        - name: phone
          columns: ["customers.phone"]
          style: partial
          keep: 4
          except_groups: [dba]
        - name: cards
          columns: ["*.customers.card_number"]
          style: partial
          keep: 4
        - name: content
          detectors: [builtin]
          style: redact
          except_groups: [dba]
        - name: tax-ids
          columns: ["*.tax_id"]
          style: redact
)";

// A synthetic person: every value unique to its row, so that any of them showing up in clear is noticed.
struct Person {
  int id;
  std::string name, email, phone, card, ssn, notes;
};

// A 16-digit Visa-like number that passes Luhn.
std::string cardNumber(int i) {
  std::string digits = fmt::format("4{:014d}", 539'100'000'000LL + i * 7919LL);
  int sum = 0;
  for (std::size_t k = 0; k < digits.size(); ++k) {
    int d = digits[digits.size() - 1 - k] - '0';
    if (k % 2 == 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  digits += static_cast<char>('0' + (10 - sum % 10) % 10);
  return digits;
}

std::vector<Person> people() {
  std::vector<Person> out;
  for (int i = 1; i <= 12; ++i) {
    Person p;
    p.id = i;
    p.name = fmt::format("Person Number{}", i);
    p.email = fmt::format("person{}.synthetic@example.org", i);
    p.phone = fmt::format("+1 555-{:03d}-{:04d}", 100 + i, 4000 + i * 13);
    p.card = cardNumber(i);
    p.ssn = fmt::format("{:03d}-{:02d}-{:04d}", 100 + i, 10 + i, 1000 + i * 37);
    // Some notes carry a sensitive value typed by hand: the content detectors must find it.
    p.notes = i % 3 == 0   ? fmt::format("customer asked to use card {} next time", cardNumber(100 + i))
              : i % 3 == 1 ? fmt::format("reach me at backup{}@example.net", i)
                           : "prefers email";
    out.push_back(std::move(p));
  }
  return out;
}

// Every clear value a masked session must never see, with the digits-only forms of the numbers.
std::vector<std::string> secrets() {
  std::vector<std::string> out;
  for (const auto& p : people()) {
    out.push_back(p.email);
    out.push_back(p.ssn);
    out.push_back(p.phone);
    out.push_back(p.card);
    std::string ssn_digits = p.ssn;
    std::erase(ssn_digits, '-');
    out.push_back(ssn_digits);
    if (p.id % 3 == 0) out.push_back(cardNumber(100 + p.id));
    if (p.id % 3 == 1) out.push_back(fmt::format("backup{}@example.net", p.id));
  }
  for (const char* tax_id : {"TX-0000-1111", "TX-0000-2222", "TX-9999-0001"}) out.push_back(tax_id);
  return out;
}

// The first clear secret in `text`, or empty. Case-insensitive (upper() must not get one out either).
std::string leakIn(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  for (auto s : secrets()) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (text.find(s) != std::string::npos) return s;
  }
  return {};
}

class Masking : public GatewaySuiteTest<Masking> {
 protected:
  static void SetUpTestSuite() {
    if (!startSuite("mask", [](GatewayOptions& o, const devtools::LocalPostgres&, const std::string&) {
          o.connections.at(0).masking_yaml = kMasking;
          o.connections.at(0).allow_groups = {"dev", "dba"};
        }))
      return;
    alice_ = issueToken("alice@example.com", {"dev"});
    dana_ = issueToken("dana@example.com", {"dba"});
    auto direct = pgConnect(suite_->directConninfo());
    if (!direct.ok()) {
      error_ = direct.message;
      return;
    }
    std::string setup =
        "CREATE TABLE customers (id int primary key, name text not null, email text unique, phone text, "
        "card_number text, ssn varchar(11), notes text);"
        "CREATE TABLE orders (id int primary key, customer_id int, total int);"
        "CREATE TABLE scratch (v text);"
        "CREATE TABLE vendors (id int primary key, name text, tax_id text);"
        "INSERT INTO vendors VALUES (1, 'Acme Synthetic', 'TX-0000-1111'), (2, 'Globex Synthetic', 'TX-0000-2222');"
        "CREATE TABLE invoices (id int primary key, total int);"
        "INSERT INTO invoices VALUES (1, 100), (2, 200);"
        "CREATE VIEW customer_contacts AS SELECT id, name, lower(email) AS mail FROM customers;";
    for (const auto& p : people()) {
      setup += fmt::format("INSERT INTO customers VALUES ({}, '{}', '{}', '{}', '{}', '{}', '{}');", p.id, p.name,
                           p.email, p.phone, p.card, p.ssn, p.notes);
      setup += fmt::format("INSERT INTO orders VALUES ({0}, {0}, {1});", p.id, p.id * 10);
    }
    setup += "GRANT ALL ON ALL TABLES IN SCHEMA public TO " + upstreamAccount().user + ";";
    const auto r = pgExec(direct.conn.get(), setup);
    if (!r.ok()) error_ = "setup: " + r.error;
  }

  static Result<devtools::RunResult> psql(const std::string& token, const std::string& user,
                                          const std::vector<std::string>& args, const std::string& input = {}) {
    std::vector<std::string> all = {"-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"};
    all.insert(all.end(), args.begin(), args.end());
    return runPsql(all, suite_->clientEnv(user, token), input);
  }
  static Result<devtools::RunResult> alice(const std::string& sql) {
    return psql(alice_, "alice@example.com", {"-c", sql});
  }
  static PgConnPtr connect(const std::string& token, const std::string& user) {
    auto c = pgConnect(suite_->gateway->conninfo(user, token, "pg-main", "sslmode=disable"));
    EXPECT_TRUE(c.ok()) << c.message;
    return std::move(c.conn);
  }

  static inline std::string alice_;
  static inline std::string dana_;
};

TEST_F(Masking, EachStyleShowsItsMaskedForm) {
  auto r = alice("SELECT id, name, email, phone, card_number, ssn, notes FROM customers WHERE id IN (1, 3) ORDER BY id");
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r->status.success()) << r->err;
  const auto ps = people();
  // id 1: token email, partial phone and card, NULL ssn, an email in the notes redacted by the detectors.
  const auto lines = r->out.substr(0, r->out.find('\n'));
  EXPECT_NE(lines.find("1|Person Number1|tok_"), std::string::npos) << lines;
  EXPECT_NE(lines.find("|+* ***-***-" + ps[0].phone.substr(ps[0].phone.size() - 4) + "|"), std::string::npos) << lines;
  EXPECT_NE(lines.find("|************" + ps[0].card.substr(12) + "||"), std::string::npos) << lines;
  EXPECT_NE(lines.find("|reach me at ****"), std::string::npos) << lines;
  // id 3: a card number typed into the notes is found by content.
  EXPECT_NE(r->out.find("customer asked to use card **** next time"), std::string::npos) << r->out;
  EXPECT_EQ(leakIn(r->out), "") << r->out;
}

TEST_F(Masking, TokensAreStableSoJoinsAndCountsStillWork) {
  auto r = alice("SELECT a.email, b.email FROM customers a, customers b WHERE a.id = 2 AND b.id = 2");
  ASSERT_TRUE(r && r->status.success()) << (r ? r->err : r.error().message);
  auto again = alice("SELECT email FROM customers WHERE id = 2");
  ASSERT_TRUE(again && again->status.success());
  const std::string token = again->out.substr(0, again->out.find('\n'));
  EXPECT_TRUE(token.starts_with("tok_")) << token;
  EXPECT_EQ(r->out, token + "|" + token + "\n");
  // Grouping by the protected column still groups (by the value, in the database); each group shows its token.
  auto grouped = alice("SELECT email, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY email");
  ASSERT_TRUE(grouped && grouped->status.success());
  EXPECT_EQ(std::count(grouped->out.begin(), grouped->out.end(), '\n'), 12);
  EXPECT_NE(grouped->out.find(token + "|1\n"), std::string::npos) << grouped->out;
}

TEST_F(Masking, AnExemptGroupSeesMoreButNotWhatEveryRuleCovers) {
  auto r = psql(dana_, "dana@example.com", {"-c", "SELECT email, ssn, card_number FROM customers WHERE id = 4"});
  ASSERT_TRUE(r && r->status.success()) << (r ? r->err : r.error().message);
  const auto p = people()[3];
  EXPECT_EQ(r->out, fmt::format("{}|{}|************{}\n", p.email, p.ssn, p.card.substr(12)));
}

// Every statement here reads protected values one way or another. Each is either refused or shows none in clear.
TEST_F(Masking, EvasionCorpusIsMaskedOrRefusedNeverClear) {
  const std::vector<std::string> corpus = {
      "SELECT email AS e, ssn AS s, phone p, card_number AS c FROM customers",
      "SELECT upper(email), lower(ssn), initcap(phone) FROM customers",
      "SELECT 'x' || email || 'y', ssn || '', concat(card_number, '') FROM customers",
      "SELECT email::varchar(200), CAST(ssn AS text), card_number::bytea FROM customers",
      "SELECT row_to_json(c) FROM customers c",
      "SELECT to_jsonb(c.*) FROM customers c",
      "SELECT json_agg(c) FROM customers c",
      "SELECT json_agg(email), jsonb_agg(ssn) FROM customers",
      "SELECT array_agg(ssn), array_agg(card_number) FROM customers",
      "SELECT string_agg(email, ','), string_agg(ssn, ';') FROM customers",
      "SELECT json_build_object('e', email, 's', ssn) FROM customers",
      "SELECT (SELECT email FROM customers c2 WHERE c2.id = c.id) FROM customers c",
      "SELECT * FROM (SELECT email AS e, ssn FROM customers) s",
      "SELECT s.* FROM (SELECT email, ssn FROM customers) s",
      "WITH x AS (SELECT email AS e, ssn FROM customers) SELECT e, ssn FROM x",
      "WITH x(a, b) AS (SELECT email, ssn FROM customers) SELECT * FROM x",
      "SELECT email FROM customers UNION ALL SELECT 'nobody'",
      "SELECT 'nobody', 'n' UNION ALL SELECT * FROM (SELECT email, ssn FROM customers) q",
      "SELECT CASE WHEN id > 0 THEN ssn ELSE 'none' END, coalesce(email, 'x') FROM customers",
      "SELECT c FROM customers c",
      "SELECT * FROM customers",
      "SELECT c.*, o.total FROM customers c JOIN orders o ON o.customer_id = c.id",
      "SELECT o.total, email FROM orders o JOIN customers c ON o.customer_id = c.id",
      "SELECT * FROM customer_contacts",
      "SELECT mail FROM customer_contacts",
      "TABLE customers",
      "SELECT reverse(reverse(ssn)), substr(card_number, 1, 16) FROM customers",
      "SELECT x FROM customers c, LATERAL (SELECT c.email AS x) l",
      "SELECT u FROM unnest(ARRAY(SELECT ssn FROM customers)) u",
      "SELECT format('%s', email), encode(convert_to(ssn, 'UTF8'), 'escape') FROM customers",
      "COPY customers TO STDOUT",
      "COPY customers (email, ssn) TO STDOUT WITH (FORMAT csv)",
      "COPY (SELECT upper(email), ssn FROM customers) TO STDOUT WITH (FORMAT csv, HEADER)",
      "COPY customers TO STDOUT WITH (FORMAT binary)",
      "SELECT email::int FROM customers",
      "SELECT ssn::date FROM customers",
      "CREATE TABLE stolen AS SELECT email, ssn FROM customers",
      "SELECT email, ssn INTO stolen2 FROM customers",
      "INSERT INTO scratch SELECT ssn FROM customers",
      "UPDATE customers SET notes = ssn",
      "SELECT set_config('app.leak', email, false) FROM customers",
      "SELECT pg_notify('leak', ssn) FROM customers",
      "DO $$ BEGIN RAISE NOTICE '%', (SELECT string_agg(ssn, ',') FROM customers); END $$",
      "CREATE VIEW leak_view AS SELECT ssn FROM customers",
      "ALTER TABLE customers RENAME COLUMN ssn TO s; SELECT upper(s) FROM customers",
      "ALTER TABLE customers RENAME TO c2; SELECT upper(ssn) FROM c2",
      "ALTER SCHEMA public RENAME TO p2; SELECT upper(ssn) FROM p2.customers",
      "PREPARE p AS SELECT upper(email), ssn FROM customers; EXECUTE p",
      "BEGIN; DECLARE c CURSOR FOR SELECT lower(email), ssn FROM customers; FETCH ALL FROM c; COMMIT",
  };
  int refused = 0;
  for (const auto& sql : corpus) {
    auto r = alice(sql);
    ASSERT_TRUE(r) << r.error().message;
    const std::string seen = r->out + r->err;
    EXPECT_EQ(leakIn(seen), "") << sql << "\n" << seen;
    if (!r->status.success()) ++refused;
  }
  // The direct database still has every value, unchanged by the attempts to write them elsewhere.
  auto direct = pgConnect(suite_->directConninfo());
  ASSERT_TRUE(direct.ok());
  auto copies = pgExec(direct.conn.get(), "SELECT count(*) FROM scratch");
  EXPECT_EQ(copies.value(), "0");
  auto tables = pgExec(direct.conn.get(), "SELECT count(*) FROM pg_class WHERE relname IN ('stolen', 'stolen2', 'leak_view')");
  EXPECT_EQ(tables.value(), "0");
  auto notes = pgExec(direct.conn.get(), "SELECT count(*) FROM customers WHERE notes = ssn");
  EXPECT_EQ(notes.value(), "0");
  EXPECT_GT(refused, 5);
}

TEST_F(Masking, ErrorsAndNotificationsAreMasked) {
  // A unique violation quotes the existing key; a NOT NULL violation the whole failing row.
  const auto p = people()[4];
  auto dup = alice(fmt::format("INSERT INTO customers (id, name, email) VALUES (999, 'x', '{}')", p.email));
  ASSERT_TRUE(dup);
  EXPECT_FALSE(dup->status.success());
  EXPECT_NE(dup->err.find("duplicate key"), std::string::npos) << dup->err;
  EXPECT_EQ(leakIn(dup->err), "") << dup->err;
  auto failing = alice("UPDATE customers SET name = NULL WHERE id = 5");
  ASSERT_TRUE(failing);
  EXPECT_FALSE(failing->status.success());
  EXPECT_NE(failing->err.find("Failing row contains"), std::string::npos) << failing->err;
  EXPECT_EQ(leakIn(failing->err), "") << failing->err;
  // A notification's payload.
  auto listen = psql(alice_, "alice@example.com", {}, fmt::format("LISTEN ch;\nNOTIFY ch, 'card {}';\nSELECT 1;\n",
                                                                   cardNumber(106)));
  ASSERT_TRUE(listen && listen->status.success()) << (listen ? listen->err : listen.error().message);
  EXPECT_NE(listen->out.find("Asynchronous notification \"ch\" with payload \"card ****\""), std::string::npos)
      << listen->out;
}

TEST_F(Masking, TheRecordCountsWhatWasMaskedNeverTheValue) {
  auto r = alice("SELECT email, ssn, notes AS remarks, 'audit-marker-7' FROM customers WHERE id <= 4 ORDER BY id");
  ASSERT_TRUE(r && r->status.success()) << (r ? r->err : r.error().message);
  auto entries = gateway().audit({"--json"});
  ASSERT_TRUE(entries) << entries.error().message;
  const boost::json::object* entry = nullptr;
  for (const auto& e : *entries)
    if (e.is_object() && e.as_object().contains("sql") &&
        std::string(e.as_object().at("sql").as_string()).find("audit-marker-7") != std::string::npos)
      entry = &e.as_object();
  ASSERT_NE(entry, nullptr);
  std::map<std::string, int64_t> counts;
  for (const auto& m : entry->at("masked").as_array()) {
    const auto& o = m.as_object();
    counts[std::string(o.at("rule").as_string()) + "/" + std::string(o.at("column").as_string())] =
        o.at("count").to_number<int64_t>();
  }
  // Four emails and SSNs by column; by content, the notes of ids 1 and 4 hold an email and of id 3 a card number.
  EXPECT_EQ(counts, (std::map<std::string, int64_t>{{"contact/email", 4}, {"content/remarks", 3}, {"ssn/ssn", 4}}));
  EXPECT_EQ(leakIn(boost::json::serialize(*entry)), "");
}

TEST_F(Masking, BinaryResultsOfTextAreMaskedOtherTypesRefused) {
  auto conn = connect(alice_, "alice@example.com");
  ASSERT_TRUE(conn);
  // Text in binary format: the same masking.
  PGresult* res = PQexecParams(conn.get(), "SELECT ssn, phone, name FROM customers WHERE id = 6", 0, nullptr, nullptr,
                               nullptr, nullptr, 1);
  ASSERT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << PQerrorMessage(conn.get());
  EXPECT_TRUE(PQgetisnull(res, 0, 0));
  const std::string phone(PQgetvalue(res, 0, 1), static_cast<std::size_t>(PQgetlength(res, 0, 1)));
  EXPECT_EQ(phone, "+* ***-***-" + people()[5].phone.substr(people()[5].phone.size() - 4));
  EXPECT_EQ(std::string(PQgetvalue(res, 0, 2)), "Person Number6");
  PQclear(res);
  // A protected value as another type in binary: cannot be masked, so refused; the session stays usable.
  res = PQexecParams(conn.get(), "SELECT length(email), email::bytea FROM customers", 0, nullptr, nullptr, nullptr,
                     nullptr, 1);
  EXPECT_EQ(PQresultStatus(res), PGRES_FATAL_ERROR);
  EXPECT_EQ(sqlstateOf(res), "42501");
  PQclear(res);
  auto after = pgExec(conn.get(), "SELECT count(*) FROM customers");
  EXPECT_EQ(after.value(), "12");
}

// A rule with a table wildcard (*.tax_id) names a column of any table. A COPY of a whole table writes its columns
// without naming them, so the gateway must know them: a table that had no column a rule can name at login passes
// (its values still go through the detectors) as long as it has as many columns as then; once a column is added,
// the session refuses that COPY, and a new session reads the catalog again and masks the new column.
TEST_F(Masking, CopyOfATableWithNothingProtectedPassesUntilItChanges) {
  auto plain = alice("COPY invoices TO STDOUT");
  ASSERT_TRUE(plain && plain->status.success()) << (plain ? plain->err : plain.error().message);
  EXPECT_EQ(plain->out, "1\t100\n2\t200\n");
  auto vendors = alice("COPY vendors TO STDOUT WITH (FORMAT csv)");
  ASSERT_TRUE(vendors && vendors->status.success()) << (vendors ? vendors->err : vendors.error().message);
  EXPECT_EQ(vendors->out, "1,Acme Synthetic,****\n2,Globex Synthetic,****\n");

  auto session = connect(alice_, "alice@example.com");
  ASSERT_TRUE(session);
  auto direct = pgConnect(suite_->directConninfo());
  ASSERT_TRUE(direct.ok()) << direct.message;
  auto altered = pgExec(direct.conn.get(),
                        "ALTER TABLE invoices ADD COLUMN tax_id text; UPDATE invoices SET tax_id = 'TX-9999-0001'");
  ASSERT_TRUE(altered.ok()) << altered.error;

  PGresult* res = PQexec(session.get(), "COPY invoices TO STDOUT");
  EXPECT_EQ(PQresultStatus(res), PGRES_FATAL_ERROR) << "a column was added since this session read the catalog";
  EXPECT_EQ(sqlstateOf(res), "42501");
  EXPECT_NE(std::string(PQresultErrorMessage(res)).find("has changed since this session began"), std::string::npos)
      << PQresultErrorMessage(res);
  PQclear(res);
  EXPECT_EQ(pgExec(session.get(), "SELECT count(*) FROM invoices").value(), "2") << "the session goes on";
  EXPECT_EQ(pgExec(session.get(), "SELECT tax_id FROM invoices WHERE id = 1").value(), "****")
      << "a SELECT names the column: the rule applies by name";

  auto fresh = alice("COPY invoices TO STDOUT");
  ASSERT_TRUE(fresh && fresh->status.success()) << (fresh ? fresh->err : fresh.error().message);
  EXPECT_EQ(fresh->out, "1\t100\t****\n2\t200\t****\n");
  EXPECT_EQ(leakIn(plain->out + vendors->out + fresh->out), "");
  ASSERT_TRUE(pgExec(direct.conn.get(), "ALTER TABLE invoices DROP COLUMN tax_id").ok());
}

TEST_F(Masking, ExtendedProtocolPreparedStatementsAreMasked) {
  auto conn = connect(alice_, "alice@example.com");
  ASSERT_TRUE(conn);
  auto r = pgExecParams(conn.get(), "SELECT upper(email), ssn, $1::text FROM customers WHERE id = $2", {"k", "7"});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_TRUE(r.value(0, 0).starts_with("tok_")) << r.value(0, 0);
  EXPECT_EQ(r.value(0, 1), "<null>");
  EXPECT_EQ(r.value(0, 2), "k");
  // A named statement prepared once, described, executed twice.
  PGresult* prep = PQprepare(conn.get(), "s1", "SELECT lower(email) FROM customers WHERE id = $1", 1, nullptr);
  ASSERT_EQ(PQresultStatus(prep), PGRES_COMMAND_OK);
  PQclear(prep);
  for (const char* id : {"8", "9"}) {
    const char* params[] = {id};
    PGresult* res = PQexecPrepared(conn.get(), "s1", 1, params, nullptr, nullptr, 0);
    ASSERT_EQ(PQresultStatus(res), PGRES_TUPLES_OK);
    EXPECT_TRUE(std::string(PQgetvalue(res, 0, 0)).starts_with("tok_")) << PQgetvalue(res, 0, 0);
    PQclear(res);
  }
}

}  // namespace
}  // namespace gatehouse::testing
