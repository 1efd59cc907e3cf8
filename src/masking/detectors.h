// Content detectors for masking: sensitive values found by what they look like (an email, a card number...),
// wherever they appear in a result. All the patterns of a set are compiled into one Vectorscan (Hyperscan's
// portable fork) database and matched in one pass over the text; a validator (Luhn, IBAN mod-97, SSN ranges,
// inet_pton) then confirms each candidate, so that a 16-digit order number that fails Luhn is not a card.
// Pure: text in, spans out; one scratch space per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

struct hs_database;

namespace gatehouse::masking {

enum class Validator : uint8_t { kNone, kLuhn, kIban, kUsSsn, kIpv4, kIpv6 };

struct DetectorSpec {
  std::string name;     // "email", "card_number", ... or a custom detector's name
  std::string pattern;  // Vectorscan syntax (PCRE without back-references and look-arounds)
  Validator validator = Validator::kNone;
  bool caseless = false;
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

class Detectors {
 public:
  // Compiles the set; an invalid pattern is an error naming its detector.
  static Result<std::shared_ptr<const Detectors>> compile(std::vector<DetectorSpec> specs);
  ~Detectors();
  Detectors(const Detectors&) = delete;
  Detectors& operator=(const Detectors&) = delete;

  // The validated matches in `text`, in order, not overlapping (at one place, the longest wins).
  Result<std::vector<Match>> scan(std::string_view text) const;
  const DetectorSpec& spec(uint16_t detector) const { return specs_.at(detector); }
  std::size_t size() const { return specs_.size(); }

 private:
  Detectors() = default;
  std::vector<DetectorSpec> specs_;
  hs_database* db_ = nullptr;
};

// The validators, on a candidate's bytes.
bool luhnValid(std::string_view digits_and_separators);
bool ibanValid(std::string_view iban);
bool usSsnValid(std::string_view ssn);

}  // namespace gatehouse::masking
