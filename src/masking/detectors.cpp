// Content detectors; see detectors.h.
#include "masking/detectors.h"

#include <arpa/inet.h>
#include <hs/hs.h>

#include <algorithm>
#include <cctype>
#include <unordered_map>

namespace gatehouse::masking {

namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }

// The thread's scratch space, grown for each database it is used with (Vectorscan allows one scratch for several
// databases once allocated for each).
Result<hs_scratch_t*> scratchFor(const hs_database_t* db) {
  thread_local hs_scratch_t* scratch = nullptr;
  thread_local std::unordered_map<const hs_database_t*, bool> prepared;
  if (!prepared.contains(db)) {
    if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) return makeError("cannot allocate matching scratch space");
    prepared[db] = true;
  }
  return scratch;
}

bool ipValid(std::string_view text, int family) {
  if (text.size() > 45) return false;
  char buf[46];
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  unsigned char out[16];
  return inet_pton(family, buf, out) == 1;
}

bool validates(Validator v, std::string_view s) {
  switch (v) {
    case Validator::kNone: return true;
    case Validator::kLuhn: return luhnValid(s);
    case Validator::kIban: return ibanValid(s);
    case Validator::kUsSsn: return usSsnValid(s);
    case Validator::kIpv4: return ipValid(s, AF_INET);
    case Validator::kIpv6: return ipValid(s, AF_INET6);
  }
  return false;
}

}  // namespace

bool luhnValid(std::string_view s) {
  int sum = 0;
  int n = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (*it == ' ' || *it == '-') continue;
    if (!digit(*it)) return false;
    int d = *it - '0';
    if (n % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    ++n;
  }
  return n >= 13 && n <= 19 && sum % 10 == 0;
}

bool ibanValid(std::string_view s) {
  std::string compact;
  for (char c : s)
    if (c != ' ') compact += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (compact.size() < 15 || compact.size() > 34) return false;
  // ISO 13616: move the first four characters to the end, letters to numbers (A = 10), the result mod 97 is 1.
  const std::string rearranged = compact.substr(4) + compact.substr(0, 4);
  int remainder = 0;
  for (char c : rearranged) {
    if (digit(c)) {
      remainder = (remainder * 10 + (c - '0')) % 97;
    } else if (c >= 'A' && c <= 'Z') {
      const int v = c - 'A' + 10;
      remainder = (remainder * 100 + v) % 97;
    } else {
      return false;
    }
  }
  return remainder == 1;
}

bool usSsnValid(std::string_view s) {
  // AAA-GG-SSSS: area not 000, 666 or 9xx; group not 00; serial not 0000.
  if (s.size() != 11 || s[3] != '-' || s[6] != '-') return false;
  const auto area = s.substr(0, 3);
  const auto group = s.substr(4, 2);
  const auto serial = s.substr(7, 4);
  return area != "000" && area != "666" && area[0] != '9' && group != "00" && serial != "0000";
}

