#include "masking/copy_rows.h"

#include <array>
#include <cstddef>

namespace gatehouse::masking {
namespace {

constexpr std::size_t kBadRow = std::string_view::npos;

std::string_view withoutTerminator(std::string_view row) {
  if (!row.empty() && row.back() == '\n') {
    row.remove_suffix(1);
    if (!row.empty() && row.back() == '\r') row.remove_suffix(1);
  }
  return row;
}

bool isOctal(char c) {
  return c >= '0' && c <= '7';
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Mirrors CopyReadAttributesText: scans the text-format field starting at row[i] and returns where it ends
// (at the delimiter or the row's end), or kBadRow for a backslash ending the row. Appends the decoded value
// to `out` when given; `escaped` tells whether the field had a backslash (if not, its raw text is its value).
std::size_t scanTextField(std::string_view row, std::size_t i, char delim, std::string* out, bool& escaped) {
  escaped = false;
  while (i < row.size()) {
    char c = row[i];
    if (c == delim) return i;
    ++i;
    if (c == '\\') {
      escaped = true;
      if (i == row.size()) return kBadRow;
      c = row[i++];
      switch (c) {
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7': {
          int v = c - '0';
          for (int n = 0; n < 2 && i < row.size() && isOctal(row[i]); ++n) v = v * 8 + (row[i++] - '0');
          c = static_cast<char>(v & 0xFF);
          break;
        }
        case 'x':  // "\x" without a hex digit is a plain 'x'
          if (i < row.size() && hexValue(row[i]) >= 0) {
            int v = hexValue(row[i++]);
            if (i < row.size() && hexValue(row[i]) >= 0) v = v * 16 + hexValue(row[i++]);
            c = static_cast<char>(v);
          }
          break;
        case 'b':
          c = '\b';
          break;
        case 'f':
          c = '\f';
          break;
        case 'n':
          c = '\n';
          break;
        case 'r':
          c = '\r';
          break;
        case 't':
          c = '\t';
          break;
        case 'v':
          c = '\v';
          break;
        default:
          break;
      }
    }
    if (out) out->push_back(c);
  }
  return i;
}

// The csv counterpart, mirroring CopyReadAttributesCSV: kBadRow for an unterminated quoted field; `quoted`
// tells whether the field had any quote (if not, its raw text is its value and it may be NULL).
std::size_t scanCsvField(std::string_view row, std::size_t i, const CopyTextFormat& f, std::string* out,
                         bool& quoted) {
  quoted = false;
  while (i < row.size()) {
    char c = row[i];
    if (c == f.delimiter) return i;
    ++i;
    if (c != f.quote) {
      if (out) out->push_back(c);
      continue;
    }
    quoted = true;
    for (;;) {
      if (i == row.size()) return kBadRow;
      c = row[i++];
      // Tested before the closing quote, since escape and quote are usually the same character.
      if (c == f.escape && i < row.size() && (row[i] == f.escape || row[i] == f.quote)) {
        if (out) out->push_back(row[i]);
        ++i;
        continue;
      }
      if (c == f.quote) break;
      if (out) out->push_back(c);
    }
  }
  return i;
}

// The backslash escape PostgreSQL writes for c in a text-format value, or 0 when c goes as it is.
char textEscape(char c, char delim) {
  switch (c) {
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\t':
      return 't';
    case '\v':
      return 'v';
    case '\\':
      return '\\';
    default:
      return c == delim ? c : '\0';
  }
}

void appendText(std::string_view v, char delim, std::string& out) {
  std::size_t run = 0;  // bytes from `run` to i go out unchanged, in one append
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char esc = textEscape(v[i], delim);
    if (esc == 0) continue;
    out.append(v.substr(run, i - run));
    out.push_back('\\');
    out.push_back(esc);
    run = i + 1;
  }
  out.append(v.substr(run));
}

void appendCsv(std::string_view v, const CopyTextFormat& f, bool single_field, std::string& out) {
  const std::array<char, 4> specials{f.delimiter, f.quote, '\n', '\r'};
  // "\." alone on a line would read back as the end-of-data marker.
  const bool quote =
      v == f.null_string || (single_field && v == "\\.") ||
      v.find_first_of(std::string_view(specials.data(), specials.size())) != std::string_view::npos;
  if (!quote) {
    out.append(v);
    return;
  }
  out.push_back(f.quote);
  std::size_t run = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != f.quote && v[i] != f.escape) continue;
    out.append(v.substr(run, i - run));
    out.push_back(f.escape);
    run = i;  // the character itself goes out with the next run
  }
  out.append(v.substr(run));
  out.push_back(f.quote);
}

}  // namespace

CopyTextFormat csvCopyFormat() {
  return CopyTextFormat{.csv = true, .delimiter = ',', .null_string = ""};
}

Result<void> splitCopyRow(std::string_view row, const CopyTextFormat& f, CopyFields& fields) {
  row = withoutTerminator(row);
  std::size_t count = 0;
  std::size_t i = 0;
  for (;;) {
    bool special = false;  // escaped (text) or quoted (csv): the raw text is not the value
    const std::size_t end = f.csv ? scanCsvField(row, i, f, nullptr, special)
                                  : scanTextField(row, i, f.delimiter, nullptr, special);
    if (end == kBadRow)
      return makeError(f.csv ? "COPY row: unterminated CSV quoted field"
                             : "COPY row: backslash at the end of the row");
    const std::string_view raw = row.substr(i, end - i);
    if (count == fields.size()) fields.emplace_back();
    auto& field = fields[count++];
    // Text compares the raw text even when escaped (the default null string is "\N"); csv only when unquoted.
    if ((!f.csv || !special) && raw == f.null_string) {
      field.reset();
    } else {
      if (!field) field.emplace();  // an engaged one keeps its string, and the string its capacity
      field->clear();
      if (!special)
        field->append(raw);
      else if (f.csv)
        scanCsvField(row, i, f, &*field, special);
      else
        scanTextField(row, i, f.delimiter, &*field, special);
    }
    if (end == row.size()) break;
    i = end + 1;
  }
  fields.resize(count);
  return {};
}

Result<CopyFields> splitCopyRow(std::string_view row, const CopyTextFormat& f) {
  CopyFields fields;
  auto ok = splitCopyRow(row, f, fields);
  if (!ok) return ok.error();
  return fields;
}

void joinCopyRow(const CopyFields& fields, const CopyTextFormat& f, std::string& out) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out.push_back(f.delimiter);
    if (!fields[i])
      out.append(f.null_string);
    else if (f.csv)
      appendCsv(*fields[i], f, fields.size() == 1, out);
    else
      appendText(*fields[i], f.delimiter, out);
  }
  out.push_back('\n');
}

}  // namespace gatehouse::masking
