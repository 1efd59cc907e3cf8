// COPY rows: rows as PostgreSQL's COPY TO writes them (written down from the COPY documentation and copyto.c)
// split into the right fields, fields join back to the same bytes, and split(join(x)) == x on random fields.
#include "masking/copy_rows.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace gatehouse::masking {
namespace {

using Fields = CopyFields;
constexpr std::nullopt_t kNull = std::nullopt;

CopyTextFormat text() {
  return {};
}
CopyTextFormat csv() {
  return csvCopyFormat();
}

Fields split(std::string_view row, const CopyTextFormat& f) {
  auto fields = splitCopyRow(row, f);
  EXPECT_TRUE(fields) << (fields ? "" : fields.error().message);
  return fields ? *fields : Fields{};
}

std::string join(const Fields& fields, const CopyTextFormat& f) {
  std::string out;
  joinCopyRow(fields, f, out);
  return out;
}

TEST(CopyFormat, CsvDefaults) {
  EXPECT_TRUE(csv().csv);
  EXPECT_EQ(csv().delimiter, ',');
  EXPECT_EQ(csv().null_string, "");
  EXPECT_EQ(csv().quote, '"');
  EXPECT_EQ(csv().escape, '"');
}

TEST(CopyText, PostgresRows) {
  EXPECT_EQ(split("1\tAlice\t\\N\ta\\tb\n", text()), (Fields{"1", "Alice", kNull, "a\tb"}));
  EXPECT_EQ(join({"1", "Alice", kNull, "a\tb"}, text()), "1\tAlice\t\\N\ta\\tb\n");
  EXPECT_EQ(split("C:\\\\dir\tline1\\nline2\\r\n", text()), (Fields{"C:\\dir", "line1\nline2\r"}));
  EXPECT_EQ(join({"C:\\dir", "line1\nline2\r"}, text()), "C:\\\\dir\tline1\\nline2\\r\n");
  // "\N" is NULL, but an escaped backslash followed by N is the text \N.
  EXPECT_EQ(split("\\N\t\\\\N\n", text()), (Fields{kNull, "\\N"}));
  EXPECT_EQ(join({kNull, "\\N"}, text()), "\\N\t\\\\N\n");
}

TEST(CopyText, AllEscapes) {
  EXPECT_EQ(split("\\b\\f\\n\\r\\t\\v\\\\", text()), (Fields{"\b\f\n\r\t\v\\"}));
  EXPECT_EQ(join({"\b\f\n\r\t\v\\"}, text()), "\\b\\f\\n\\r\\t\\v\\\\\n");
  EXPECT_EQ(split("\\101\\x41\\x4\\7\\1234\\777", text()), (Fields{"AA\x04\x07S4\xFF"}));
  // As in PostgreSQL's COPY FROM: any other escaped character stands for itself, "\x" without hex is 'x'.
  EXPECT_EQ(split("\\q\\x\\xg\\.\\\t", text()), (Fields{"qxxg.\t"}));
  // Other control characters and UTF-8 go as they are.
  EXPECT_EQ(join({"\x01\x1F\x7F", "José"}, text()), "\x01\x1F\x7F\tJosé\n");
  EXPECT_EQ(split("\x01\x1F\x7F\tJosé\n", text()), (Fields{"\x01\x1F\x7F", "José"}));
}

TEST(CopyText, RowShapes) {
  EXPECT_EQ(split("", text()), (Fields{""}));
  EXPECT_EQ(split("\n", text()), (Fields{""}));
  EXPECT_EQ(split("a\t", text()), (Fields{"a", ""}));
  EXPECT_EQ(split("\t\t", text()), (Fields{"", "", ""}));
  EXPECT_EQ(split("a\tb\r\n", text()), (Fields{"a", "b"}));
  EXPECT_EQ(split("a\tb", text()), (Fields{"a", "b"}));
}

TEST(CopyText, OtherDelimiterAndNullString) {
  const CopyTextFormat f{.delimiter = '|', .null_string = "NULL"};
  EXPECT_EQ(join({"a|b", kNull, "\t"}, f), "a\\|b|NULL|\\t\n");
  EXPECT_EQ(split("a\\|b|NULL|\\t\n", f), (Fields{"a|b", kNull, "\t"}));
  EXPECT_EQ(split("\\N|\\NULL", f), (Fields{"N", "NULL"}));  // the null string is compared on the raw text
  // A control-character delimiter is escaped as backslash + itself.
  const CopyTextFormat soh{.delimiter = '\x01'};
  EXPECT_EQ(join({"a\001b", "c"}, soh), "a\\\001b\001c\n");
  EXPECT_EQ(split("a\\\001b\001c\n", soh), (Fields{"a\001b", "c"}));
}

TEST(CopyText, Errors) {
  EXPECT_FALSE(splitCopyRow("a\\", text()));
  EXPECT_FALSE(splitCopyRow("a\t\\\n", text()));
  auto bad = splitCopyRow("x\\", text());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "COPY row: backslash at the end of the row");
}

