// SessionMasker as a component: realistic client and server message sequences (simple and extended protocol,
// Describe, prepared statements, cursors, COPY, errors, notifications) through a real policy and catalog, with
// the rewritten messages decoded and checked.
#include "gateway/session_masker.h"

#include <gtest/gtest.h>

#include "masking/styles.h"
#include "protocols/postgres/codec.h"

namespace gatehouse::gateway {
namespace {

const std::string kKey(32, 'K');
constexpr uint32_t kCustomers = 16384;
constexpr uint32_t kText = 25, kInt4 = 23;

core::MaskingRuleConfig rule(std::string name, std::vector<std::string> columns, std::vector<std::string> detectors,
                             std::string style, int keep = 4) {
  core::MaskingRuleConfig r;
  r.where = "m.rules[" + name + "]";
  r.name = std::move(name);
  r.columns = std::move(columns);
  r.detectors = std::move(detectors);
  r.style = std::move(style);
  r.keep = keep;
  return r;
}

std::shared_ptr<const masking::Policy> makePolicy() {
  core::MaskingConfig c;
  c.where = "m";
  c.rules.push_back(rule("ssn", {"customers.ssn"}, {}, "null"));
  c.rules.push_back(rule("email", {"customers.email"}, {}, "token"));
  c.rules.push_back(rule("phone", {"customers.phone"}, {}, "partial", 4));
  c.rules.push_back(rule("content", {}, {"email", "card_number"}, "redact"));
  auto p = masking::Policy::compile(c, kKey);
  EXPECT_TRUE(p) << p.error().message;
  return *p;
}

std::string tokenOf(std::string_view value) {
  return *masking::maskValue(masking::StyleSpec{.style = masking::Style::kToken, .keep = 4, .replacement = "****"},
                             value, kKey);
}

pg::FieldDescription field(std::string name, uint32_t table_oid, int16_t column, uint32_t type = kText,
                           int16_t format = 0) {
  pg::FieldDescription f;
  f.name = std::move(name);
  f.table_oid = table_oid;
  f.column = column;
  f.type_oid = type;
  f.type_size = type == kInt4 ? 4 : -1;
  f.type_modifier = -1;
  f.format = format;
  return f;
}

using Row = std::vector<std::optional<std::string>>;

class Masker : public ::testing::Test {
 protected:
  Masker() : masker(policy, active, catalog()) {}

  masking::ProtectedColumns catalog() {
    std::vector<masking::CatalogColumn> rows;
    int16_t n = 0;
    for (const char* c : {"id", "name", "email", "phone", "ssn", "notes"})
      rows.push_back(masking::CatalogColumn{kCustomers, ++n, "public", "customers", c});
    return masking::ProtectedColumns(*policy, active, rows, {});
  }

  // A client message through the masker: its refusal ("" when it may run).
  std::string front(const pg::FrontendMessage& m) {
    std::string out;
    pg::encode(m, out);
    return masker.onFrontend(out[0], std::string_view(out).substr(5));
  }
  void query(std::string sql) { ASSERT_EQ(front(pg::Query{std::move(sql)}), ""); }

  // A server message through the masker: whether it was replaced (then `replacement` holds what goes instead).
  bool back(const pg::BackendMessage& m) {
    std::string out;
    pg::encode(m, out);
    replacement = "(untouched)";
    return masker.onBackend(out[0], std::string_view(out).substr(5), replacement);
  }
  bool rowDescription(std::vector<pg::FieldDescription> fields) { return back(pg::RowDescription{std::move(fields)}); }
  bool dataRow(Row values) { return back(pg::DataRow{std::move(values)}); }
  bool copyData(std::string data) { return back(pg::BackendMessage{pg::CopyData{std::move(data)}}); }
  bool complete(std::string tag) { return back(pg::CommandComplete{std::move(tag)}); }
  bool ready(char status = 'I') { return back(pg::ReadyForQuery{status}); }

  // The replacement decoded (checking its framing first).
  pg::BackendMessage decoded() const {
    auto frame = pg::peekFrame(replacement, pg::Limits{});
    EXPECT_EQ(frame.status, pg::DecodeStatus::kMessage) << frame.error;
    EXPECT_EQ(frame.frame.size, replacement.size()) << "the length field covers the whole replacement";
    auto m = pg::decodeBackend(replacement.empty() ? '\0' : replacement[0], frame.frame.body);
    EXPECT_TRUE(m) << (m ? "" : m.error().message);
    return m ? *m : pg::BackendMessage{pg::EmptyQueryResponse{}};
  }
  Row maskedRow() const {
    auto m = decoded();
    EXPECT_TRUE(std::holds_alternative<pg::DataRow>(m)) << "replacement type " << replacement[0];
    return std::holds_alternative<pg::DataRow>(m) ? std::get<pg::DataRow>(m).values : Row{};
  }
  std::string maskedCopy() const {
    auto m = decoded();
    EXPECT_TRUE(std::holds_alternative<pg::CopyData>(m)) << "replacement type " << replacement[0];
    return std::holds_alternative<pg::CopyData>(m) ? std::get<pg::CopyData>(m).data : std::string();
  }
  static pg::ErrorResponse errorOf(const std::string& bytes) {
    EXPECT_FALSE(bytes.empty());
    if (bytes.empty()) return {};
    EXPECT_EQ(bytes[0], 'E');
    auto m = pg::decodeBackend('E', std::string_view(bytes).substr(5));
    EXPECT_TRUE(m && std::holds_alternative<pg::ErrorResponse>(*m));
    return m && std::holds_alternative<pg::ErrorResponse>(*m) ? std::get<pg::ErrorResponse>(*m) : pg::ErrorResponse{};
  }
  static std::string code(const pg::ErrorResponse& e) { return e.find('C') ? *e.find('C') : "(none)"; }
  static std::string message(const pg::ErrorResponse& e) { return e.find('M') ? *e.find('M') : "(none)"; }
  pg::ErrorResponse replacedError() const {
    auto m = decoded();
    EXPECT_TRUE(std::holds_alternative<pg::ErrorResponse>(m)) << "replacement type " << replacement[0];
    return std::holds_alternative<pg::ErrorResponse>(m) ? std::get<pg::ErrorResponse>(m) : pg::ErrorResponse{};
  }

