// Content detectors: each built-in finds its true positives and passes over the near-misses (a 16-digit number
// that fails Luhn is not a card; an IBAN with a wrong check digit is not an IBAN).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <hs/hs.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <new>
#include <random>
#include <set>
#include <tuple>

#include "masking/detectors.h"

namespace gatehouse::masking {
namespace {

class BuiltIns : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto d = Detectors::compile(builtInDetectors());
    ASSERT_TRUE(d) << d.error().message;
    detectors_ = *d;
  }
  // "name:matched text" for each match.
  static std::vector<std::string> found(std::string_view text) {
    auto matches = detectors_->scan(text);
    EXPECT_TRUE(matches) << (matches ? "" : matches.error().message);
    std::vector<std::string> out;
    if (!matches) return out;
    for (const auto& m : *matches)
      out.push_back(detectors_->spec(m.detector).name + ":" + std::string(text.substr(m.begin, m.end - m.begin)));
    return out;
  }
  static inline std::shared_ptr<const Detectors> detectors_;
};

using Found = std::vector<std::string>;

TEST_F(BuiltIns, Emails) {
  EXPECT_EQ(found("contact: jane.doe+news@mail.example.co.uk, thanks"), Found{"email:jane.doe+news@mail.example.co.uk"});
  EXPECT_TRUE(found("user@localhost and @handle and a@b").empty());
}

TEST_F(BuiltIns, CardNumbersAreLuhnChecked) {
  EXPECT_EQ(found("card 4111111111111111 on file"), Found{"card_number:4111111111111111"});
  EXPECT_EQ(found("4111 1111 1111 1111"), Found{"card_number:4111 1111 1111 1111"});
  EXPECT_EQ(found("5500-0000-0000-0004"), Found{"card_number:5500-0000-0000-0004"});
  EXPECT_EQ(found("amex 378282246310005"), Found{"card_number:378282246310005"});
  EXPECT_TRUE(found("order 4111111111111112").empty()) << "fails Luhn";
  EXPECT_TRUE(found("id 41111111111111111111111").empty()) << "too long to be a card, and not cut into one";
  EXPECT_TRUE(found("123456789012").empty()) << "too short";
}

TEST_F(BuiltIns, UsSocialSecurityNumbers) {
  EXPECT_EQ(found("ssn 123-45-6789."), Found{"us_ssn:123-45-6789"});
  EXPECT_TRUE(found("000-12-3456 666-12-3456 912-12-3456 123-00-4567 123-45-0000").empty());
}

TEST_F(BuiltIns, PhoneNumbers) {
  EXPECT_EQ(found("call (415) 555-2671 now"), Found{"phone:(415) 555-2671"});
  EXPECT_EQ(found("tel: +1 415-555-2671"), Found{"phone:+1 415-555-2671"});
  EXPECT_EQ(found("+442071838750"), Found{"phone:+442071838750"});
  EXPECT_TRUE(found("invoice 4155552671").empty()) << "a bare run of digits is not taken for a phone number";
}

TEST_F(BuiltIns, IbansAreChecksummed) {
  EXPECT_EQ(found("pay to DE89 3704 0044 0532 0130 00 please"), Found{"iban:DE89 3704 0044 0532 0130 00"});
  EXPECT_EQ(found("GB82WEST12345698765432"), Found{"iban:GB82WEST12345698765432"});
  for (const auto& f : found("DE89 3704 0044 0532 0130 01")) EXPECT_FALSE(f.starts_with("iban:")) << "wrong check";
}

TEST_F(BuiltIns, IpAddresses) {
  EXPECT_EQ(found("from 192.168.10.254:5432"), Found{"ipv4:192.168.10.254"});
  EXPECT_TRUE(found("version 1.2.3.400").empty()) << "400 is not an octet";
  EXPECT_EQ(found("peer 2001:db8::8a2e:370:7334 up"), Found{"ipv6:2001:db8::8a2e:370:7334"});
  EXPECT_EQ(found("fe80:0:0:0:202:b3ff:fe1e:8329"), Found{"ipv6:fe80:0:0:0:202:b3ff:fe1e:8329"});
  EXPECT_EQ(found("loopback ::1 only"), Found{"ipv6:::1"});
  EXPECT_TRUE(found("at 12:30:45").empty()) << "a time is not an address";
}

