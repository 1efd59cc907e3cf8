// The analyzed-SQL cache; see facts_cache.h.
#include "inspect/sql/facts_cache.h"

#include "inspect/sql/analyzer.h"

namespace gatehouse::inspect::sql {

namespace {

bool identStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool identPart(char c) { return identStart(c) || (c >= '0' && c <= '9') || c == '$'; }
bool digit(char c) { return c >= '0' && c <= '9'; }

// Characters that may stand outside literals in a text the scanner understands: letters, digits, blanks, and
// operators and punctuation. Missing on purpose: '"' (quoted identifiers), '$' outside an identifier (dollar
// quotes; parameters are handled below), '\\', non-ASCII bytes, and control characters other than blanks. '-' and
// '/' are plain unless they open a comment (`--`, `/*`), which sends the text to the exact key.
bool plainChar(char c) {
  switch (c) {
    case ' ': case '\t': case '\n': case '\r':
    case '(': case ')': case ',': case ';': case '.': case '*': case '=': case '<': case '>': case '+':
    case '!': case '%': case '^': case '&': case '|': case '[': case ']': case ':': case '~': case '#':
    case '@': case '?': case '{': case '}': case '-': case '/':
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string shapeKey(std::string_view sql) {
  std::string key;
  key.reserve(sql.size() + 1);
  key += 'N';
  std::size_t i = 0;
  const auto exact = [&] { return "X" + std::string(sql); };
  while (i < sql.size()) {
    const char c = sql[i];
    if (identStart(c)) {
      // An identifier or keyword; one directly followed by a quote is a prefixed literal (E'', B'', X'', U&'')
      // whose reading depends on the prefix: not blanked.
      const std::size_t start = i;
      while (i < sql.size() && identPart(sql[i])) ++i;
      if (i < sql.size() && (sql[i] == '\'' || sql[i] == '&')) return exact();
      key.append(sql.substr(start, i - start));
      continue;
    }
    if (digit(c)) {
      // A plain number: digits with an optional fraction. Anything else glued to it (1e5, 0x1F, 1_000, 1.2.3,
      // 1a) is left to the parser.
      while (i < sql.size() && digit(sql[i])) ++i;
      if (i < sql.size() && sql[i] == '.') {
        ++i;
        while (i < sql.size() && digit(sql[i])) ++i;
      }
      if (i < sql.size() && (identPart(sql[i]) || sql[i] == '.')) return exact();
      key += '0';
      continue;
    }
    if (c == '\'') {
      // A standard string: '' inside is a quote. Backslashes are refused (their meaning depends on
      // standard_conforming_strings), and so is a string continued after a newline ('a'\n'b').
      ++i;
      for (;;) {
        if (i >= sql.size()) return exact();  // unterminated: the parser says so
        if (sql[i] == '\\') return exact();
        if (sql[i] == '\'') {
          if (i + 1 < sql.size() && sql[i + 1] == '\'') {
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        ++i;
      }
      std::size_t j = i;
      while (j < sql.size() && (sql[j] == ' ' || sql[j] == '\t' || sql[j] == '\n' || sql[j] == '\r')) ++j;
      if (j < sql.size() && sql[j] == '\'') return exact();
      key += "''";
      continue;
    }
    if (c == '$') {
      // $1 (a parameter) is fine; $tag$ or $$ (a dollar quote) is not.
      std::size_t j = i + 1;
      if (j < sql.size() && digit(sql[j])) {
        while (j < sql.size() && digit(sql[j])) ++j;
        if (j < sql.size() && identPart(sql[j])) return exact();
        key.append(sql.substr(i, j - i));
        i = j;
        continue;
      }
      return exact();
    }
    if (!plainChar(c)) return exact();
    if ((c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') || (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*'))
      return exact();  // a comment
    key += c;
    ++i;
  }
  return key;
}

Result<std::shared_ptr<const FactsList>> FactsCache::analyze(std::string_view sql) {
  std::string key = shapeKey(sql);
  if (auto it = index_.find(key); it != index_.end()) {
    ++hits_;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->facts;
  }
  ++misses_;
  auto analyzed = sql::analyze(sql);
  if (!analyzed) return analyzed.error();
  auto facts = std::make_shared<const FactsList>(std::move(*analyzed));
  // A multi-statement string is not kept: each statement's own text is in its facts. A blanked key may be
  // shared by texts with other literals, so what it keeps must not depend on a literal's value (see the header).
  bool cacheable = facts->size() == 1 && capacity_ > 0;
  if (cacheable && key.front() == 'N') {
    const auto& f = facts->front();
    // COPY options are literals too: DELIMITER ';' and DELIMITER ',' must not share facts.
    cacheable = !f.performs(Kind::kExplain) && f.search_path_change != SearchPathChange::kSet && !f.copy;
  }
  if (!cacheable) return facts;
  if (index_.size() >= capacity_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  lru_.push_front(Entry{std::move(key), facts});
  index_.emplace(lru_.front().key, lru_.begin());
  return facts;
}

FactsCache& FactsCache::forThisThread() {
  thread_local FactsCache cache;
  return cache;
}

}  // namespace gatehouse::inspect::sql