  // Server messages read together, as the relay gives them: each with the bytes after it. The replacement of
  // each (or the message itself when untouched), in order.
  std::vector<std::string> backAll(const std::vector<pg::BackendMessage>& messages) {
    std::string bytes;
    std::vector<std::size_t> starts;
    for (const auto& m : messages) {
      starts.push_back(bytes.size());
      pg::encode(m, bytes);
    }
    starts.push_back(bytes.size());
    const std::string_view all(bytes);
    std::vector<std::string> out;
    for (std::size_t i = 0; i + 1 < starts.size(); ++i) {
      const auto at = starts[i];
      const auto end = starts[i + 1];
      std::string r;
      if (masker.onBackend(all[at], all.substr(at + 5, end - at - 5), r, all.substr(end))) out.push_back(r);
      else out.emplace_back(all.substr(at, end - at));
    }
    masker.endOfInput();
    return out;
  }
  static Row rowOf(const std::string& bytes) {
    auto m = pg::decodeBackend(bytes.empty() ? '\0' : bytes[0], std::string_view(bytes).substr(std::min<std::size_t>(5, bytes.size())));
    EXPECT_TRUE(m && std::holds_alternative<pg::DataRow>(*m)) << "type " << (bytes.empty() ? '-' : bytes[0]);
    return m && std::holds_alternative<pg::DataRow>(*m) ? std::get<pg::DataRow>(*m).values : Row{};
  }

  // Drops are replacements with nothing in them.
  void expectDropped(bool replaced, const char* what) {
    EXPECT_TRUE(replaced) << what;
    EXPECT_EQ(replacement, "") << what;
  }

  std::shared_ptr<const masking::Policy> policy = makePolicy();
  std::vector<bool> active{true, true, true, true};
  SessionMasker masker;
  std::string replacement;
};

const std::vector<pg::FieldDescription> kCustomerFields = {
    field("id", kCustomers, 1, kInt4), field("name", kCustomers, 2),  field("email", kCustomers, 3),
    field("phone", kCustomers, 4),     field("ssn", kCustomers, 5),   field("notes", kCustomers, 6)};

// ---- Simple protocol ----

TEST_F(Masker, SimpleQueryMasksByOidAndLineage) {
  ASSERT_TRUE(masker.active());
  query("SELECT email, upper(ssn) AS x, name FROM customers");
  EXPECT_FALSE(rowDescription({field("email", kCustomers, 3), field("x", 0, 0), field("name", kCustomers, 2)}));

  ASSERT_TRUE(dataRow({"alice@example.com", "123-45-6789", "Alice"}));
  const auto row = maskedRow();
  ASSERT_EQ(row.size(), 3u);
  ASSERT_TRUE(row[0].has_value());
  EXPECT_EQ(row[0]->rfind("tok_", 0), 0u) << *row[0];
  EXPECT_EQ(row[0]->size(), 4u + 24u);
  EXPECT_EQ(*row[0], tokenOf("alice@example.com")) << "the same value gives the same token";
  EXPECT_FALSE(row[1].has_value()) << "upper(ssn) derives from ssn: style null";
  EXPECT_EQ(row[2], "Alice");

  ASSERT_TRUE(dataRow({"bob@example.org", std::nullopt, "Bob"}));
  EXPECT_EQ(maskedRow(), (Row{tokenOf("bob@example.org"), std::nullopt, "Bob"}));

  EXPECT_FALSE(dataRow({std::nullopt, std::nullopt, "Carol"})) << "nothing to mask: the row passes as it is";
  EXPECT_FALSE(complete("SELECT 3"));
  EXPECT_FALSE(ready());

  auto counts = masker.takeCounts();
  std::map<std::pair<std::string, std::string>, uint64_t> by;
  for (const auto& c : counts) by[{c.rule, c.column}] = c.count;
  EXPECT_EQ((by[{"email", "email"}]), 2u);
  EXPECT_EQ((by[{"ssn", "x"}]), 1u);
  EXPECT_EQ(by.size(), 2u);
  EXPECT_TRUE(masker.takeCounts().empty()) << "taken";
}

TEST_F(Masker, RowsWithNothingProtectedPass) {
  query("SELECT id, name FROM customers");
  EXPECT_FALSE(rowDescription({field("id", kCustomers, 1, kInt4), field("name", kCustomers, 2)}));
  EXPECT_FALSE(dataRow({"1", "Alice"}));
  EXPECT_FALSE(dataRow({"2", std::nullopt}));
  EXPECT_FALSE(complete("SELECT 2"));
  EXPECT_FALSE(ready());
  EXPECT_TRUE(masker.takeCounts().empty());
}

TEST_F(Masker, PhonePartialAndSelectStarByColumnName) {
  query("SELECT * FROM customers");
  // A view or function result would report OID 0: the star's lineage names the columns.
  std::vector<pg::FieldDescription> fields;
  for (auto f : kCustomerFields) fields.push_back(field(f.name, 0, 0, f.type_oid));
  EXPECT_FALSE(rowDescription(fields));
  ASSERT_TRUE(dataRow({"1", "Alice", "alice@example.com", "555-123-4567", "123-45-6789", "likes cats"}));
  EXPECT_EQ(maskedRow(), (Row{"1", "Alice", tokenOf("alice@example.com"), "***-***-4567", std::nullopt,
                              "likes cats"}));
}

TEST_F(Masker, ContentDetectorsRedactInsideText) {
  query("SELECT id, notes FROM customers");
  EXPECT_FALSE(rowDescription({field("id", kCustomers, 1, kInt4), field("notes", kCustomers, 6)}));
  ASSERT_TRUE(dataRow({"7", "call bob@example.com today"}));
  EXPECT_EQ(maskedRow(), (Row{"7", "call **** today"}));
  ASSERT_TRUE(dataRow({"8", "card 4111 1111 1111 1111, thanks"}));
  EXPECT_EQ(maskedRow(), (Row{"8", "card ****, thanks"}));
  EXPECT_FALSE(dataRow({"9", "order 1234 5678 9012 3456 (not Luhn)"}));
  EXPECT_FALSE(complete("SELECT 3"));
  EXPECT_FALSE(ready());
  auto counts = masker.takeCounts();
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].rule, "content");
  EXPECT_EQ(counts[0].column, "notes");
  EXPECT_EQ(counts[0].count, 2u);
}

