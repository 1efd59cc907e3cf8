// Text helpers for the record commands; see record_format.h.
#include "cli/record_format.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <ostream>

namespace gatehouse::cli {

namespace {

constexpr int64_t kUsPerSecond = 1000000;

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) {
    return false;
  }
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

size_t codePoints(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// Length of the UTF-8 sequence starting at s[i] and its code point; 0 if malformed.
size_t decodeUtf8(std::string_view s, size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) {
    return 0;
  }
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      return 0;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  return len;
}

bool isSpace(char32_t cp) { return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x2028 || cp == 0x2029; }

// C0/C1 controls and DEL can move the cursor or recolour the terminal; bidirectional overrides can make text
// read differently from what it is ("Trojan Source").
bool isUnsafe(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace

Result<int64_t> parseSince(std::string_view text, int64_t now_us) {
  const auto bad = [&] {
    return makeError("cannot read time '" + std::string(text) +
                     "': use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]Z (UTC), or an age like 30m, 2h, 7d");
  };
  if (text.size() >= 2 && std::string_view("smhd").find(text.back()) != std::string_view::npos &&
      text.size() <= 7) {  // at most 6 digits: 999999d still fits in int64 microseconds
    int n = 0;
    if (!digits(text, 0, text.size() - 1, n)) {
      return bad();
    }
    const int64_t unit = text.back() == 's' ? 1 : text.back() == 'm' ? 60 : text.back() == 'h' ? 3600 : 86400;
    return now_us - int64_t{n} * unit * kUsPerSecond;
  }
  std::tm tm{};
  int year = 0;
  int month = 0;
  int day = 0;
  if (!digits(text, 0, 4, year) || text.size() < 10 || text[4] != '-' || !digits(text, 5, 2, month) ||
      text[7] != '-' || !digits(text, 8, 2, day)) {
    return bad();
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  std::string_view rest = text.substr(10);
  if (!rest.empty()) {
    if (rest[0] != 'T' && rest[0] != ' ') {
      return bad();
    }
    if (rest.ends_with('Z')) {
      rest.remove_suffix(1);
    }
    int hour = 0;
    int minute = 0;
    int second = 0;
    if (!digits(rest, 1, 2, hour) || rest.size() < 6 || rest[3] != ':' || !digits(rest, 4, 2, minute)) {
      return bad();
    }
    if (rest.size() == 9 && rest[6] == ':' && digits(rest, 7, 2, second)) {
      // HH:MM:SS
    } else if (rest.size() != 6) {
      return bad();
    }
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
  }
  const std::tm wanted = tm;
  const std::time_t t = timegm(&tm);
  // timegm normalizes out-of-range fields (Feb 30 -> Mar 1); a changed field means the input was not a real time.
  if (tm.tm_year != wanted.tm_year || tm.tm_mon != wanted.tm_mon || tm.tm_mday != wanted.tm_mday ||
      tm.tm_hour != wanted.tm_hour || tm.tm_min != wanted.tm_min || tm.tm_sec != wanted.tm_sec) {
    return bad();
  }
  return static_cast<int64_t>(t) * kUsPerSecond;
}

std::string humanDuration(int64_t us) {
  if (us < 1000) {
    return fmt::format("{}us", us);
  }
  if (us < kUsPerSecond) {
    return fmt::format("{:.1f}ms", static_cast<double>(us) / 1e3);
  }
  const int64_t s = us / kUsPerSecond;
  if (s < 60) {
    return fmt::format("{:.2f}s", static_cast<double>(us) / 1e6);
  }
  if (s < 3600) {
    return fmt::format("{}m{:02}s", s / 60, s % 60);
  }
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::string humanBytes(uint64_t n) {
  if (n < 1024) {
    return fmt::format("{}B", n);
  }
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  auto v = static_cast<double>(n) / 1024;
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  return fmt::format("{:.1f}{}", v, kUnits[u]);
}

std::string cell(std::string_view text, size_t width) {
  std::vector<std::string> glyphs;  // one entry per code point
  bool pending_space = false;
  for (size_t i = 0; i < text.size();) {
    char32_t cp = 0;
    size_t len = decodeUtf8(text, i, cp);
    if (len == 0) {
      cp = 0xFFFD;
      len = 1;
    }
    const std::string_view bytes = text.substr(i, len);
    i += len;
    if (isSpace(cp)) {
      pending_space = !glyphs.empty();
      continue;
    }
    if (pending_space) {
      glyphs.emplace_back(" ");
      pending_space = false;
    }
    glyphs.emplace_back(isUnsafe(cp) || cp == 0xFFFD ? std::string_view("?") : bytes);
  }
  if (width > 0 && glyphs.size() > width) {
    glyphs.resize(width - 1);
    glyphs.emplace_back("…");
  }
  std::string out;
  for (const auto& g : glyphs) {
    out += g;
  }
  return out;
}

void Table::print(std::ostream& out) const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], codePoints(row[c]));
    }
  }
  for (const auto& row : rows_) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) {
        line.append(widths[c] - codePoints(row[c]) + 2, ' ');
      }
    }
    out << line << '\n';
  }
}

}  // namespace gatehouse::cli
