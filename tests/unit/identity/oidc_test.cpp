// OIDC token verification against a provider whose discovery document and JWKS are served by the fetch function
// the verifier is given (its seam for I/O: the gateway gives one that speaks HTTPS). Covers key rotation and the unknown-kid refresh limit, the issuer and audience checks, expiry,
// alg refusals, claims by dotted path and the group map.
#include "identity/oidc.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace gatehouse::identity {
namespace {

namespace json = boost::json;

constexpr int64_t kNow = 1'800'000'000;
const std::string kIssuer = "https://idp.example.test/realms/main";

class Oidc : public ::testing::Test {
 protected:
  void SetUp() override {
    key1 = *jws::Key::generateEd25519("k1");
    key2 = *jws::Key::generateEd25519("k2");
    published = {key1};
    core::OidcProviderConfig c;
    c.name = "main";
    c.issuer = kIssuer;
    c.client_id = "gatehouse-cli";
    c.audiences = {"gatehouse-api"};
    c.groups_claim = "realm_access.roles";
    c.group_map = {{"db-admins", {"dba", "oncall"}}};
    provider = std::make_unique<OidcProvider>(c, [this](const std::string& url) -> Result<std::string> {
      fetched.push_back(url);
      if (fail_fetch) return makeError("connection refused");
      if (url == kIssuer + "/.well-known/openid-configuration")
        return json::serialize(json::object{{"issuer", discovery_issuer},
                                            {"jwks_uri", kIssuer + "/certs"},
                                            {"token_endpoint", kIssuer + "/token"}});
      if (url == kIssuer + "/certs") {
        json::array keys;
        for (const auto& k : published) keys.emplace_back(k.publicJwk());
        keys.emplace_back(json::object{{"kty", "RSA"}, {"use", "enc"}, {"kid", "enc-key"}, {"n", "AQAB"}, {"e", "AQAB"}});
        return json::serialize(json::object{{"keys", keys}});
      }
      return makeError("404 " + url);
    });
  }
  json::object claims(std::string_view sub = "u-1") const {
    return json::object{{"iss", kIssuer},
                        {"aud", "gatehouse-cli"},
                        {"sub", sub},
                        {"email", "alice@example.com"},
                        {"realm_access", json::object{{"roles", json::array{"db-admins", "dev"}}}},
                        {"iat", kNow - 10},
                        {"exp", kNow + 300}};
  }
  std::string token(const json::object& c, const jws::Key& k) const {
    auto t = jws::sign(c, k);
    EXPECT_TRUE(t) << t.error().message;
    return t ? *t : std::string();
  }

  jws::Key key1 = *jws::Key::generateEd25519("placeholder");
  jws::Key key2 = *jws::Key::generateEd25519("placeholder");
  std::vector<jws::Key> published;
  std::string discovery_issuer = kIssuer;
  bool fail_fetch = false;
  std::vector<std::string> fetched;
  std::unique_ptr<OidcProvider> provider;
};

TEST_F(Oidc, AValidTokenNamesTheUserAndMappedGroups) {
  ASSERT_TRUE(provider->refresh(kNow));
  EXPECT_EQ(provider->endpoint("token_endpoint"), kIssuer + "/token");
  auto who = provider->verify(token(claims(), key1), kNow);
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->provider, "main");
  EXPECT_EQ(who->subject, "u-1");
  EXPECT_EQ(who->username, "alice@example.com");
  EXPECT_EQ(who->groups, (std::vector<std::string>{"dba", "oncall", "dev"})) << "mapped, then passed through";
  EXPECT_EQ(who->expires_at_s, kNow + 300);
}

TEST_F(Oidc, KeysAreFetchedByTheRefresherNotByVerifyingAndAnotherAudienceIsAccepted) {
  auto c = claims();
  c["aud"] = json::array{"other", "gatehouse-api"};
  auto before = provider->verify(token(c, key1), kNow);
  ASSERT_FALSE(before) << "verifying never fetches";
  EXPECT_NE(before.error().message.find("not been fetched"), std::string::npos) << before.error().message;
  EXPECT_TRUE(fetched.empty());
  EXPECT_TRUE(provider->refreshDue(kNow));
  ASSERT_TRUE(provider->refresh(kNow));
  EXPECT_EQ(fetched.size(), 2u) << "discovery, then the JWKS";
  EXPECT_TRUE(provider->verify(token(c, key1), kNow));
  EXPECT_TRUE(provider->verify(token(claims(), key1), kNow + 1));
  EXPECT_FALSE(provider->refreshDue(kNow + 1)) << "cached";
}