TEST_F(Masker, RowsReadTogetherAreScannedTogetherAndMaskedEach) {
  query("SELECT id, notes FROM customers");
  std::vector<pg::BackendMessage> messages{pg::RowDescription{{field("id", kCustomers, 1, kInt4), field("notes", kCustomers, 6)}}};
  for (int i = 0; i < 600; ++i)  // more rows than one read-ahead takes
    messages.push_back(pg::DataRow{{std::to_string(i), i % 7 == 3 ? "mail x" + std::to_string(i) + "@example.com now"
                                                     : i % 7 == 5 ? std::optional<std::string>()
                                                                  : "plain text " + std::to_string(i)}});
  messages.push_back(pg::CommandComplete{"SELECT 600"});
  messages.push_back(pg::ReadyForQuery{'I'});
  const auto out = backAll(messages);
  ASSERT_EQ(out.size(), messages.size());
  uint64_t masked = 0;
  for (int i = 0; i < 600; ++i) {
    const auto row = rowOf(out[static_cast<std::size_t>(i) + 1]);
    const Row want{std::to_string(i), i % 7 == 3 ? "mail **** now"
                                      : i % 7 == 5 ? std::optional<std::string>()
                                                   : "plain text " + std::to_string(i)};
    EXPECT_EQ(row, want) << "row " << i;
    masked += i % 7 == 3 ? 1 : 0;
  }
  auto counts = masker.takeCounts();
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].count, masked);
}

TEST_F(Masker, AMalformedRowReadAheadIsWithheldInItsTurn) {
  query("SELECT notes FROM customers");
  std::vector<pg::BackendMessage> messages{pg::RowDescription{{field("notes", kCustomers, 6)}},
                                           pg::DataRow{{"first a@example.com"}}, pg::DataRow{{"second"}},
                                           pg::DataRow{{"x", "a second value the description does not have"}},
                                           pg::DataRow{{"after b@example.com"}}, pg::CommandComplete{"SELECT 4"},
                                           pg::ReadyForQuery{'I'}};
  const auto out = backAll(messages);
  ASSERT_EQ(out.size(), messages.size());
  EXPECT_EQ(rowOf(out[1]), (Row{"first ****"}));
  EXPECT_EQ(rowOf(out[2]), (Row{"second"}));
  EXPECT_EQ(code(errorOf(out[3])), "42501") << "the malformed row is refused when its turn comes";
  EXPECT_EQ(out[4], "") << "and the rest of the result dropped";
  EXPECT_EQ(out[5], "");
  EXPECT_EQ(out[6][0], 'Z');
}

TEST_F(Masker, ReadAheadStopsAtTheEndOfAResult) {
  query("SELECT notes FROM customers; SELECT name, email FROM customers");
  const auto out = backAll({pg::RowDescription{{field("notes", kCustomers, 6)}}, pg::DataRow{{"one c@example.com"}},
                            pg::CommandComplete{"SELECT 1"},
                            pg::RowDescription{{field("name", kCustomers, 2), field("email", kCustomers, 3)}},
                            pg::DataRow{{"Dora d@example.com", "d@example.com"}}, pg::CommandComplete{"SELECT 1"},
                            pg::ReadyForQuery{'I'}});
  ASSERT_EQ(out.size(), 7u);
  EXPECT_EQ(rowOf(out[1]), (Row{"one ****"}));
  EXPECT_EQ(rowOf(out[4]), (Row{"Dora ****", tokenOf("d@example.com")})) << "the second result's own plan";
}

TEST_F(Masker, RowsNotFromTheReadAheadBytesAreReadAgain) {
  // A caller that passes a copy of a row rather than the bytes it gave as `following` still gets it masked.
  query("SELECT notes FROM customers");
  EXPECT_FALSE(rowDescription({field("notes", kCustomers, 6)}));
  std::string two;
  pg::encode(pg::BackendMessage{pg::DataRow{{"plain"}}}, two);
  pg::encode(pg::BackendMessage{pg::DataRow{{"e@example.com"}}}, two);
  std::string r;
  const std::string_view all(two);
  const std::size_t first = 1 + 4 + 2 + 4 + 5;
  EXPECT_FALSE(masker.onBackend('D', all.substr(5, first - 5), r, all.substr(first)));
  const std::string copy(all.substr(first));
  ASSERT_TRUE(masker.onBackend('D', std::string_view(copy).substr(5), r, {}));
  EXPECT_EQ(rowOf(r), (Row{"****"}));
}

