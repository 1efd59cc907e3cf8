// COPY ... TO STDOUT rows, text and csv formats: split into decoded fields so that the gateway can mask some,
// and joined back exactly as PostgreSQL's COPY TO writes them (copyto.c, CopyAttributeOutText/CSV).
// Decoding follows PostgreSQL's COPY FROM (copyfromparse.c, CopyReadAttributesText/CSV), so a row the server
// sent splits the way the server would read it back. Pure, no I/O; run once per row on the data path.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gatehouse::masking {

// The COPY options that shape a row. The defaults are the text format's; csvCopyFormat() gives csv's.
struct CopyTextFormat {
  bool csv = false;
  char delimiter = '\t';            // csv default ','
  std::string null_string = "\\N";  // csv default ""
  char quote = '"';                 // csv only
  char escape = '"';                // csv only
};

CopyTextFormat csvCopyFormat();

// One row's fields: a decoded value, or nullopt for NULL.
using CopyFields = std::vector<std::optional<std::string>>;

// Splits one row (one CopyData message; a final "\n" or "\r\n" is optional) into decoded fields. A row has at
// least one field: an empty row is one empty (or, if null_string is empty, NULL) field.
// Text: \b \f \n \r \t \v, \ooo octal and \xhh hex are decoded; a backslash before any other character stands
// for that character, as PostgreSQL reads it; a field whose raw (undecoded) text equals null_string is NULL.
// Csv: fields may be quoted, mixed with unquoted parts as PostgreSQL allows (a"b"c); inside quotes
// escape+quote and escape+escape stand for quote and escape; an unquoted field equal to null_string is NULL.
// Errors: a backslash ending the row (text), an unterminated quoted field (csv).
Result<CopyFields> splitCopyRow(std::string_view row, const CopyTextFormat& f);

// The same into `fields`, reusing its strings' capacity from row to row (on error, `fields` is unspecified).
Result<void> splitCopyRow(std::string_view row, const CopyTextFormat& f, CopyFields& fields);

// Appends the row as PostgreSQL's COPY TO writes it, '\n' included. Text: NULL is null_string as is;
// backslash, the delimiter, \b \f \n \r \t \v are backslash-escaped, other bytes go as they are. Csv: a
// value is quoted when it contains the delimiter, quote, \r or \n, equals null_string (so "" when null_string
// is empty), or is "\." alone in a one-field row; inside quotes, quote and escape are preceded by escape.
// Like PostgreSQL, a text-format value equal to a null_string without a backslash reads back as NULL.
void joinCopyRow(const CopyFields& fields, const CopyTextFormat& f, std::string& out);

}  // namespace gatehouse::masking