std::vector<DetectorSpec> builtInDetectors() {
  return {
      {"email", R"([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b)", Validator::kNone, false},
      // 13 to 19 digits, whole (not part of a longer number): in one run, or in the groupings printed on cards
      // (4-4-4-4[-3], Amex's 4-6-5, Diners' 4-6-4), with spaces or dashes.
      {"card_number",
       R"(\b\d{13,19}\b|\b\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{4}(?:[ -]\d{3})?\b|\b\d{4}[ -]\d{6}[ -]\d{4,5}\b)",
       Validator::kLuhn, false},
      {"us_ssn", R"(\b\d{3}-\d{2}-\d{4}\b)", Validator::kUsSsn, false},
      // A phone number needs separators or a leading +: a bare run of ten digits is as likely an id.
      {"phone", R"((?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)|\b\d{3})[ .-]\d{3}[ .-]\d{4}\b|\+\d{6,14}\b)", Validator::kNone,
       false},
      {"iban", R"(\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b)", Validator::kIban, false},
      {"ipv4", R"(\b(?:\d{1,3}\.){3}\d{1,3}\b)", Validator::kIpv4, false},
      // Full and compressed forms; inet_pton decides (so a time such as 12:30:45 is not one).
      {"ipv6",
       R"((?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?|::[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})",
       Validator::kIpv6, false},
      {"aws_access_key_id", R"(\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b)", Validator::kNone, false},
      {"aws_secret_access_key", R"(aws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?[A-Za-z0-9/+=]{40})",
       Validator::kNone, true},
      {"jwt", R"(\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,})", Validator::kNone, false},
      {"pem_private_key", R"(-----BEGIN [A-Z ]*PRIVATE KEY-----[A-Za-z0-9+/=\s:,-]*-----END [A-Z ]*PRIVATE KEY-----)",
       Validator::kNone, false},
      {"api_key",
       R"(\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{36,}|xox[abposr]-[A-Za-z0-9-]{10,}|glpat-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35})\b)",
       Validator::kNone, false},
  };
}

Result<std::shared_ptr<const Detectors>> Detectors::compile(std::vector<DetectorSpec> specs) {
  if (specs.empty()) return makeError("no detectors to compile");
  std::vector<const char*> patterns;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    patterns.push_back(specs[i].pattern.c_str());
    // SOM_LEFTMOST: the match's start is needed to mask it. It makes the database slower (DESIGN.md measured
    // 3-4x); finding starts only after a hit is the planned refinement.
    unsigned f = HS_FLAG_SOM_LEFTMOST;
    if (specs[i].caseless) f |= HS_FLAG_CASELESS;
    flags.push_back(f);
    ids.push_back(static_cast<unsigned>(i));
  }
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_multi(patterns.data(), flags.data(), ids.data(), static_cast<unsigned>(patterns.size()),
                       HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
    std::string message = err && err->message ? err->message : "cannot compile the detectors";
    const std::string which = err && err->expression >= 0 && static_cast<std::size_t>(err->expression) < specs.size()
                                  ? specs[static_cast<std::size_t>(err->expression)].name
                                  : std::string("?");
    hs_free_compile_error(err);
    return makeError("detector '" + which + "': " + message);
  }
  std::shared_ptr<Detectors> d(new Detectors());
  d->specs_ = std::move(specs);
  d->db_ = db;
  return std::shared_ptr<const Detectors>(std::move(d));
}

Detectors::~Detectors() { hs_free_database(db_); }

Result<std::vector<Match>> Detectors::scan(std::string_view text) const {
  std::vector<Match> candidates;
  if (text.empty()) return candidates;
  auto scratch = scratchFor(db_);
  if (!scratch) return scratch.error();
  auto onMatch = [](unsigned id, unsigned long long from, unsigned long long to, unsigned, void* ctx) -> int {
    static_cast<std::vector<Match>*>(ctx)->push_back(
        Match{static_cast<std::size_t>(from), static_cast<std::size_t>(to), static_cast<uint16_t>(id)});
    return 0;
  };
  if (hs_scan(db_, text.data(), static_cast<unsigned>(text.size()), 0, *scratch, onMatch, &candidates) != HS_SUCCESS)
    return makeError("scanning for sensitive values failed");
  // Validate, then keep the longest at each place: sorted by start, longest first, non-overlapping.
  std::erase_if(candidates, [&](const Match& m) {
    return !validates(specs_[m.detector].validator, text.substr(m.begin, m.end - m.begin));
  });
  std::sort(candidates.begin(), candidates.end(), [](const Match& a, const Match& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  std::vector<Match> out;
  for (const auto& m : candidates) {
    if (!out.empty() && m.begin < out.back().end) {
      if (m.end > out.back().end) out.back().end = m.end;  // overlapping: mask the union
      continue;
    }
    out.push_back(m);
  }
  return out;
}

}  // namespace gatehouse::masking