TEST_F(Masker, MultiStatementQueryPairsEachResult) {
  query("SELECT name FROM customers; SELECT ssn FROM customers");
  EXPECT_FALSE(rowDescription({field("name", 0, 0)}));
  EXPECT_FALSE(dataRow({"123-45-6789"})) << "the first statement's column is name: not masked";
  EXPECT_FALSE(complete("SELECT 1"));
  EXPECT_FALSE(rowDescription({field("ssn", 0, 0)}));
  ASSERT_TRUE(dataRow({"123-45-6789"}));
  EXPECT_EQ(maskedRow(), (Row{std::nullopt}));
  EXPECT_FALSE(complete("SELECT 1"));
  EXPECT_FALSE(ready());
}

// ---- Extended protocol ----

TEST_F(Masker, BinaryResultOfAProtectedNonTextColumnIsRefused) {
  EXPECT_EQ(front(pg::Parse{"", "SELECT name, length(ssn) AS n FROM customers", {}}), "");
  EXPECT_EQ(front(pg::Bind{"", "", {}, {}, {1}}), "");
  EXPECT_EQ(front(pg::Describe{'P', ""}), "");
  EXPECT_EQ(front(pg::Execute{"", 0}), "");
  EXPECT_EQ(front(pg::Sync{}), "");

  EXPECT_FALSE(back(pg::ParseComplete{}));
  EXPECT_FALSE(back(pg::BindComplete{}));
  ASSERT_TRUE(rowDescription({field("name", kCustomers, 2, kText, 1), field("n", 0, 0, kInt4, 1)}));
  const auto err = replacedError();
  EXPECT_EQ(code(err), "42501");
  EXPECT_NE(message(err).find("\"n\""), std::string::npos) << message(err);
  expectDropped(dataRow({"Alice", std::string("\0\0\0\x0b", 4)}), "the refused result's rows");
  expectDropped(complete("SELECT 1"), "its CommandComplete");
  EXPECT_FALSE(ready()) << "ReadyForQuery ends the refusal and passes";

  // The session goes on in step.
  query("SELECT email FROM customers");
  EXPECT_FALSE(rowDescription({field("email", kCustomers, 3)}));
  ASSERT_TRUE(dataRow({"a@b.co"}));
  EXPECT_EQ(maskedRow(), (Row{tokenOf("a@b.co")}));
  EXPECT_FALSE(complete("SELECT 1"));
  EXPECT_FALSE(ready());
}

TEST_F(Masker, BinaryTextColumnsAreMasked) {
  EXPECT_EQ(front(pg::Parse{"", "SELECT email, name FROM customers", {}}), "");
  EXPECT_EQ(front(pg::Bind{"", "", {}, {}, {1}}), "");
  EXPECT_EQ(front(pg::Describe{'P', ""}), "");
  EXPECT_EQ(front(pg::Execute{"", 0}), "");
  EXPECT_EQ(front(pg::Sync{}), "");
  EXPECT_FALSE(back(pg::ParseComplete{}));
  EXPECT_FALSE(back(pg::BindComplete{}));
  EXPECT_FALSE(rowDescription({field("email", kCustomers, 3, kText, 1), field("name", kCustomers, 2, kText, 1)}));
  ASSERT_TRUE(dataRow({"x@y.io", "Xavier"}));
  EXPECT_EQ(maskedRow(), (Row{tokenOf("x@y.io"), "Xavier"}));
  EXPECT_FALSE(complete("SELECT 1"));
  EXPECT_FALSE(ready());
}

TEST_F(Masker, DescribeStatementThenBindFormatsJdbcStyle) {
  EXPECT_EQ(front(pg::Parse{"S_1", "SELECT email, length(ssn) AS n, name FROM customers", {}}), "");
  EXPECT_EQ(front(pg::Describe{'S', "S_1"}), "");
  EXPECT_EQ(front(pg::Sync{}), "");
  EXPECT_FALSE(back(pg::ParseComplete{}));
  EXPECT_FALSE(back(pg::ParameterDescription{}));
  // A statement's description: formats are not known yet (0).
  EXPECT_FALSE(rowDescription({field("email", kCustomers, 3), field("n", 0, 0, kInt4), field("name", kCustomers, 2)}));
  EXPECT_FALSE(ready());

  // Text results: masked with the statement's description.
  EXPECT_EQ(front(pg::Bind{"", "S_1", {}, {}, {0}}), "");
  EXPECT_EQ(front(pg::Execute{"", 0}), "");
  EXPECT_EQ(front(pg::Sync{}), "");
  EXPECT_FALSE(back(pg::BindComplete{}));
  ASSERT_TRUE(dataRow({"a@b.co", "11", "Al"}));
  EXPECT_EQ(maskedRow(), (Row{tokenOf("a@b.co"), std::nullopt, "Al"}));
  EXPECT_FALSE(complete("SELECT 1"));
  EXPECT_FALSE(ready());

  // Per-column formats: binary text columns are masked, the int4 is asked for in text.
  EXPECT_EQ(front(pg::Bind{"", "S_1", {}, {}, {1, 0, 1}}), "");
  EXPECT_EQ(front(pg::Execute{"", 0}), "");
  EXPECT_EQ(front(pg::Sync{}), "");
  EXPECT_FALSE(back(pg::BindComplete{}));
  ASSERT_TRUE(dataRow({"a@b.co", "11", "Al"}));
  EXPECT_EQ(maskedRow(), (Row{tokenOf("a@b.co"), std::nullopt, "Al"}));
  EXPECT_FALSE(complete("SELECT 1"));
  EXPECT_FALSE(ready());

  // All binary: the int4 derived from ssn cannot be masked, so the result is refused at its first row.
  EXPECT_EQ(front(pg::Bind{"", "S_1", {}, {}, {1}}), "");
  EXPECT_EQ(front(pg::Execute{"", 0}), "");
  EXPECT_EQ(front(pg::Sync{}), "");
  EXPECT_FALSE(back(pg::BindComplete{}));
  ASSERT_TRUE(dataRow({"a@b.co", std::string("\0\0\0\x0b", 4), "Al"}));
  EXPECT_EQ(code(replacedError()), "42501");
  expectDropped(dataRow({"c@d.co", std::string("\0\0\0\x0b", 4), "Cy"}), "second row");
  expectDropped(complete("SELECT 2"), "CommandComplete");
  EXPECT_FALSE(ready());
}