TEST_F(BuiltIns, CloudKeysTokensAndPrivateKeys) {
  EXPECT_EQ(found("key AKIAIOSFODNN7EXAMPLE"), Found{"aws_access_key_id:AKIAIOSFODNN7EXAMPLE"});
  EXPECT_TRUE(found("AKIAIOSFODNN7EXAMPL").empty()) << "too short";
  EXPECT_EQ(found("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").size(), 1u);
  EXPECT_EQ(found("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
            Found{"jwt:eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"});
  EXPECT_EQ(found("-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n"
                  "-----END RSA PRIVATE KEY-----")
                .size(),
            1u);
  EXPECT_TRUE(found("-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----").empty());
  EXPECT_EQ(found("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc"), Found{"api_key:sk_live_4eC39HqLyjWDarjtT1zdp7dc"});
  EXPECT_EQ(found("ghp_abcdefghijklmnopqrstuvwxyz0123456789"), Found{"api_key:ghp_abcdefghijklmnopqrstuvwxyz0123456789"});
  EXPECT_EQ(found("xoxb-1234567890-abcdefghij"), Found{"api_key:xoxb-1234567890-abcdefghij"});
  EXPECT_TRUE(found("sk_live_short ghp_tooshort").empty());
}

TEST_F(BuiltIns, SeveralInOneTextInOrder) {
  EXPECT_EQ(found("a@b.io 123-45-6789 4111111111111111"),
            (Found{"email:a@b.io", "us_ssn:123-45-6789", "card_number:4111111111111111"}));
  EXPECT_TRUE(found("").empty());
  EXPECT_TRUE(found("nothing sensitive in this sentence at all").empty());
}

TEST_F(BuiltIns, MatchesAtTheEdgesOfTheText) {
  EXPECT_EQ(found("4111111111111111"), Found{"card_number:4111111111111111"});
  EXPECT_EQ(found("4222222222222"), Found{"card_number:4222222222222"}) << "13 digits, the shortest run";
  EXPECT_EQ(found("x 4111111111111111"), Found{"card_number:4111111111111111"});
  EXPECT_EQ(found("4111111111111111 x"), Found{"card_number:4111111111111111"});
  EXPECT_EQ(found("a@b.io"), Found{"email:a@b.io"});
  EXPECT_EQ(found("123-45-6789"), Found{"us_ssn:123-45-6789"});
  EXPECT_TRUE(found("x4111111111111111").empty()) << "part of a word";
  EXPECT_EQ(found("00000000000000000000 4222222222222"), Found{"card_number:4222222222222"})
      << "right after another number";
}

// scanFields(values) must equal scan(value) for each value, with offsets relative to the value.
std::vector<FieldMatch> oneByOne(const Detectors& d, const std::vector<std::string_view>& values) {
  std::vector<FieldMatch> out;
  for (std::size_t f = 0; f < values.size(); ++f) {
    auto matches = d.scan(values[f]);
    EXPECT_TRUE(matches);
    if (!matches) continue;
    for (const auto& m : *matches) out.push_back(FieldMatch{static_cast<uint32_t>(f), m.begin, m.end, m.detector});
  }
  return out;
}

std::vector<FieldMatch> together(const Detectors& d, const std::vector<std::string_view>& values) {
  std::vector<FieldMatch> out{FieldMatch{.field = 99}};  // cleared first
  auto scanned = d.scanFields(values, out);
  EXPECT_TRUE(scanned) << (scanned ? "" : scanned.error().message);
  return out;
}

uint16_t idOf(const Detectors& d, std::string_view name) {
  for (std::size_t i = 0; i < d.size(); ++i)
    if (d.spec(static_cast<uint16_t>(i)).name == name) return static_cast<uint16_t>(i);
  ADD_FAILURE() << name;
  return 0;
}

TEST_F(BuiltIns, FieldsAreScannedAsIfAlone) {
  const std::vector<std::string_view> values = {
      "a@b.io", "4111111111111111", "", "call (415) 555-2671 now", "nothing here", "123-45-6789",
      "DE89 3704 0044 0532 0130 00", "peer 2001:db8::8a2e:370:7334 up", "from 192.168.10.254:5432", "x"};
  const auto& d = *detectors_;
  const auto result = together(d, values);
  EXPECT_EQ(result, oneByOne(d, values));
  ASSERT_EQ(result.size(), 7u);
  EXPECT_EQ(result[0], (FieldMatch{0, 0, 6, idOf(d, "email")})) << "at the start of the joined text";
  EXPECT_EQ(result[1], (FieldMatch{1, 0, 16, idOf(d, "card_number")})) << "a whole value, next to others";
  EXPECT_EQ(result[2], (FieldMatch{3, 5, 19, idOf(d, "phone")}));
  EXPECT_EQ(result[3], (FieldMatch{5, 0, 11, idOf(d, "us_ssn")}));
  EXPECT_EQ(result[6], (FieldMatch{8, 5, 19, idOf(d, "ipv4")}));
  EXPECT_EQ(together(d, {"4111111111111111"}), (std::vector<FieldMatch>{{0, 0, 16, idOf(d, "card_number")}}));
  EXPECT_EQ(together(d, {"00000000000000000000", "4222222222222"}),
            (std::vector<FieldMatch>{{1, 0, 13, idOf(d, "card_number")}}))
      << "a run of digits right after another value's";
  EXPECT_TRUE(together(d, {}).empty());
  EXPECT_TRUE(together(d, {"", ""}).empty());
}

TEST_F(BuiltIns, NoMatchSpansTwoFields) {
  const auto& d = *detectors_;
  for (const auto& values : std::vector<std::vector<std::string_view>>{
           {"4111111", "111111111"},                  // a card number's digits, split
           {"4111 1111", "1111 1111"},                // its groups, split
           {"jane.doe", "@example.com"},              // an email
           {"jane.doe@", "example.com"},
           {"123-45", "-6789"},                       // an SSN
           {"(415) 555", "-2671"},                    // a phone number
           {"DE89 3704", "0044 0532 0130 00"},        // an IBAN
           {"192.168", ".10.254"},                    // addresses
           {"2001:db8:", ":8a2e:370:7334"},
           {"sk_live_", "4eC39HqLyjWDarjtT1zdp7dc"},  // a key
       }) {
    EXPECT_TRUE(together(d, values).empty()) << values[0] << " | " << values[1];
  }
}

// The single pass the detectors made before the first pass was added: every pattern, with start offsets, over the
// whole text; the candidates that validate, sorted, the longest at each place, overlaps merged.
class SinglePass {
 public:
  explicit SinglePass(const std::vector<DetectorSpec>& specs) : specs_(specs) {
    std::vector<const char*> patterns;
    std::vector<unsigned> flags;
    std::vector<unsigned> ids;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      patterns.push_back(specs[i].pattern.c_str());
      flags.push_back(HS_FLAG_SOM_LEFTMOST | (specs[i].caseless ? HS_FLAG_CASELESS : 0u));
      ids.push_back(static_cast<unsigned>(i));
    }
    hs_compile_error_t* err = nullptr;
    EXPECT_EQ(hs_compile_multi(patterns.data(), flags.data(), ids.data(), static_cast<unsigned>(patterns.size()),
                               HS_MODE_BLOCK, nullptr, &db_, &err),
              HS_SUCCESS);
    EXPECT_EQ(hs_alloc_scratch(db_, &scratch_), HS_SUCCESS);
  }
  ~SinglePass() {
    hs_free_scratch(scratch_);
    hs_free_database(db_);
  }

  std::vector<Match> scan(std::string_view text) const {
    std::vector<Match> candidates;
    auto onMatch = [](unsigned id, unsigned long long from, unsigned long long to, unsigned, void* ctx) -> int {
      static_cast<std::vector<Match>*>(ctx)->push_back(
          Match{static_cast<std::size_t>(from), static_cast<std::size_t>(to), static_cast<uint16_t>(id)});
      return 0;
    };
    EXPECT_EQ(hs_scan(db_, text.data(), static_cast<unsigned>(text.size()), 0, scratch_, onMatch, &candidates),
              HS_SUCCESS);
    std::erase_if(candidates,
                  [&](const Match& m) { return !valid(m.detector, text.substr(m.begin, m.end - m.begin)); });
    std::sort(candidates.begin(), candidates.end(), [](const Match& a, const Match& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
    });
    std::vector<Match> out;
    for (const auto& m : candidates) {
      if (!out.empty() && m.begin < out.back().end) {
        out.back().end = std::max(out.back().end, m.end);
        continue;
      }
      out.push_back(m);
    }
    return out;
  }

 private:
  bool valid(uint16_t detector, std::string_view s) const {
    unsigned char address[16];
    const std::string z(s);
    switch (specs_[detector].validator) {
      case Validator::kNone: return true;
      case Validator::kLuhn: return luhnValid(s);
      case Validator::kIban: return ibanValid(s);
      case Validator::kUsSsn: return usSsnValid(s);
      case Validator::kIpv4: return inet_pton(AF_INET, z.c_str(), address) == 1;
      case Validator::kIpv6: return inet_pton(AF_INET6, z.c_str(), address) == 1;
    }
    return false;
  }

  std::vector<DetectorSpec> specs_;
  hs_database_t* db_ = nullptr;
  hs_scratch_t* scratch_ = nullptr;
};

