// The web sign-in against a real OpenID provider, in real headless Chromium, over the gateway's HTTPS listener:
// the code flow (a confidential client, PKCE, state bound to the browser) ends in a Secure, HttpOnly, SameSite
// cookie session that the API accepts; a state not issued to this browser, or made up, is refused; a cookie
// session's POSTs need the CSRF header; logout revokes the session's token.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "devtools/local_postgres.h"
#include "net/http_client.h"
#include "support/gateway_test.h"
#include "support/oidc_provider.h"

namespace gatehouse::testing {
namespace {

namespace json = boost::json;

class WebSignIn : public GatewaySuiteTest<WebSignIn> {
 protected:
  static void SetUpTestSuite() {
    auto port = devtools::pickFreePort();
    if (!port) {
      error_ = port.error().message;
      return;
    }
    port_ = *port;
    auto provider = TestOidcProvider::start(
        {OidcClient{.client_id = "gatehouse-web",
                    .client_secret = "web-secret-123",
                    .redirect_uris = {base() + "/api/auth/callback"},
                    .grant_types = {"authorization_code"},
                    .token_endpoint_auth_method = "client_secret_basic",
                    .application_type = "web",
                    .id_token_signed_response_alg = "ES256"}},
        {kAlice, kBob});
    if (!provider) {
      error_ = provider.error().message;
      return;
    }
    provider_ = std::move(*provider);
    const auto issuer = provider_->issuer();
    startSuite("websignin", [&](GatewayOptions& o, const devtools::LocalPostgres&, const std::string&) {
      o.http_port = port_;
      o.http_tls = true;
      o.env.emplace_back("GH_TEST_OIDC_SECRET", "web-secret-123");
      o.extra_yaml = "identity:\n"
                     "  oidc:\n"
                     "    - name: corp\n"
                     "      issuer: " + issuer + "\n"
                     "      client_id: gatehouse-web\n"
                     "      client_secret: { env: GH_TEST_OIDC_SECRET }\n"
                     "      scopes: [openid, email, groups]\n"
                     "      group_map:\n"
                     "        db-admins: [dev]\n";
    });
  }
  static void TearDownTestSuite() {
    GatewaySuiteTest<WebSignIn>::TearDownTestSuite();
    provider_.reset();
  }
  void TearDown() override {
    GatewaySuiteTest<WebSignIn>::TearDown();
    if (HasFailure() && provider_) std::cerr << "---- provider log tail ----\n" << provider_->logTail() << '\n';
  }

  static std::string base() { return "https://127.0.0.1:" + std::to_string(port_); }
  // One HTTPS request to the gateway, trusting its generated certificate.
  static net::HttpResponse call(const std::string& method, const std::string& target,
                                std::vector<std::pair<std::string, std::string>> headers = {}) {
    auto r = net::httpRequest({.method = method,
                               .url = base() + target,
                               .headers = std::move(headers),
                               .ca_file = gateway().dataDir() / "tls" / "gateway.crt"});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : net::HttpResponse{};
  }
  static json::object parse(const std::string& text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    EXPECT_FALSE(ec) << text;
    return !ec && v.is_object() ? v.as_object() : json::object{};
  }
  static std::string str(const json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  }