TEST_F(Masker, ExecuteWithoutDescribeUsesLineage) {
  EXPECT_EQ(front(pg::Parse{"", "SELECT ssn, name FROM customers", {}}), "");
  EXPECT_EQ(front(pg::Bind{"", "", {}, {}, {}}), "");
  EXPECT_EQ(front(pg::Execute{"", 1}), "");
  EXPECT_EQ(front(pg::Sync{}), "");
  EXPECT_FALSE(back(pg::ParseComplete{}));
  EXPECT_FALSE(back(pg::BindComplete{}));
  ASSERT_TRUE(dataRow({"123-45-6789", "Alice"}));
  EXPECT_EQ(maskedRow(), (Row{std::nullopt, "Alice"}));
  EXPECT_FALSE(back(pg::PortalSuspended{}));
  EXPECT_FALSE(ready());

  // Undescribed binary results with something to mask are refused.
  EXPECT_EQ(front(pg::Parse{"", "SELECT ssn FROM customers", {}}), "");
  EXPECT_EQ(front(pg::Bind{"", "", {}, {}, {1}}), "");
  EXPECT_EQ(front(pg::Execute{"", 0}), "");
  EXPECT_EQ(front(pg::Sync{}), "");
  EXPECT_FALSE(back(pg::ParseComplete{}));
  EXPECT_FALSE(back(pg::BindComplete{}));
  ASSERT_TRUE(dataRow({"123-45-6789"}));
  EXPECT_EQ(code(replacedError()), "42501");
  expectDropped(complete("SELECT 1"), "CommandComplete");
  EXPECT_FALSE(ready());
}

TEST_F(Masker, PipelinedErrorSkipsToSyncAndTheNextStatementIsStillMasked) {
  // Batch 1 fails at Execute; batch 2 (sent before any answer) must be paired with its own messages.
  EXPECT_EQ(front(pg::Parse{"s1", "SELECT name FROM customers WHERE id = 1/0", {}}), "");
  EXPECT_EQ(front(pg::Bind{"p1", "s1", {}, {}, {}}), "");
  EXPECT_EQ(front(pg::Describe{'P', "p1"}), "");
  EXPECT_EQ(front(pg::Execute{"p1", 0}), "");
  EXPECT_EQ(front(pg::Sync{}), "");
  EXPECT_EQ(front(pg::Parse{"s2", "SELECT name, email FROM customers", {}}), "");
  EXPECT_EQ(front(pg::Bind{"p2", "s2", {}, {}, {}}), "");
  EXPECT_EQ(front(pg::Describe{'P', "p2"}), "");
  EXPECT_EQ(front(pg::Execute{"p2", 0}), "");
  EXPECT_EQ(front(pg::Sync{}), "");

  EXPECT_FALSE(back(pg::ParseComplete{}));
  EXPECT_FALSE(back(pg::BindComplete{}));
  EXPECT_FALSE(rowDescription({field("name", kCustomers, 2)}));
  ASSERT_TRUE(back(pg::ErrorResponse{{{'S', "ERROR"}, {'C', "22012"}, {'M', "division by zero"}}}));
  EXPECT_EQ(message(replacedError()), "division by zero");
  EXPECT_FALSE(ready('I'));

  EXPECT_FALSE(back(pg::ParseComplete{}));
  EXPECT_FALSE(back(pg::BindComplete{}));
  EXPECT_FALSE(rowDescription({field("name", 0, 0), field("email", 0, 0)}));
  ASSERT_TRUE(dataRow({"Alice", "alice@example.com"}));
  EXPECT_EQ(maskedRow(), (Row{"Alice", tokenOf("alice@example.com")}));
  EXPECT_FALSE(complete("SELECT 1"));
  EXPECT_FALSE(ready());
}

TEST_F(Masker, PipelinedParseErrorSkipsBindAndExecute) {
  // The first Parse fails: no ParseComplete, BindComplete or rows for the first batch at all.
  EXPECT_EQ(front(pg::Parse{"", "SELECT nope FROM customers", {}}), "");
  EXPECT_EQ(front(pg::Bind{"", "", {}, {}, {}}), "");
  EXPECT_EQ(front(pg::Execute{"", 0}), "");
  EXPECT_EQ(front(pg::Sync{}), "");
  EXPECT_EQ(front(pg::Parse{"", "SELECT ssn, notes FROM customers", {}}), "");
  EXPECT_EQ(front(pg::Bind{"", "", {}, {}, {}}), "");
  EXPECT_EQ(front(pg::Execute{"", 0}), "");
  EXPECT_EQ(front(pg::Sync{}), "");

  ASSERT_TRUE(back(pg::ErrorResponse{
      {{'S', "ERROR"}, {'C', "42703"}, {'M', "column \"nope\" does not exist"}}}));
  EXPECT_FALSE(ready());
  EXPECT_FALSE(back(pg::ParseComplete{}));
  EXPECT_FALSE(back(pg::BindComplete{}));
  ASSERT_TRUE(dataRow({"123-45-6789", "mail me: a@b.example"}));
  EXPECT_EQ(maskedRow(), (Row{std::nullopt, "mail me: ****"}));
  EXPECT_FALSE(complete("SELECT 1"));
  EXPECT_FALSE(ready());
}