// Every built-in's prefilter must hold wherever its pattern matches, and a value scanned in a batch must get what it
// gets alone: compared with the single pass, on texts made to be full of matches and near-misses, long enough to
// cross Vectorscan's 64-byte blocks (its 5.4.9 misses matches of some patterns scanned alone or without start
// offsets past the first block).
TEST_F(BuiltIns, SameMatchesAsASinglePass) {
  const SinglePass reference(builtInDetectors());
  static const char* kPieces[] = {
      "a@b.io", "jane.doe+news@mail.example.co.uk", "ops@1password.com", "4111111111111111",
      "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "3782 822463 10005", "4222222222222",
      "123-45-6789",
      "(415) 555-2671", "+1 415-555-2671", "+442071838750", "415.555.2671", "DE89 3704 0044 0532 0130 00",
      "NO93 8601 1117 947", "GB82WEST12345698765432", "192.168.10.254", "2001:db8::8a2e:370:7334",
      "fe80:0:0:0:202:b3ff:fe1e:8329", "::1", "A2726::", "AKIAIOSFODNN7EXAMPLE",
      "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      "AWS_SECRET_KEY: \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"",
      "awsSecretKey=abcdefghijklmnopqrstuvwxyz/abcdefghijklm",
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
      "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "xoxb-1234567890-abcdefghij",
      "glpat-abcdefghij0123456789", "AIzaSyA1234567890abcdefghijklmnopqrstuv",
      "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n"
      "-----END RSA PRIVATE KEY-----",
      "-----BEGIN PRIVATE KEY-----\nmiibvaibadanbgkqhkig9w0baqefaascat4wgge6\n-----END PRIVATE KEY-----",
      "word", "Word", "ABCD", "x", "_", "12:30:45", "1.2.3.400", "2024-03-15", "12.50", "eyJ", "@", "AB12"};
  static const char kGlue[] = {' ', ' ', '-', '.', ':', '+', '(', ')', '@', ',',
                               '\n', 'x', 'A', '0', '5', '\t', '_', '=', '/', '"'};
  std::mt19937 rng(1234);
  auto digits = [&](std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('0' + rng() % 10);
    return s;
  };
  // Each piece alone, where no other detector's condition can send the text to the second pass.
  for (const std::string piece : kPieces) {
    for (const auto& text : {piece, "(" + piece + ") "}) {
      const auto actual = detectors_->scan(text);
      ASSERT_TRUE(actual);
      ASSERT_EQ(*actual, reference.scan(text)) << text;
    }
  }
  std::map<std::string, int> seen;
  std::vector<std::string> batch;
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const int parts = 1 + static_cast<int>(rng() % (round % 2 ? 6 : 30));
    for (int p = 0; p < parts; ++p) {
      switch (rng() % 4) {
        case 0: text += kPieces[rng() % std::size(kPieces)]; break;
        case 1: text += digits(1 + rng() % 20); break;
        case 2:  // digit groups with separators, as cards, phones and addresses are written
          for (int g = static_cast<int>(rng() % 5); g >= 0; --g) text += digits(1 + rng() % 6) + kGlue[rng() % 6];
          break;
        default: text += kGlue[rng() % std::size(kGlue)]; break;
      }
      if (rng() % 2) text += kGlue[rng() % std::size(kGlue)];
    }
    const auto actual = detectors_->scan(text);
    ASSERT_TRUE(actual);
    ASSERT_EQ(*actual, reference.scan(text)) << text;
    for (const auto& m : *actual) ++seen[detectors_->spec(m.detector).name];
    batch.push_back(text);
    if (batch.size() == 8) {
      const std::vector<std::string_view> values(batch.begin(), batch.end());
      ASSERT_EQ(together(*detectors_, values), oneByOne(*detectors_, values)) << testing::PrintToString(batch);
      batch.clear();
    }
  }
  for (const auto& s : builtInDetectors())
    EXPECT_GE(seen[s.name], 20) << s.name << ": the texts should hold matches of each";
}

