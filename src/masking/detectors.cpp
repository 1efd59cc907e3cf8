// Content detectors; see detectors.h.
#include "masking/detectors.h"

#include <arpa/inet.h>
#include <hs/hs.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <limits>

namespace gatehouse::masking {

namespace {

// Joins the values of a batch. No built-in condition can match it (their classes hold no control character);
// a custom one with `.` or `[^...]` can, which is only a false alarm, since matches come from the second pass,
// where each value is scanned alone. Being a non-word character, it leaves \b at a value's edges as it is at the
// edges of a text.
constexpr char kSeparator = '\0';

bool digit(char c) { return c >= '0' && c <= '9'; }

std::atomic<uint64_t> nextSerial{1};

// The thread's scratch space. Hyperscan grows it for each new database and keeps it valid for the previous ones.
// Even when nothing grows, asking costs several hundred nanoseconds per database, more than a short scan, so it is
// asked once per thread for the databases of a set. Sets are told apart by serial numbers, which unlike addresses
// are never reused.
Result<hs_scratch_t*> scratchFor(uint64_t serial, const std::vector<hs_database_t*>& databases) {
  struct Scratch {
    hs_scratch_t* space = nullptr;
    std::vector<uint64_t> sizedFor;
    ~Scratch() { hs_free_scratch(space); }
  };
  thread_local Scratch s;
  if (std::find(s.sizedFor.begin(), s.sizedFor.end(), serial) != s.sizedFor.end()) return s.space;
  for (auto* db : databases)
    if (db && hs_alloc_scratch(db, &s.space) != HS_SUCCESS) return makeError("cannot allocate matching scratch space");
  if (s.sizedFor.size() == 16) s.sizedFor.clear();  // forgetting a set only costs sizing again
  s.sizedFor.push_back(serial);
  return s.space;
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

// Whether a pattern may assert the text's edges (^, $, \A, \Z, \z). Errs towards yes ($ in a class counts),
// which only costs speed. A ^ right after [ is a negated class; right after an escaped [ it is an anchor that
// can never hold, as it follows a character.
bool assertsEdges(std::string_view p) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\') {
      if (i + 1 < p.size() && (p[i + 1] == 'A' || p[i + 1] == 'Z' || p[i + 1] == 'z')) return true;
      ++i;
    } else if (p[i] == '$' || (p[i] == '^' && (i == 0 || p[i - 1] != '['))) {
      return true;
    }
  }
  return false;
}

// Calls found(end) for each run of at least `min` digits. Probes one byte in `min`: a run that long
// cannot fit between two probes, and where a probe lands on a digit the whole run around it is measured. On text
// with few long numbers this reads a fraction of the bytes.
template <class F>
void forEachDigitRun(std::string_view s, std::size_t min, F found) {
  std::size_t from = 0;  // every run that starts before `from` is done with, and s[from - 1] is not a digit
  while (from + min <= s.size()) {
    const std::size_t probe = from + min - 1;
    if (!digit(s[probe])) {
      from = probe + 1;
      continue;
    }
    std::size_t begin = probe;
    while (begin > from && digit(s[begin - 1])) --begin;
    std::size_t end = probe + 1;
    while (end < s.size() && digit(s[end])) ++end;
    if (end - begin >= min) found(end);
    from = end + 1;
  }
}

// Compiles patterns[i] with flags[i] as id ids[i], the index of its detector; an error names the detector at fault
// and, with `conditions`, whether its prefilter is.
Result<hs_database_t*> build(const std::vector<const char*>& patterns, const std::vector<unsigned>& flags,
                             const std::vector<unsigned>& ids, const std::vector<DetectorSpec>& specs,
                             bool conditions) {
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  if (hs_compile_multi(patterns.data(), flags.data(), ids.data(), static_cast<unsigned>(patterns.size()),
                       HS_MODE_BLOCK, nullptr, &db, &err) == HS_SUCCESS)
    return db;
  const std::string message = err && err->message ? err->message : "cannot compile the detectors";
  const DetectorSpec* which = err && err->expression >= 0 && static_cast<std::size_t>(err->expression) < ids.size()
                                  ? &specs[ids[static_cast<std::size_t>(err->expression)]]
                                  : nullptr;
  hs_free_compile_error(err);
  if (!which) return makeError("detector '?': " + message);
  const bool prefilter = conditions && !which->prefilter.empty();
  return makeError("detector '" + which->name + "'" + (prefilter ? " (prefilter)" : "") + ": " + message);
}

