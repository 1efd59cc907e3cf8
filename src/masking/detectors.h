// Content detectors for masking: sensitive values found by what they look like (an email, a card number...),
// wherever they appear in a result. A validator (Luhn, IBAN mod-97, SSN ranges, inet_pton) confirms each
// candidate, so that a 16-digit order number that fails Luhn is not a card.
//
// Matching (Intel's Hyperscan, or its portable fork Vectorscan; see checkLibrary in detectors.cpp) is in two passes,
// because it is several times slower when it must report where matches start. The first pass looks, in one
// database without start offsets, for a cheap condition that every match of a detector implies (its prefilter, or
// its pattern itself); most text has none and costs only this pass. Only a value where a condition holds is scanned again, alone, with all the
// patterns and start offsets: the single pass it would have had. Several values (the fields of a row) share one
// first pass, joined by a separator.
// Pure: text in, spans out; one scratch space and a few reused buffers per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

struct hs_database;

namespace gatehouse::masking {

enum class Validator : uint8_t { kNone, kLuhn, kIban, kUsSsn, kIpv4, kIpv6 };

struct DetectorSpec {
  std::string name;     // "email", "card_number", ... or a custom detector's name
  std::string pattern;  // Hyperscan syntax (PCRE without back-references and look-arounds)
  Validator validator = Validator::kNone;
  bool caseless = false;
  // Optional, for speed: every match of `pattern` contains a match of `prefilter` (a Hyperscan pattern) or a run
  // of at least `digitRun` digits. Neither set: `pattern` is its own condition. Digit runs are found without
  // Hyperscan, which is slow on text with many short numbers.
  std::string prefilter;
  uint8_t digitRun = 0;
};

// The built-in detectors: email, card_number, us_ssn, phone, iban, ipv4, ipv6, aws_access_key_id,
// aws_secret_access_key, jwt, pem_private_key, api_key.
std::vector<DetectorSpec> builtInDetectors();

struct Match {
  std::size_t begin = 0;
  std::size_t end = 0;  // one past the last byte
  uint16_t detector = 0;
  bool operator==(const Match&) const = default;
};

// A match in one of several values scanned together.
struct FieldMatch {
  uint32_t field = 0;      // index of the value
  std::size_t begin = 0;   // offsets in that value
  std::size_t end = 0;
  uint16_t detector = 0;
  bool operator==(const FieldMatch&) const = default;
};

class Detectors {
 public:
  // Compiles the set; an invalid pattern is an error naming its detector. Also an error when the matching library
  // fails its known answers on this machine (once per process).
  static Result<std::shared_ptr<const Detectors>> compile(std::vector<DetectorSpec> specs);
  ~Detectors();
  Detectors(const Detectors&) = delete;
  Detectors& operator=(const Detectors&) = delete;

  // The validated matches in `text`, in order, not overlapping (at one place, the longest wins).
  Result<std::vector<Match>> scan(std::string_view text) const;
  // Scans several values as if each were scanned alone (a match never spans two values): the validated matches of
  // every value, ordered by field then position, offsets relative to their own field. `out` is cleared first.
  Result<void> scanFields(std::span<const std::string_view> fields, std::vector<FieldMatch>& out) const;

  const DetectorSpec& spec(uint16_t detector) const { return specs_.at(detector); }
  std::size_t size() const { return specs_.size(); }

 private:
  Detectors() = default;
  std::vector<DetectorSpec> specs_;
  hs_database* conditions_ = nullptr;  // first pass: every detector's condition; null if none has one
  hs_database* exact_ = nullptr;       // second pass: every pattern, with start offsets
  uint8_t minDigitRun_ = 0;            // the shortest digitRun of any detector; 0: none uses one
  // Whether a condition uses ^, $, \A, \Z or \z: in a joined text these do not hold at a value's edges, so every
  // value of a batch is scanned again.
  bool edgeAnchored_ = false;
  uint64_t serial_ = 0;  // tells a thread's scratch space whether it was sized for these databases
  std::vector<hs_database*> alone_;      // each pattern alone, with start offsets (none with a single detector)
  std::vector<hs_database*> databases_;  // all of the above (null entries skipped)
  // A condition hit: where it ends (in the first pass's text) or, to scan again, which value; and whose it is.
  struct Hit {
    std::size_t at = 0;
    unsigned detector = 0;
  };
  static constexpr unsigned kNoDetector = ~0u;
  static constexpr unsigned kManyDetectors = ~0u - 1;
  unsigned digitRunDetector_ = kNoDetector;  // the detector a run of digits is for; kManyDetectors: several
};

// The validators, on a candidate's bytes.
bool luhnValid(std::string_view digits_and_separators);
bool ibanValid(std::string_view iban);
bool usSsnValid(std::string_view ssn);

}  // namespace gatehouse::masking
