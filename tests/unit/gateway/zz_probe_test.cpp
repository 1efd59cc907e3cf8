#include "gateway/session_masker.h"
#include <gtest/gtest.h>
#include "protocols/postgres/codec.h"
namespace gatehouse::gateway {
namespace {
const std::string kKey(32, 'K');
TEST(Probe, Lineage) {
  core::MaskingConfig c;
  c.where = "m";
  core::MaskingRuleConfig r; r.where="m.rules[0]"; r.name="ssn"; r.columns={"customers.ssn"}; r.style="redact";
  c.rules.push_back(r);
  core::MaskingRuleConfig r2; r2.where="m.rules[1]"; r2.name="any"; r2.columns={"*.secret"}; r2.style="redact";
  c.rules.push_back(r2);
  auto p = *masking::Policy::compile(c, kKey);
  std::vector<bool> act{true, true};
  std::vector<masking::CatalogColumn> rows;
  int16_t n = 0;
  for (const char* col : {"id", "name", "ssn"}) rows.push_back({16384, ++n, "public", "customers", col});
  for (const char* sql : {
    "TABLE customers",
    "SELECT * FROM (TABLE customers) t",
    "SELECT * FROM customers AS c(a, b, s) UNION ALL SELECT * FROM customers",
    "SELECT * FROM (SELECT * FROM customers) AS c(a, b, s)",
    "SELECT c.* FROM customers AS c(a, b, s)",
    "WITH w AS (SELECT * FROM customers) SELECT * FROM w AS x(a, b, s)",
    "SELECT * FROM customers NATURAL JOIN customers AS c2(id, name, s)",
    "SELECT * FROM customers c JOIN customers d USING (id)",
    "SELECT (c).* FROM (SELECT c FROM customers c) q",
    "SELECT * FROM (SELECT * FROM customers) q(a, b, s) WHERE true",
    "SELECT * FROM ROWS FROM (unnest(ARRAY(SELECT ssn FROM customers))) AS r(s)",
  }) {
    SessionMasker m(p, act, masking::ProtectedColumns(*p, act, rows, {}));
    std::string out; pg::encode(pg::FrontendMessage{pg::Query{sql}}, out);
    auto refusal = m.onFrontend('Q', std::string_view(out).substr(5));
    if (!refusal.empty()) { auto e = pg::decodeBackend('E', std::string_view(refusal).substr(5)); printf("REFUSED  %s : %s\n", sql, std::get<pg::ErrorResponse>(*e).find('M')->c_str()); continue; }
    out.clear();
    pg::FieldDescription f; f.name = "s"; f.type_oid = 25; f.type_size=-1; f.type_modifier=-1;
    pg::encode(pg::BackendMessage{pg::RowDescription{{f}}}, out);
    std::string repl;
    bool t = m.onBackend('T', std::string_view(out).substr(5), repl);
    out.clear(); pg::encode(pg::BackendMessage{pg::DataRow{{"123-45-6789"}}}, out);
    bool d = m.onBackend('D', std::string_view(out).substr(5), repl);
    printf("%-8s %s\n", t ? "T-REFUSE" : d ? (repl.empty() ? "dropped" : repl[0]=='E' ? "D-REFUSE" : "masked") : "CLEAR", sql);
  }
}
}
}