// ---- SQL-level prepared statements and cursors ----

TEST_F(Masker, SqlPrepareThenExecuteInALaterQuery) {
  query("PREPARE p AS SELECT ssn, name FROM customers");
  EXPECT_FALSE(complete("PREPARE"));
  EXPECT_FALSE(ready());

  query("EXECUTE p");
  EXPECT_FALSE(rowDescription({field("ssn", 0, 0), field("name", 0, 0)}));
  ASSERT_TRUE(dataRow({"123-45-6789", "Alice"}));
  EXPECT_EQ(maskedRow(), (Row{std::nullopt, "Alice"}));
  EXPECT_FALSE(complete("SELECT 1"));
  EXPECT_FALSE(ready());

  query("DEALLOCATE p");
  EXPECT_FALSE(complete("DEALLOCATE"));
  EXPECT_FALSE(ready());
  query("EXECUTE p");  // prepared again by something the gateway did not see
  ASSERT_TRUE(rowDescription({field("ssn", 0, 0), field("name", 0, 0)}));
  EXPECT_EQ(code(replacedError()), "42501");
  expectDropped(dataRow({"123-45-6789", "Alice"}), "row of an unknown prepared statement");
  expectDropped(complete("SELECT 1"), "CommandComplete");
  EXPECT_FALSE(ready());
}

TEST_F(Masker, DeclareAndFetch) {
  query("BEGIN; DECLARE c CURSOR FOR SELECT name, ssn AS s, email FROM customers");
  EXPECT_FALSE(complete("BEGIN"));
  EXPECT_FALSE(complete("DECLARE CURSOR"));
  EXPECT_FALSE(ready('T'));

  query("FETCH 10 FROM c");
  EXPECT_FALSE(rowDescription({field("name", 0, 0), field("s", 0, 0), field("email", 0, 0)}));
  ASSERT_TRUE(dataRow({"Alice", "123-45-6789", "alice@example.com"}));
  EXPECT_EQ(maskedRow(), (Row{"Alice", std::nullopt, tokenOf("alice@example.com")}));
  EXPECT_FALSE(complete("FETCH 1"));
  EXPECT_FALSE(ready('T'));

  query("FETCH ALL FROM other");
  ASSERT_TRUE(rowDescription({field("name", 0, 0), field("s", 0, 0)}));
  EXPECT_EQ(code(replacedError()), "42501") << "a cursor the gateway did not see declared";
  expectDropped(dataRow({"Alice", "123-45-6789"}), "its rows");
  expectDropped(complete("FETCH 1"), "CommandComplete");
  EXPECT_FALSE(ready('T'));
}

// ---- Statements refused before they run ----

TEST_F(Masker, RefusesWhatItCannotMask) {
  struct Case {
    const char* sql;
    const char* code;
    const char* part;  // of the message
  };
  for (const auto& c : {
           Case{"CREATE TABLE t AS SELECT ssn FROM customers", "42501", "customers.ssn"},
           Case{"INSERT INTO archive SELECT id, email FROM customers", "42501", "rule \"email\""},
           Case{"SELECT ssn INTO t FROM customers", "42501", "ssn"},
           Case{"PREPARE w AS INSERT INTO archive SELECT phone FROM customers", "42501", "phone"},
           Case{"DO $$ BEGIN PERFORM 1; END $$", "42501", "procedural"},
           Case{"COPY customers TO STDOUT (FORMAT binary)", "42501", "binary COPY"},
           Case{"SELEC name FROM customers", "42601", "does not parse"},
       }) {
    const auto refusal = front(pg::Query{c.sql});
    ASSERT_FALSE(refusal.empty()) << c.sql;
    const auto err = errorOf(refusal);
    EXPECT_EQ(code(err), c.code) << c.sql;
    EXPECT_NE(message(err).find(c.part), std::string::npos) << c.sql << ": " << message(err);
    // The caller sends the server something it refuses: an error, then ReadyForQuery.
    EXPECT_TRUE(back(pg::ErrorResponse{{{'S', "ERROR"}, {'C', "42601"}, {'M', "refused"}}}));
    EXPECT_FALSE(ready());
  }
  EXPECT_FALSE(errorOf(front(pg::Parse{"", "CREATE TABLE t AS SELECT email FROM customers", {}})).fields.empty());

  for (const char* ok : {"INSERT INTO archive SELECT id, name FROM customers", "SELECT ssn FROM customers",
                         "COPY (SELECT id, name FROM customers) TO STDOUT", "UPDATE customers SET name = 'x'"})
    EXPECT_EQ(front(pg::Query{ok}), "") << ok;
}

// ---- COPY TO STDOUT ----

TEST_F(Masker, CopyTextRowsRewritten) {
  query("COPY customers TO STDOUT");
  EXPECT_FALSE(back(pg::CopyResponse{'H', 0, std::vector<int16_t>(6, 0)}));
  ASSERT_TRUE(copyData("1\tAlice\talice@example.com\t555-123-4567\t123-45-6789\tlikes\\tcats\n"));
  EXPECT_EQ(maskedCopy(), "1\tAlice\t" + tokenOf("alice@example.com") + "\t***-***-4567\t\\N\tlikes\\tcats\n");
  EXPECT_FALSE(copyData("2\tBob\t\\N\t\\N\t\\N\tnothing here\n")) << "nothing to mask";
  ASSERT_TRUE(copyData("3\tCy\t\\N\t\\N\t\\N\tmail c@d.example\n"));
  EXPECT_EQ(maskedCopy(), "3\tCy\t\\N\t\\N\t\\N\tmail ****\n");
  EXPECT_FALSE(back(pg::CopyDone{}));
  EXPECT_FALSE(complete("COPY 3"));
  EXPECT_FALSE(ready());
}