TEST_F(Oidc, AnUnknownKidAsksForARefreshAtMostOnceAMinute) {
  ASSERT_TRUE(provider->refresh(kNow));
  int wakeups = 0;
  provider->setWakeup([&] { ++wakeups; });
  // The provider rotates to key2, and a token signed with it arrives.
  published = {key1, key2};
  EXPECT_FALSE(provider->verify(token(claims(), key2), kNow + 30));
  EXPECT_FALSE(provider->refreshWanted()) << "within a minute of the last fetch";
  EXPECT_FALSE(provider->refreshDue(kNow + 30));
  EXPECT_EQ(wakeups, 0);
  auto first = provider->verify(token(claims(), key2), kNow + 61);
  ASSERT_FALSE(first) << "the keys at hand do not have it yet";
  EXPECT_NE(first.error().message.find("unknown key id 'k2'"), std::string::npos) << first.error().message;
  EXPECT_TRUE(provider->refreshWanted());
  EXPECT_EQ(wakeups, 1) << "the refresher is woken";
  // What the refresher does; the caller then verifies again.
  ASSERT_TRUE(provider->refreshDue(kNow + 61));
  ASSERT_TRUE(provider->refresh(kNow + 61));
  EXPECT_FALSE(provider->refreshWanted());
  auto again = provider->verify(token(claims(), key2), kNow + 61);
  ASSERT_TRUE(again) << again.error().message;
  // Made-up key ids do not make the gateway fetch again and again.
  const auto fetches = fetched.size();
  auto forged = *jws::Key::generateEd25519("made-up");
  for (int i = 0; i < 20; ++i) {
    auto r = provider->verify(token(claims(), forged), kNow + 62 + i);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("unknown key id"), std::string::npos) << r.error().message;
    EXPECT_FALSE(provider->refreshDue(kNow + 62 + i));
  }
  EXPECT_EQ(fetched.size(), fetches);
  EXPECT_EQ(wakeups, 1);
}

TEST_F(Oidc, KeysAreRefetchedOnSchedule) {
  ASSERT_TRUE(provider->refresh(kNow));
  published = {key2};  // key1 withdrawn
  EXPECT_FALSE(provider->refreshDue(kNow + 100));
  EXPECT_TRUE(provider->verify(token(claims(), key1), kNow + 100)) << "cached for now";
  ASSERT_TRUE(provider->refreshDue(kNow + OidcProvider::kScheduledRefreshS));
  ASSERT_TRUE(provider->refresh(kNow + OidcProvider::kScheduledRefreshS));
  auto after = provider->verify(token(claims(), key1), kNow + OidcProvider::kScheduledRefreshS + 1);
  ASSERT_FALSE(after) << "a withdrawn key stops working once the JWKS is fetched again";
}

TEST_F(Oidc, AnUnreachableProviderRefusesTokensAndIsTriedAgain) {
  fail_fetch = true;
  auto r = provider->refresh(kNow);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("discovery"), std::string::npos) << r.error().message;
  EXPECT_FALSE(provider->verify(token(claims(), key1), kNow));
  EXPECT_FALSE(provider->refreshDue(kNow + OidcProvider::kRetryS - 1));
  EXPECT_TRUE(provider->refreshDue(kNow + OidcProvider::kRetryS));
  // Keys already fetched stay in use while the provider is unreachable.
  fail_fetch = false;
  ASSERT_TRUE(provider->refresh(kNow + OidcProvider::kRetryS));
  fail_fetch = true;
  EXPECT_FALSE(provider->refresh(kNow + 200));
  EXPECT_TRUE(provider->verify(token(claims(), key1), kNow + 200));
}