// Appends the candidates of one value that validate, sorted, keeping the longest at each place and merging the
// ones that overlap (the union is masked).
void settle(const std::vector<DetectorSpec>& specs, uint32_t field, std::string_view value,
            std::vector<Match>& candidates, std::vector<FieldMatch>& out) {
  std::erase_if(candidates, [&](const Match& m) {
    return !validates(specs[m.detector].validator, value.substr(m.begin, m.end - m.begin));
  });
  std::sort(candidates.begin(), candidates.end(), [](const Match& a, const Match& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  const std::size_t first = out.size();
  for (const auto& m : candidates) {
    if (out.size() > first && m.begin < out.back().end) {
      if (m.end > out.back().end) out.back().end = m.end;
      continue;
    }
    out.push_back(FieldMatch{field, m.begin, m.end, m.detector});
  }
}

// Whether the matching library finds what it must. Debian 12's Vectorscan 5.4.9 (Hyperscan's portable fork) does
// not, in its AVX-512 code: it skips matches in the last 64 bytes of a longer text, and elsewhere for some patterns
// and alignments, with start offsets or without. A detector that misses lets a value through in clear, so the
// gateway refuses to mask with such a library rather than mask some of the time. Known answers: patterns the
// detectors use, each around one sample in text of several lengths, with the sample at several distances from the
// end and the text at every alignment. Run once per process, in a few milliseconds.
Result<void> checkLibrary() {
  struct Case {
    const char* pattern;
    unsigned flags;
    std::string_view sample;  // matched exactly once, as a whole
    char filler;
  };
  static const Result<void> verdict = []() -> Result<void> {
    const Case cases[] = {
        {"@[A-Za-z0-9-]", 0, "@b", 'x'},
        {"@[A-Za-z0-9-]", HS_FLAG_SOM_LEFTMOST, "@b", 'x'},
        {R"(\b\d{3}-\d{2}-\d{4}\b)", HS_FLAG_SOM_LEFTMOST, "123-45-6789", ' '},
        {R"(\b(?:\d{1,3}\.){3}\d{1,3}\b)", HS_FLAG_SOM_LEFTMOST, "10.20.30.40", ' '},
    };
    // A text on which Vectorscan 5.4.9 misses the one "@b" at most alignments.
    constexpr std::string_view kFound =
        "eyJhbGciOi.eyJzdWIiOi.abcdefghijkeyJhbGciOi.eyJzdWIiOi.abcdefghijka@b.coDE89 3704 0044 0532 0130 00";
    std::vector<char> buffer(512);
    hs_scratch_t* scratch = nullptr;
    struct Found {
      std::size_t count = 0;
      unsigned long long from = 0;
      unsigned long long to = 0;
    };
    auto onMatch = [](unsigned, unsigned long long from, unsigned long long to, unsigned, void* ctx) -> int {
      auto* f = static_cast<Found*>(ctx);
      ++f->count;
      f->from = from;
      f->to = to;
      return 0;
    };
    Result<void> out;
    auto fail = [&](const Case& c, std::size_t len, std::size_t at) {
      out = makeError("the pattern matching library misses matches on this machine (pattern " +
                      std::string(c.pattern) + ", text of " + std::to_string(len) + " bytes, match at " +
                      std::to_string(at) + "): masking would let values through. Debian 12's Vectorscan 5.4.9 does "
                      "this in its AVX-512 code; on x86-64 install Intel's Hyperscan (libhyperscan5) instead");
    };
    for (const auto& c : cases) {
      hs_database_t* db = nullptr;
      hs_compile_error_t* err = nullptr;
      if (hs_compile(c.pattern, c.flags, HS_MODE_BLOCK, nullptr, &db, &err) != HS_SUCCESS) {
        hs_free_compile_error(err);
        hs_free_scratch(scratch);
        return makeError(std::string("cannot compile the matching library's self-check pattern ") + c.pattern);
      }
      if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) {
        hs_free_database(db);
        return makeError("cannot allocate matching scratch space");
      }
      auto scanOnce = [&](const char* text, std::size_t len, std::size_t at, std::size_t size) {
        Found f;
        if (hs_scan(db, text, static_cast<unsigned>(len), 0, scratch, onMatch, &f) != HS_SUCCESS || f.count != 1 ||
            f.to != at + size || ((c.flags & HS_FLAG_SOM_LEFTMOST) && f.from != at))
          fail(c, len, at);
      };
      for (std::size_t len = 40; len <= 200 && out; len += 3)
        for (std::size_t tail = 0; tail <= 64 && tail + c.sample.size() <= len && out; tail += 5)
          for (std::size_t align = 0; align < 64 && out; align += 7) {
            char* text = buffer.data() + align;
            std::fill(text, text + len, c.filler);
            const std::size_t at = len - tail - c.sample.size();
            std::copy(c.sample.begin(), c.sample.end(), text + at);
            scanOnce(text, len, at, c.sample.size());
          }
      if (c.sample == "@b" && !(c.flags & HS_FLAG_SOM_LEFTMOST))
        for (std::size_t align = 0; align < 64 && out; ++align) {
          std::copy(kFound.begin(), kFound.end(), buffer.data() + align);
          scanOnce(buffer.data() + align, kFound.size(), kFound.find("@b"), 2);
        }
      hs_free_database(db);
      if (!out) break;
    }
    hs_free_scratch(scratch);
    return out;
  }();
  return verdict;
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
  // Each prefilter is something every match of its pattern contains. They are kept simple (literals, short
  // classes): a Hyperscan database finds them faster than the patterns, and the less a pass depends on complex
  // engines the better. They avoid a class of digits alone before others (as in [A-Z]{2}\d{2}), on which Hyperscan
  // stops at every number of a text, and are long enough that dates and decimals do not set them off. Its speed on a set
  // depends on the whole set: measure with bench/masking_benchmark after a change, and run the unit tests, which
  // compare with a single pass of the patterns.
  return {
      // @ and a character of the domain.
      {.name = "email",
       .pattern = R"([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b)",
       .prefilter = R"(@[A-Za-z0-9-])"},
      // 13 to 19 digits, whole (not part of a longer number): in one run, or in the groupings printed on cards
      // (4-4-4-4[-3], Amex's 4-6-5, Diners' 4-6-4), with spaces or dashes. A run has 13 digits or more; a grouping
      // has a digit, a separator and four digits.
      {.name = "card_number",
       .pattern = R"(\b\d{13,19}\b|\b\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{4}(?:[ -]\d{3})?\b|\b\d{4}[ -]\d{6}[ -]\d{4,5}\b)",
       .validator = Validator::kLuhn,
       .prefilter = R"(\d[ -]\d{4})",
       .digitRun = 13},
      // The pattern without its word boundaries.
      {.name = "us_ssn",
       .pattern = R"(\b\d{3}-\d{2}-\d{4}\b)",
       .validator = Validator::kUsSsn,
       .prefilter = R"(\d{3}-\d{2}-\d{4})"},
      // A phone number needs separators or a leading +: a bare run of ten digits is as likely an id. Its last two
      // groups have a digit, a separator and four digits; the other form starts with + and a digit.
      {.name = "phone",
       .pattern = R"((?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)|\b\d{3})[ .-]\d{3}[ .-]\d{4}\b|\+\d{6,14}\b)",
       .prefilter = R"(\d[ .-]\d{4}|\+\d)"},
      // Country code, two check digits, at least two groups of four: the prefilter widens the check digits to
      // letters or digits (see above).
      {.name = "iban",
       .pattern = R"(\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b)",
       .validator = Validator::kIban,
       .prefilter = R"([A-Z]{2}[0-9A-Z]{2} ?[0-9A-Z]{4} ?[0-9A-Z]{4})"},
      // Digits, a dot, digits, a dot.
      {.name = "ipv4",
       .pattern = R"(\b(?:\d{1,3}\.){3}\d{1,3}\b)",
       .validator = Validator::kIpv4,
       .prefilter = R"(\d\.\d+\.)"},
      // Full and compressed forms; inet_pton decides (so a time such as 12:30:45 is not one). Each form has two
      // hex digits around a colon, or two colons.
      {.name = "ipv6",
       .pattern =
           R"((?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?|::[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})",
       .validator = Validator::kIpv6,
       .prefilter = R"([0-9A-Fa-f]:[0-9A-Fa-f]|::)"},
      {.name = "aws_access_key_id",
       .pattern = R"(\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b)",
       .prefilter = R"(AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)"},
      {.name = "aws_secret_access_key",
       .pattern = R"(aws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?[A-Za-z0-9/+=]{40})",
       .caseless = true,
       .prefilter = R"(aws_?secret)"},
      // The second part starts with eyJ after a dot.
      {.name = "jwt",
       .pattern = R"(\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,})",
       .prefilter = R"(\.eyJ)"},
      {.name = "pem_private_key",
       .pattern = R"(-----BEGIN [A-Z ]*PRIVATE KEY-----[A-Za-z0-9+/=\s:,-]*-----END [A-Z ]*PRIVATE KEY-----)",
       .prefilter = R"(PRIVATE KEY-----)"},
      {.name = "api_key",
       .pattern =
           R"(\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{36,}|xox[abposr]-[A-Za-z0-9-]{10,}|glpat-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35})\b)",
       .prefilter = R"((?:sk|rk)_(?:live|test)_|gh[pousr]_|xox[abposr]-|glpat-|AIza)"},
  };
}

Result<std::shared_ptr<const Detectors>> Detectors::compile(std::vector<DetectorSpec> specs) {
  if (specs.empty()) return makeError("no detectors to compile");
  if (auto checked = checkLibrary(); !checked) return checked.error();
  if (specs.size() > std::numeric_limits<uint16_t>::max() + std::size_t{1}) return makeError("too many detectors");
  std::shared_ptr<Detectors> d(new Detectors());
  // Second pass: all the patterns in one database, the one a single pass would use, so that a value scanned again
  // gets exactly the matches it would get alone. SOM_LEFTMOST: the match's start is needed to mask it.
  std::vector<const char*> patterns;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    patterns.push_back(specs[i].pattern.c_str());
    flags.push_back(HS_FLAG_SOM_LEFTMOST | (specs[i].caseless ? HS_FLAG_CASELESS : 0u));
    ids.push_back(static_cast<unsigned>(i));
  }
  auto exact = build(patterns, flags, ids, specs, false);
  if (!exact) return exact.error();
  d->exact_ = *exact;
  // And each pattern alone, for a value where only its detector's condition holds: scanning one pattern is two to
  // four times faster than scanning them all, and gives the same matches, as no other detector can match there.
  if (specs.size() > 1)
    for (std::size_t i = 0; i < specs.size(); ++i) {
      auto alone = build({patterns[i]}, {flags[i]}, {ids[i]}, specs, false);
      if (!alone) return alone.error();
      d->alone_.push_back(*alone);
    }
  // First pass: the conditions, without start offsets. A prefilter keeps its detector's case rule, so it still
  // matches wherever the pattern does.
  patterns.clear();
  flags.clear();
  ids.clear();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& s = specs[i];
    if (s.digitRun > 0 && (d->minDigitRun_ == 0 || s.digitRun < d->minDigitRun_)) d->minDigitRun_ = s.digitRun;
    if (s.digitRun > 0) d->digitRunDetector_ = d->digitRunDetector_ == kNoDetector ? i : kManyDetectors;
    const std::string* condition = !s.prefilter.empty() ? &s.prefilter : s.digitRun == 0 ? &s.pattern : nullptr;
    if (!condition) continue;
    patterns.push_back(condition->c_str());
    flags.push_back(s.caseless ? HS_FLAG_CASELESS : 0u);
    ids.push_back(static_cast<unsigned>(i));
    d->edgeAnchored_ = d->edgeAnchored_ || assertsEdges(*condition);
  }
  if (!patterns.empty()) {
    auto conditions = build(patterns, flags, ids, specs, true);
    if (!conditions) return conditions.error();
    d->conditions_ = *conditions;
  }
  d->specs_ = std::move(specs);
  d->serial_ = nextSerial++;
  d->databases_ = {d->conditions_, d->exact_};
  d->databases_.insert(d->databases_.end(), d->alone_.begin(), d->alone_.end());
  return std::shared_ptr<const Detectors>(std::move(d));
}