TEST_F(Masker, CopyCsvWithHeader) {
  query("COPY (SELECT name, email FROM customers) TO STDOUT WITH (FORMAT csv, HEADER)");
  EXPECT_FALSE(back(pg::CopyResponse{'H', 0, {0, 0}}));
  EXPECT_FALSE(copyData("name,email\n")) << "the header row is left as it is";
  ASSERT_TRUE(copyData("\"Smith, J\",j@x.example\n"));
  EXPECT_EQ(maskedCopy(), "\"Smith, J\"," + tokenOf("j@x.example") + "\n");
  EXPECT_FALSE(copyData("Bob,\n")) << "a NULL email";
  EXPECT_FALSE(back(pg::CopyDone{}));
  EXPECT_FALSE(complete("COPY 2"));
  EXPECT_FALSE(ready());
}

TEST_F(Masker, CopyHeaderLooksLikeData) {
  // HEADER's first line is names, even when a name looks like an email; the following line is data.
  query("COPY (SELECT notes FROM customers) TO STDOUT WITH (FORMAT csv, HEADER true)");
  EXPECT_FALSE(back(pg::CopyResponse{'H', 0, {0}}));
  EXPECT_FALSE(copyData("notes\n"));
  ASSERT_TRUE(copyData("x@y.example\n"));
  EXPECT_EQ(maskedCopy(), "****\n");
  EXPECT_FALSE(complete("COPY 1"));
  EXPECT_FALSE(ready());
}

// ---- Errors, notices, notifications ----

TEST_F(Masker, ErrorDetailsAreMasked) {
  query("INSERT INTO customers (id, email) VALUES (1, 'a@b.c')");
  ASSERT_TRUE(back(pg::ErrorResponse{{{'S', "ERROR"},
                                       {'C', "23505"},
                                       {'M', "duplicate key value violates unique constraint \"customers_email_key\""},
                                       {'D', "Key (email)=(a@b.c) already exists."}}}));
  auto err = replacedError();
  EXPECT_EQ(*err.find('D'), "Key (email)=(****) already exists.");
  EXPECT_EQ(message(err), "duplicate key value violates unique constraint \"customers_email_key\"")
      << "the statement reads no protected column: quoted names stay";
  EXPECT_EQ(code(err), "23505");
  EXPECT_FALSE(ready());

  query("INSERT INTO customers (id, ssn) VALUES (2, '123-45-6789')");
  ASSERT_TRUE(back(pg::ErrorResponse{
      {{'S', "ERROR"},
       {'C', "23514"},
       {'M', "new row for relation \"customers\" violates check constraint \"c\""},
       {'D', "Failing row contains (2, null, null, null, 123-45-6789, (see) notes)."}}}));
  EXPECT_EQ(*replacedError().find('D'), "Failing row contains (****).");
  EXPECT_FALSE(ready());
}

TEST_F(Masker, ExclusionAndPartitionDetailsAreMasked) {
  // An exclusion violation quotes the existing row's key too (another row's data).
  query("INSERT INTO customers (id, ssn) VALUES (3, '123-45-6789')");
  ASSERT_TRUE(back(pg::ErrorResponse{
      {{'S', "ERROR"},
       {'C', "23P01"},
       {'M', "conflicting key value violates exclusion constraint \"no_overlap\""},
       {'D', "Key (ssn)=(123-45-6789) conflicts with existing key (ssn)=(987-65-4320)."}}}));
  const auto d = *replacedError().find('D');
  EXPECT_EQ(d, "Key (ssn)=(****) conflicts with existing key (ssn)=(****).");
  EXPECT_EQ(d.find("987"), std::string::npos) << d;
  EXPECT_FALSE(ready());

  query("INSERT INTO customers (id, ssn) VALUES (4, '123-45-6789')");
  ASSERT_TRUE(back(pg::ErrorResponse{
      {{'S', "ERROR"},
       {'C', "23514"},
       {'M', "no partition of relation \"customers\" found for row"},
       {'D', "Partition key of the failing row contains (ssn) = (123-45-6789)."}}}));
  EXPECT_EQ(*replacedError().find('D'), "Partition key of the failing row contains (ssn) = (****).");
  EXPECT_FALSE(ready());
}

TEST_F(Masker, QuotedValuesInMessagesMaskedOnlyWhenTheStatementReadsProtectedColumns) {
  query("SELECT name FROM customers WHERE ssn::int = 5");
  ASSERT_TRUE(back(pg::ErrorResponse{
      {{'S', "ERROR"}, {'C', "22P02"}, {'M', "invalid input syntax for type integer: \"123-45-6789\""}}}));
  EXPECT_EQ(message(replacedError()), "invalid input syntax for type integer: \"****\"");
  EXPECT_FALSE(ready());

  query("SELECT name FROM customers WHERE name::int = 5");
  ASSERT_TRUE(back(pg::ErrorResponse{
      {{'S', "ERROR"}, {'C', "22P02"}, {'M', "invalid input syntax for type integer: \"Alice\""}}}));
  EXPECT_EQ(message(replacedError()), "invalid input syntax for type integer: \"Alice\"");
  EXPECT_FALSE(ready());

  // Detectors run over messages whatever the statement.
  query("SELECT 'x'::int");
  ASSERT_TRUE(back(pg::NoticeResponse{{{'S', "NOTICE"}, {'C', "00000"}, {'M', "sent to bob@example.com"}}}));
  auto m = decoded();
  ASSERT_TRUE(std::holds_alternative<pg::NoticeResponse>(m));
  const auto& fields = std::get<pg::NoticeResponse>(m).fields;
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[2].second, "sent to ****");
  EXPECT_FALSE(ready());
}

