// The client side of sign-in: PKCE (RFC 7636's own example), the authorization URL, the redirect back, and the
// token and device endpoints' answers, errors included.
#include "identity/oauth.h"

#include <gtest/gtest.h>

#include <set>

#include "identity/jws.h"

namespace gatehouse::identity::oauth {
namespace {

TEST(Oauth, PkceChallengeIsRfc7636AppendixB) {
  EXPECT_EQ(pkceChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  const auto p = makePkce();
  EXPECT_EQ(p.verifier.size(), 43u) << "32 random bytes: RFC 7636 §4.1 asks for 43 to 128 characters";
  EXPECT_EQ(p.challenge, pkceChallenge(p.verifier));
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) seen.insert(randomToken());
  EXPECT_EQ(seen.size(), 50u);
}

TEST(Oauth, AuthorizationUrlEncodesEveryParameter) {
  const auto url = authorizationUrl({.endpoint = "https://idp.test/auth",
                                     .client_id = "gate house",
                                     .redirect_uri = "http://127.0.0.1:5000/callback",
                                     .scopes = {"openid", "email", "groups"},
                                     .state = "s1",
                                     .nonce = "n1",
                                     .code_challenge = "c1"});
  EXPECT_EQ(url,
            "https://idp.test/auth?response_type=code&client_id=gate%20house&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%"
            "2Fcallback&scope=openid%20email%20groups&state=s1&nonce=n1&code_challenge=c1&code_challenge_method=S256");
  const auto with_query = authorizationUrl({.endpoint = "https://idp.test/auth?tenant=a", .client_id = "c"});
  EXPECT_TRUE(with_query.starts_with("https://idp.test/auth?tenant=a&response_type=code")) << with_query;
}

TEST(Oauth, CallbackCarriesACodeOrAnError) {
  auto ok = parseCallback("/callback?code=abc%2Fd&state=xyz");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->code, "abc/d");
  EXPECT_EQ(ok->state, "xyz");
  auto denied = parseCallback("/callback?error=access_denied&error_description=user+said+no&state=xyz");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->error, "access_denied");
  EXPECT_TRUE(denied->code.empty());
  EXPECT_FALSE(parseCallback("/favicon.ico"));
  EXPECT_FALSE(parseCallback("/callback?state=only"));
}

TEST(Oauth, TokenResponses) {
  auto ok = parseTokenResponse(200, R"({"id_token":"a.b.c","access_token":"at","expires_in":3600,"token_type":"Bearer"})");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->id_token, "a.b.c");
  EXPECT_EQ(ok->expires_in, 3600);
  auto pending = parseTokenResponse(400, R"({"error":"authorization_pending"})");
  ASSERT_FALSE(pending);
  EXPECT_EQ(errorCode(pending.error()), "authorization_pending");
  auto denied = parseTokenResponse(400, R"({"error":"access_denied","error_description":"no"})");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().message, "access_denied: no");
  EXPECT_EQ(errorCode(denied.error()), "access_denied");
  EXPECT_FALSE(parseTokenResponse(200, R"({"access_token":"at"})")) << "no ID token";
  EXPECT_FALSE(parseTokenResponse(502, "<html>bad gateway</html>"));
  EXPECT_FALSE(parseTokenResponse(200, R"({"error":"invalid_grant"})")) << "an error even with 200";
}

TEST(Oauth, DeviceAuthorizationAnswers) {
  auto ok = parseDeviceAuthorization(200, R"({"device_code":"dc","user_code":"ABCD-EFGH","verification_uri":"https://idp.test/device",
    "verification_uri_complete":"https://idp.test/device?user_code=ABCD-EFGH","expires_in":600})");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->user_code, "ABCD-EFGH");
  EXPECT_EQ(ok->interval, 5) << "RFC 8628's default";
  EXPECT_FALSE(parseDeviceAuthorization(200, R"({"device_code":"dc","expires_in":600})"));
  auto refused = parseDeviceAuthorization(400, R"({"error":"unauthorized_client"})");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "unauthorized_client");
}

TEST(Oauth, NonceIsReadWithoutVerifying) {
  auto key = jws::Key::generateEd25519("k");
  ASSERT_TRUE(key);
  auto token = jws::sign(boost::json::object{{"nonce", "n-42"}, {"sub", "a"}}, *key);
  ASSERT_TRUE(token);
  auto nonce = unverifiedNonce(*token);
  ASSERT_TRUE(nonce);
  EXPECT_EQ(*nonce, "n-42");
  EXPECT_FALSE(unverifiedNonce("not-a-jwt"));
}

}  // namespace
}  // namespace gatehouse::identity::oauth