TEST_F(Oidc, TokensForTheCliClientAreAccepted) {
  core::OidcProviderConfig c = provider->config();
  c.cli_client_id = "gatehouse-login";
  OidcProvider with_cli(c, [this](const std::string& url) -> Result<std::string> {
    if (url.ends_with("openid-configuration"))
      return json::serialize(json::object{{"issuer", kIssuer}, {"jwks_uri", kIssuer + "/certs"}});
    return json::serialize(json::object{{"keys", json::array{key1.publicJwk()}}});
  });
  ASSERT_TRUE(with_cli.refresh(kNow));
  auto cl = claims();
  cl["aud"] = "gatehouse-login";
  EXPECT_TRUE(with_cli.verify(token(cl, key1), kNow));
  ASSERT_TRUE(provider->refresh(kNow));
  auto other = provider->verify(token(cl, key1), kNow);
  ASSERT_FALSE(other) << "not configured: another audience";
  EXPECT_NE(other.error().message.find("aud"), std::string::npos) << other.error().message;
}

TEST_F(Oidc, ADiscoveryDocumentForAnotherIssuerIsRefused) {
  discovery_issuer = "https://evil.example.test";
  auto r = provider->refresh(kNow);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("issuer"), std::string::npos);
}

TEST_F(Oidc, RefusalsEachWithItsReason) {
  ASSERT_TRUE(provider->refresh(kNow));
  auto reason = [&](json::object c) {
    auto r = provider->verify(token(c, key1), kNow);
    return r ? std::string("accepted") : r.error().message;
  };
  auto c = claims();
  c["aud"] = "someone-else";
  EXPECT_NE(reason(c).find("aud"), std::string::npos) << reason(c);
  c = claims();
  c["iss"] = "https://idp.example.test/realms/other";
  EXPECT_NE(reason(c).find("iss"), std::string::npos) << reason(c);
  c = claims();
  c["exp"] = kNow - 120;
  EXPECT_NE(reason(c).find("exp"), std::string::npos) << reason(c);
  c = claims();
  c["nbf"] = kNow + 600;
  EXPECT_NE(reason(c).find("nbf"), std::string::npos) << reason(c);
  c = claims();
  c.erase("email");
  EXPECT_NE(reason(c).find("email"), std::string::npos) << reason(c);
  // A signature by a key that is not the provider's, under the provider's kid.
  auto impostor = *jws::Key::generateEd25519("k1");
  EXPECT_FALSE(provider->verify(token(claims(), impostor), kNow));
  // alg none with the provider's kid.
  const std::string none = jws::base64UrlEncode(R"({"alg":"none","kid":"k1"})") + "." +
                           jws::base64UrlEncode(json::serialize(claims())) + ".";
  EXPECT_FALSE(provider->verify(none, kNow));
}

TEST(ClaimStrings, DottedPathsArraysAndSingleStrings) {
  const json::object c{{"groups", json::array{"a", "b", 3}},
                       {"role", "admin"},
                       {"resource_access", json::object{{"app", json::object{{"roles", json::array{"x"}}}}}}};
  EXPECT_EQ(claimStrings(c, "groups"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(claimStrings(c, "role"), (std::vector<std::string>{"admin"}));
  EXPECT_EQ(claimStrings(c, "resource_access.app.roles"), (std::vector<std::string>{"x"}));
  EXPECT_TRUE(claimStrings(c, "resource_access.other.roles").empty());
  EXPECT_TRUE(claimStrings(c, "role.sub").empty());
  EXPECT_TRUE(claimStrings(c, "missing").empty());
}

TEST(OidcProviders, FoundByTheTokensIssuer) {
  OidcProviders all;
  core::OidcProviderConfig a;
  a.name = "a";
  a.issuer = "https://a.example.test";
  core::OidcProviderConfig b;
  b.name = "b";
  b.issuer = "https://b.example.test";
  all.add(std::make_unique<OidcProvider>(a, [](const std::string&) -> Result<std::string> { return makeError("x"); }));
  all.add(std::make_unique<OidcProvider>(b, [](const std::string&) -> Result<std::string> { return makeError("x"); }));
  auto key = *jws::Key::generateEd25519("k");
  const auto t = *jws::sign(json::object{{"iss", "https://b.example.test"}, {"exp", kNow}}, key);
  ASSERT_NE(all.forToken(t), nullptr);
  EXPECT_EQ(all.forToken(t)->config().name, "b");
  EXPECT_EQ(all.forToken(*jws::sign(json::object{{"iss", "https://c.example.test"}}, key)), nullptr);
  EXPECT_EQ(all.forToken("not a token"), nullptr);
  EXPECT_EQ(all.byName("a")->config().issuer, "https://a.example.test");
}

}  // namespace
}  // namespace gatehouse::identity