TEST(CopyCsv, PostgresRows) {
  EXPECT_EQ(split("1,\"a,b\",\"say \"\"hi\"\"\",,\"\"\n", csv()),
            (Fields{"1", "a,b", "say \"hi\"", kNull, ""}));
  EXPECT_EQ(join({"1", "a,b", "say \"hi\"", kNull, ""}, csv()), "1,\"a,b\",\"say \"\"hi\"\"\",,\"\"\n");
  EXPECT_EQ(split("2,\"line1\nline2\",\"cr\r\"\n", csv()), (Fields{"2", "line1\nline2", "cr\r"}));
  EXPECT_EQ(join({"2", "line1\nline2", "cr\r"}, csv()), "2,\"line1\nline2\",\"cr\r\"\n");
  // Backslashes and tabs are plain data in csv.
  EXPECT_EQ(split("C:\\dir\\N,a\tb\n", csv()), (Fields{"C:\\dir\\N", "a\tb"}));
  EXPECT_EQ(join({"C:\\dir\\N", "a\tb", "José"}, csv()), "C:\\dir\\N,a\tb,José\n");
}

TEST(CopyCsv, QuotingRules) {
  // PostgreSQL reads quoted parts anywhere in a field.
  EXPECT_EQ(split("a\"b,c\"d", csv()), (Fields{"ab,cd"}));
  EXPECT_EQ(split(",", csv()), (Fields{kNull, kNull}));
  EXPECT_EQ(split("\"\",\"\"", csv()), (Fields{"", ""}));
  // "\." alone in a one-field row is quoted, so that it does not read as the end-of-data marker.
  EXPECT_EQ(join({"\\."}, csv()), "\"\\.\"\n");
  EXPECT_EQ(join({"\\.", "x"}, csv()), "\\.,x\n");
  EXPECT_EQ(split("\"\\.\"\n", csv()), (Fields{"\\."}));
}

TEST(CopyCsv, OtherEscapeQuoteDelimiterAndNullString) {
  const CopyTextFormat f{.csv = true, .delimiter = ';', .null_string = "NULL", .quote = '\'', .escape = '\\'};
  EXPECT_EQ(join({"it's", "a\\b", "NULL", kNull, "", "x;y", "say \"hi\""}, f),
            "'it\\'s';a\\b;'NULL';NULL;;'x;y';say \"hi\"\n");
  EXPECT_EQ(split("'it\\'s';a\\b;'NULL';NULL;;'x;y';say \"hi\"\n", f),
            (Fields{"it's", "a\\b", "NULL", kNull, "", "x;y", "say \"hi\""}));
  // Inside quotes, escape + escape is one escape and escape before anything else is taken literally.
  EXPECT_EQ(split("'a\\\\b';'a\\b'", f), (Fields{"a\\b", "a\\b"}));
  EXPECT_EQ(join({"'\\"}, f), "'\\'\\\\'\n");
}

TEST(CopyCsv, Errors) {
  EXPECT_FALSE(splitCopyRow("1,\"abc\n", csv()));
  EXPECT_FALSE(splitCopyRow("\"", csv()));
  EXPECT_FALSE(splitCopyRow("\"a\"\"", csv()));
  auto bad = splitCopyRow("1,\"x", csv());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "COPY row: unterminated CSV quoted field");
}

TEST(CopyRows, SplitIntoReusesTheStrings) {
  CopyFields fields;
  ASSERT_TRUE(splitCopyRow("a long first value, past the small-string buffer\t\\N\tb\n", text(), fields));
  ASSERT_EQ(fields.size(), 3U);
  const char* buffer = fields[0]->data();
  ASSERT_TRUE(splitCopyRow("short\\tescaped\tx\n", text(), fields));
  EXPECT_EQ(fields, (Fields{"short\tescaped", "x"}));
  EXPECT_EQ(fields[0]->data(), buffer);
}

TEST(CopyRows, RandomRoundTrips) {
  const std::vector<CopyTextFormat> formats = {
      text(),
      CopyTextFormat{.delimiter = ','},
      CopyTextFormat{.delimiter = '|', .null_string = "\\NULL"},
      csv(),
      CopyTextFormat{.csv = true, .delimiter = '\t', .null_string = "NULL"},
      CopyTextFormat{.csv = true, .delimiter = ';', .null_string = "\\N", .quote = '\'', .escape = '\\'},
  };
  const std::vector<std::string> pieces = {"\t", "\n", "\r",   "\\",  "\"", "'", ",", ";",
                                           "|",  "N",  "NULL", "\\N", "a",  "x", "0", "7",
                                           ".",  " ",  "\x01", "\b",  "\v", "é", "😀", "\xFF"};
  std::mt19937 rng(20240611);
  const auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  CopyFields reused;
  for (const auto& f : formats) {
    for (int iteration = 0; iteration < 2000; ++iteration) {
      Fields fields(1 + pick(6));
      for (auto& field : fields) {
        if (pick(6) == 0) continue;  // NULL
        field.emplace();
        for (std::size_t n = pick(9); n > 0; --n) *field += pieces[pick(pieces.size())];
      }
      const std::string row = join(fields, f);
      ASSERT_EQ(row.back(), '\n');
      auto back = splitCopyRow(row, f);
      ASSERT_TRUE(back) << back.error().message << " in " << row;
      ASSERT_EQ(*back, fields) << "row: " << row;
      ASSERT_TRUE(splitCopyRow(row, f, reused));
      ASSERT_EQ(reused, fields) << "row: " << row;
    }
  }
}

}  // namespace
}  // namespace gatehouse::masking