// The matching library itself, checked against its own streaming mode fed one byte at a time (a different code path:
// no vector loop ever runs on a one-byte buffer): every built-in alone and all together, as first-pass conditions
// (no start offsets) and as patterns (with start offsets), in block mode over texts of up to a few hundred bytes at
// every alignment. Debian 12's Vectorscan 5.4.9 fails this on AVX-512 machines: it skips matches near the end of
// a text and, for some patterns, elsewhere.
TEST(Detectors, TheLibraryAgreesWithItselfFedOneByteAtATime) {
  using Hits = std::set<std::tuple<unsigned, unsigned long long, unsigned long long>>;
  auto onMatch = [](unsigned id, unsigned long long from, unsigned long long to, unsigned, void* ctx) -> int {
    static_cast<Hits*>(ctx)->insert({id, from, to});
    return 0;
  };
  static const char* kPieces[] = {"a@b.co", "x@example.com ", " 4111 1111 1111 1111", "123-45-6789",
                                  "+1 555 123 4567", "10.0.0.1", "fe80::1", "AKIAABCDEFGHIJKLMNOP",
                                  "eyJhbGciOi.eyJzdWIiOi.abcdefghijk", "sk_live_abcdefghijklmnop",
                                  "DE89 3704 0044 0532 0130 00", " the ", "1234", "\n", "  ", "--", "xx"};
  const auto all = builtInDetectors();
  std::vector<std::vector<DetectorSpec>> sets{all};
  for (const auto& d : all) sets.push_back({d});
  std::mt19937 rng(99);
  std::vector<char> buffer(1024);
  hs_scratch_t* scratch = nullptr;
  for (const auto& set : sets)
    for (const bool som : {false, true}) {
      std::vector<const char*> patterns;
      std::vector<unsigned> flags;
      std::vector<unsigned> ids;
      for (std::size_t i = 0; i < set.size(); ++i) {
        const auto& d = set[i];
        patterns.push_back(som || d.prefilter.empty() ? d.pattern.c_str() : d.prefilter.c_str());
        flags.push_back((som ? HS_FLAG_SOM_LEFTMOST : 0u) | (d.caseless ? HS_FLAG_CASELESS : 0u));
        ids.push_back(static_cast<unsigned>(i));
      }
      hs_database_t* block = nullptr;
      hs_database_t* stream = nullptr;
      hs_compile_error_t* err = nullptr;
      ASSERT_EQ(hs_compile_multi(patterns.data(), flags.data(), ids.data(), static_cast<unsigned>(patterns.size()),
                                 HS_MODE_BLOCK, nullptr, &block, &err), HS_SUCCESS);
      ASSERT_EQ(hs_compile_multi(patterns.data(), flags.data(), ids.data(), static_cast<unsigned>(patterns.size()),
                                 HS_MODE_STREAM | (som ? HS_MODE_SOM_HORIZON_LARGE : 0u), nullptr, &stream, &err),
                HS_SUCCESS);
      ASSERT_EQ(hs_alloc_scratch(block, &scratch), HS_SUCCESS);
      ASSERT_EQ(hs_alloc_scratch(stream, &scratch), HS_SUCCESS);
      std::size_t differing = 0;
      std::string example;
      for (int round = 0; round < 300; ++round) {
        std::string text;
        const std::size_t want = rng() % 300;
        while (text.size() < want) text += kPieces[rng() % std::size(kPieces)];
        char* at = buffer.data() + rng() % 64;
        std::copy(text.begin(), text.end(), at);
        Hits inBlock;
        Hits byByte;
        ASSERT_EQ(hs_scan(block, at, static_cast<unsigned>(text.size()), 0, scratch, onMatch, &inBlock), HS_SUCCESS);
        hs_stream_t* s = nullptr;
        ASSERT_EQ(hs_open_stream(stream, 0, &s), HS_SUCCESS);
        for (const char& c : text) ASSERT_EQ(hs_scan_stream(s, &c, 1, 0, scratch, onMatch, &byByte), HS_SUCCESS);
        ASSERT_EQ(hs_close_stream(s, scratch, onMatch, &byByte), HS_SUCCESS);
        if (inBlock != byByte && differing++ == 0) example = text;
      }
      EXPECT_EQ(differing, 0u) << (set.size() == 1 ? set[0].name : "all built-ins") << (som ? " (patterns)" : " (conditions)")
                               << ", e.g. " << testing::PrintToString(example);
      hs_free_database(block);
      hs_free_database(stream);
    }
  hs_free_scratch(scratch);
}

