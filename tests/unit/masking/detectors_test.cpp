// Content detectors: each built-in finds its true positives and passes over the near-misses (a 16-digit number
// that fails Luhn is not a card; an IBAN with a wrong check digit is not an IBAN).
#include <gtest/gtest.h>

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

TEST(Detectors, ABadCustomPatternNamesItsDetector) {
  auto d = Detectors::compile({DetectorSpec{.name = "employee_id", .pattern = "EMP-(\\d+", .validator = {},
                                            .caseless = false}});
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("detector 'employee_id'"), std::string::npos) << d.error().message;
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