Detectors::~Detectors() {
  hs_free_database(conditions_);
  hs_free_database(exact_);
  for (auto* db : alone_) hs_free_database(db);
}

Result<std::vector<Match>> Detectors::scan(std::string_view text) const {
  thread_local std::vector<FieldMatch> found;
  auto scanned = scanFields(std::span<const std::string_view>(&text, 1), found);
  if (!scanned) return scanned.error();
  std::vector<Match> out;
  out.reserve(found.size());
  for (const auto& m : found) out.push_back(Match{m.begin, m.end, m.detector});
  return out;
}

Result<void> Detectors::scanFields(std::span<const std::string_view> fields, std::vector<FieldMatch>& out) const {
  out.clear();
  if (fields.size() > std::numeric_limits<uint32_t>::max()) return makeError("too many values to scan at once");
  // The buffers are the thread's and reused, so that a call that finds nothing allocates nothing.
  thread_local std::string joined;
  thread_local std::vector<std::size_t> starts;  // where each value begins in `text`
  thread_local std::vector<Hit> hits;           // where a condition holds
  thread_local std::vector<Hit> rescan;          // the values to scan again (field, detector)
  thread_local std::vector<Match> candidates;

  // The first pass runs over one text: the value itself, or the values joined by separators.
  std::string_view text;
  starts.clear();
  if (fields.size() == 1) {
    text = fields[0];
    starts.push_back(0);
  } else {
    joined.clear();
    for (const auto field : fields) {
      starts.push_back(joined.size());
      joined.append(field);
      joined.push_back(kSeparator);
    }
    text = joined;
  }
  if (text.empty()) return {};
  if (text.size() > std::numeric_limits<unsigned>::max()) return makeError("text too large to scan");
  auto scratch = scratchFor(serial_, databases_);
  if (!scratch) return scratch.error();

  // With a condition that cannot be trusted at a value's edges, every value of a batch is scanned again.
  const bool everyValue = edgeAnchored_ && fields.size() > 1;
  hits.clear();
  if (conditions_ && !everyValue) {
    auto onHit = [](unsigned id, unsigned long long, unsigned long long to, unsigned, void* ctx) -> int {
      static_cast<std::vector<Hit>*>(ctx)->push_back(Hit{static_cast<std::size_t>(to), id});
      return 0;
    };
    if (hs_scan(conditions_, text.data(), static_cast<unsigned>(text.size()), 0, *scratch, onHit, &hits) !=
        HS_SUCCESS)
      return makeError("scanning for sensitive values failed");
  }
  // The separator is not a digit: a run never spans two values.
  if (minDigitRun_ > 0 && !everyValue)
    forEachDigitRun(text, minDigitRun_, [&](std::size_t end) { hits.push_back(Hit{end, digitRunDetector_}); });

  // The values to scan again. A hit ending on a separator is dropped: a condition that holds inside a value also
  // holds, and is reported, inside the joined text.
  rescan.clear();
  if (everyValue) {
    for (std::size_t f = 0; f < fields.size(); ++f)
      if (!fields[f].empty()) rescan.push_back(Hit{f, kManyDetectors});
  } else {
    for (const auto& hit : hits) {
      // The value holding the hit's last byte: the last one that starts before it.
      const auto last = std::upper_bound(starts.begin(), starts.end(), hit.at - 1);
      const auto f = static_cast<std::size_t>(last - starts.begin()) - 1;
      if (hit.at <= starts[f] + fields[f].size()) rescan.push_back(Hit{f, hit.detector});
    }
    std::sort(rescan.begin(), rescan.end(),
              [](const Hit& a, const Hit& b) { return a.at != b.at ? a.at < b.at : a.detector < b.detector; });
    rescan.erase(std::unique(rescan.begin(), rescan.end(),
                             [](const Hit& a, const Hit& b) { return a.at == b.at && a.detector == b.detector; }),
                 rescan.end());
  }

  // Second pass: each value alone, with every pattern.
  auto onMatch = [](unsigned id, unsigned long long from, unsigned long long to, unsigned, void* ctx) -> int {
    static_cast<std::vector<Match>*>(ctx)->push_back(
        Match{static_cast<std::size_t>(from), static_cast<std::size_t>(to), static_cast<uint16_t>(id)});
    return 0;
  };
  for (std::size_t i = 0; i < rescan.size();) {
    const auto field = rescan[i].at;
    // The detectors whose condition holds in this value: one, or several (then every pattern).
    std::size_t next = i + 1;
    while (next < rescan.size() && rescan[next].at == field) ++next;
    const unsigned only = next - i == 1 ? rescan[i].detector : kManyDetectors;
    i = next;
    const hs_database_t* db = only < alone_.size() ? alone_[only] : exact_;
    const std::string_view value = fields[field];
    candidates.clear();
    if (hs_scan(db, value.data(), static_cast<unsigned>(value.size()), 0, *scratch, onMatch, &candidates) != HS_SUCCESS)
      return makeError("scanning for sensitive values failed");
    settle(specs_, static_cast<uint32_t>(field), value, candidates, out);
  }
  return {};
}

}  // namespace gatehouse::masking