TEST(Detectors, ABadCustomPatternNamesItsDetector) {
  auto d = Detectors::compile({DetectorSpec{.name = "employee_id", .pattern = "EMP-(\\d+", .validator = {},
                                            .caseless = false}});
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("detector 'employee_id'"), std::string::npos) << d.error().message;
  auto p = Detectors::compile({DetectorSpec{.name = "order_id", .pattern = "ORD-\\d+", .prefilter = "ORD-("}});
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("detector 'order_id' (prefilter)"), std::string::npos) << p.error().message;
}

// In a joined text, ^ and $ do not hold at a value's edges: such a detector is checked in each value alone.
TEST(Detectors, AnchoredCustomPatternsHoldAtEachFieldsEdges) {
  auto d = Detectors::compile({DetectorSpec{.name = "employee_id", .pattern = R"(^EMP-\d{4}$)"},
                               DetectorSpec{.name = "tail", .pattern = R"(\d{3}\z)"}});
  ASSERT_TRUE(d) << d.error().message;
  const std::vector<std::string_view> values = {"EMP-1234", "see EMP-1234", "EMP-5678", "", "EMP-9"};
  const auto result = together(**d, values);
  EXPECT_EQ(result, oneByOne(**d, values));
  EXPECT_EQ(result, (std::vector<FieldMatch>{{0, 0, 8, 0}, {1, 9, 12, 1}, {2, 0, 8, 0}}));
}