  static inline uint16_t port_ = 0;
  static inline std::unique_ptr<TestOidcProvider> provider_;
};

TEST_F(WebSignIn, ChromiumSignsInAndGetsASecureHttpOnlyCookieSession) {
  auto report = runBrowser({"login", "--url", base() + "/api/auth/login?return_to=/api/whoami", "--username",
                            kAlice.username, "--password", kAlice.password, "--until", base() + "/api/whoami",
                            "--fetch", base() + "/api/whoami"});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(str(*report, "final_url"), base() + "/api/whoami") << json::serialize(*report);
  const auto who = parse(str(*report, "body"));
  EXPECT_EQ(str(who, "subject"), "alice@example.com");
  EXPECT_EQ(who.at("groups"), (json::array{"dev", "eng"}));
  const auto& fetches = report->at("fetches").as_array();
  ASSERT_EQ(fetches.size(), 1u);
  EXPECT_EQ(fetches[0].as_object().at("status"), json::value(200)) << "the page's own requests carry the session";

  bool found = false;
  for (const auto& c : report->at("cookies").as_array()) {
    const auto& o = c.as_object();
    if (str(o, "name") == "__Host-gh_login") ADD_FAILURE() << "the sign-in's binding cookie is cleared at the end";
    if (str(o, "name") != "__Host-gh_session") continue;
    found = true;
    EXPECT_EQ(o.at("httpOnly"), json::value(true));
    EXPECT_EQ(o.at("secure"), json::value(true));
    EXPECT_EQ(str(o, "sameSite"), "Lax");
    EXPECT_EQ(str(o, "path"), "/");
  }
  EXPECT_TRUE(found) << json::serialize(report->at("cookies"));
  EXPECT_NE(devtools::readFileOrEmpty(gateway().logPath()).find("web sign-in: alice@example.com"), std::string::npos);
}

TEST_F(WebSignIn, AReturnToOffTheSiteIsIgnored) {
  auto report = runBrowser({"login", "--url", base() + "/api/auth/login?return_to=//evil.example/x", "--username",
                            kBob.username, "--password", kBob.password, "--until", base() + "/"});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(str(*report, "final_url"), base() + "/") << "sent home, not to evil.example";
}

TEST_F(WebSignIn, AStateNotIssuedToThisBrowserIsRefused) {
  auto start = call("GET", "/api/auth/login");
  ASSERT_EQ(start.status, 302);
  ASSERT_TRUE(start.location.starts_with(provider_->issuer())) << start.location;
  const auto at = start.location.find("state=");
  ASSERT_NE(at, std::string::npos);
  const auto state = start.location.substr(at + 6, start.location.find('&', at) - at - 6);
  // The callback arrives without the browser's binding cookie (a link planted in someone else's browser).
  auto forged = call("GET", "/api/auth/callback?code=whatever&state=" + state,
                     {{"Cookie", "__Host-gh_login=another-browsers-value"}});
  EXPECT_EQ(forged.status, 401);
  EXPECT_EQ(call("GET", "/api/auth/callback?code=x&state=made-up").status, 401);
  EXPECT_EQ(call("GET", "/api/auth/callback?state=only").status, 400);
  const auto log = devtools::readFileOrEmpty(gateway().logPath());
  EXPECT_NE(log.find("the state was not issued to this browser"), std::string::npos);
  EXPECT_NE(log.find("unknown or expired state"), std::string::npos);
}

TEST_F(WebSignIn, CookieSessionsNeedTheCsrfHeaderToPostAndLogoutRevokes) {
  // A session token from a service account stands in for one set by a sign-in: the cookie is the same.
  auto key = gateway().cliJson({"serviceaccount", "create"}, {"web-bot", "--groups", "dev", "--json"});
  ASSERT_TRUE(key) << key.error().message;
  auto exchanged = call("POST", "/api/token", {{"Authorization", "Bearer " + str(key->as_object(), "key")}});
  ASSERT_EQ(exchanged.status, 200) << exchanged.body;
  const std::string cookie = "__Host-gh_session=" + str(parse(exchanged.body), "token");
  EXPECT_EQ(call("GET", "/api/whoami", {{"Cookie", cookie}}).status, 200);
  auto no_csrf = call("POST", "/api/reviews/rev_x/approve", {{"Cookie", cookie}});
  EXPECT_EQ(no_csrf.status, 403) << no_csrf.body;
  EXPECT_EQ(call("POST", "/api/auth/logout", {{"Cookie", cookie}}).status, 403);
  auto out = call("POST", "/api/auth/logout", {{"Cookie", cookie}, {"X-Gatehouse-CSRF", "1"}});
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_EQ(call("GET", "/api/whoami", {{"Cookie", cookie}}).status, 401) << "the token was revoked";
  EXPECT_EQ(call("GET", "/api/whoami", {{"Cookie", "__Host-gh_session=ght_not_a_session"}}).status, 401);
}

}  // namespace
}  // namespace gatehouse::testing