TEST_F(Masker, NotificationPayloadsAreScanned) {
  ASSERT_TRUE(back(pg::NotificationResponse{4242, "payments", "paid with 4111 1111 1111 1111 ok"}));
  auto m = decoded();
  ASSERT_TRUE(std::holds_alternative<pg::NotificationResponse>(m));
  const auto& n = std::get<pg::NotificationResponse>(m);
  EXPECT_EQ(n.pid, 4242);
  EXPECT_EQ(n.channel, "payments");
  EXPECT_EQ(n.payload, "paid with **** ok");
  EXPECT_FALSE(back(pg::NotificationResponse{4242, "payments", "order 17 paid"}));
}

// ---- Robustness ----

TEST_F(Masker, NotificationsDuringARefusedResultStillArrive) {
  query("EXECUTE unknown_statement");
  ASSERT_TRUE(rowDescription({field("x", 0, 0)}));
  EXPECT_EQ(code(replacedError()), "42501");
  // LISTEN/NOTIFY messages are asynchronous: not part of the refused result.
  ASSERT_TRUE(back(pg::NotificationResponse{7, "jobs", "card 4111 1111 1111 1111"}));
  ASSERT_FALSE(replacement.empty()) << "the notification was dropped with the refused rows";
  auto m = decoded();
  ASSERT_TRUE(std::holds_alternative<pg::NotificationResponse>(m));
  EXPECT_EQ(std::get<pg::NotificationResponse>(m).payload, "card ****");
  EXPECT_FALSE(back(pg::NotificationResponse{7, "jobs", "nothing"}));
  expectDropped(dataRow({"1"}), "a row of the refused result");
  EXPECT_FALSE(ready());
}

TEST_F(Masker, MalformedClientMessagesDoNotThrow) {
  EXPECT_NO_THROW(masker.onFrontend('D', ""));
  EXPECT_NO_THROW(masker.onFrontend('C', ""));
  EXPECT_NO_THROW(masker.onFrontend('B', std::string_view("\0", 1)));
  EXPECT_NO_THROW(masker.onFrontend('P', ""));
  EXPECT_NO_THROW(masker.onFrontend('E', ""));
}

// A Bind may name a statement made by SQL PREPARE: its rows are planned with the PREPARE's lineage.
TEST_F(Masker, ProtocolBindOfASqlPreparedStatement) {
  // PREPARE and Parse share one namespace: a Bind may name a statement made by SQL PREPARE.
  query("PREPARE p AS SELECT upper(ssn) AS x FROM customers");
  EXPECT_FALSE(complete("PREPARE"));
  EXPECT_FALSE(ready());
  EXPECT_EQ(front(pg::Bind{"", "p", {}, {}, {}}), "");
  EXPECT_EQ(front(pg::Execute{"", 0}), "");
  EXPECT_EQ(front(pg::Sync{}), "");
  EXPECT_FALSE(back(pg::BindComplete{}));
  ASSERT_TRUE(dataRow({"123-45-6789"})) << "upper(ssn) went out in clear";
  EXPECT_EQ(replacement.find("123-45-6789"), std::string::npos);
}

// SQL DEALLOCATE/PREPARE and protocol-level statements share one namespace: a Bind of the re-prepared name is
// planned with the new statement's lineage.
TEST_F(Masker, StatementNamesReusedThroughSqlDeallocateAndPrepare) {
  EXPECT_EQ(front(pg::Parse{"p", "SELECT name AS x FROM customers", {}}), "");
  EXPECT_EQ(front(pg::Sync{}), "");
  EXPECT_FALSE(back(pg::ParseComplete{}));
  EXPECT_FALSE(ready());
  query("DEALLOCATE p");
  EXPECT_FALSE(complete("DEALLOCATE"));
  EXPECT_FALSE(ready());
  query("PREPARE p AS SELECT upper(ssn) AS x FROM customers");
  EXPECT_FALSE(complete("PREPARE"));
  EXPECT_FALSE(ready());
  EXPECT_EQ(front(pg::Bind{"", "p", {}, {}, {}}), "");
  EXPECT_EQ(front(pg::Execute{"", 0}), "");
  EXPECT_EQ(front(pg::Sync{}), "");
  EXPECT_FALSE(back(pg::BindComplete{}));
  ASSERT_TRUE(dataRow({"123-45-6789"})) << "planned with the deallocated statement's lineage: ssn in clear";
  EXPECT_EQ(replacement.find("123-45-6789"), std::string::npos);
}

// ---- Sessions a rule does not concern ----

TEST(MaskerInactive, RulesOfOtherGroupsDoNothing) {
  auto policy = makePolicy();
  const std::vector<bool> none{false, false, false, false};
  SessionMasker masker(policy, none, masking::ProtectedColumns(*policy, none, {}, {}));
  EXPECT_FALSE(masker.active());
  std::string out;
  pg::encode(pg::Query{"CREATE TABLE t AS SELECT ssn FROM customers"}, out);
  EXPECT_EQ(masker.onFrontend('Q', std::string_view(out).substr(5)), "");
  out.clear();
  pg::encode(pg::RowDescription{{field("ssn", kCustomers, 5)}}, out);
  std::string repl;
  EXPECT_FALSE(masker.onBackend('T', std::string_view(out).substr(5), repl));
  out.clear();
  pg::encode(pg::DataRow{{"123-45-6789"}}, out);
  EXPECT_FALSE(masker.onBackend('D', std::string_view(out).substr(5), repl));
}

}  // namespace
}  // namespace gatehouse::gateway