// A class that can match the separator ([^,]) only makes the first pass raise a false alarm: the match is found in
// its own value, not across two.
TEST(Detectors, PatternsThatCanMatchTheSeparatorStayInTheirField) {
  auto d = Detectors::compile({DetectorSpec{.name = "kv", .pattern = R"(key=[^,]+)"}});
  ASSERT_TRUE(d) << d.error().message;
  const std::vector<std::string_view> values = {"key=abc", "def", "x,key=1,y"};
  const auto result = together(**d, values);
  EXPECT_EQ(result, oneByOne(**d, values));
  EXPECT_EQ(result, (std::vector<FieldMatch>{{0, 0, 7, 0}, {2, 2, 7, 0}}));
}

// The current thread's allocations through operator new, counted by the replacement below (not in an
// AddressSanitizer build, whose own operator new the libraries' allocations go through).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCountingAllocations = false;
#else
constexpr bool kCountingAllocations = true;
#endif
thread_local long allocations = 0;

TEST(Detectors, ScanningWithoutMatchesAllocatesNothing) {
  if (!kCountingAllocations) GTEST_SKIP() << "allocations are not counted in this build";
  auto d = Detectors::compile(builtInDetectors());
  ASSERT_TRUE(d) << d.error().message;
  // Nothing to find, but a date raises false alarms (digit, dash, digit), so the second pass runs too.
  const std::vector<std::string_view> row = {"order shipped", "the customer asked about 12345", "", "due 2024-03-15"};
  std::vector<FieldMatch> out;
  ASSERT_TRUE((*d)->scanFields(row, out));  // sizes the thread's buffers
  ASSERT_TRUE((*d)->scan(row[1]));
  const long before = allocations;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE((*d)->scanFields(row, out));
    auto single = (*d)->scan(row[1]);
    ASSERT_TRUE(single);
    EXPECT_TRUE(single->empty());
  }
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(allocations, before);
}

TEST(Detectors, ValidatorsAlone) {
  EXPECT_TRUE(luhnValid("4111111111111111"));
  EXPECT_FALSE(luhnValid("4111111111111112"));
  EXPECT_TRUE(ibanValid("FR14 2004 1010 0505 0001 3M02 606"));
  EXPECT_FALSE(ibanValid("FR14 2004 1010 0505 0001 3M02 607"));
  EXPECT_TRUE(usSsnValid("123-45-6789"));
  EXPECT_FALSE(usSsnValid("666-45-6789"));
}

}  // namespace
}  // namespace gatehouse::masking

#if !defined(__SANITIZE_ADDRESS__)
// Replaced to count allocations; GCC flags the malloc/free pair it sees through inlining, which is what it is.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  ++gatehouse::masking::allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif
