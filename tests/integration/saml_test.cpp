// SAML sign-in through the gateway as service provider, against a real IdP (samlify, tests/saml/idp.mjs): the
// gateway's metadata, its AuthnRequest (HTTP-Redirect) answered by a signed Response (HTTP-POST to the ACS), the
// detour to /finish that sets the cookie session; the session's token is the same kind as OIDC's (psql accepts
// it). Tampered, foreign-signed, replayed and unsolicited responses, and a sign-in finished in another browser, are
// refused.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "devtools/local_postgres.h"
#include "net/http_client.h"
#include "support/gateway_test.h"
#include "support/temp_dir.h"

namespace gatehouse::testing {
namespace {

namespace json = boost::json;

std::filesystem::path samlTools() { return std::filesystem::path(GATEHOUSE_SOURCE_DIR) / "tests" / "saml"; }

Result<std::string> idp(std::vector<std::string> args) {
  if (!std::filesystem::exists(samlTools() / "node_modules" / "samlify"))
    return makeError("the SAML test IdP is not installed: run `npm ci` in tests/saml (scripts/test does)");
  args.insert(args.begin(), {"node", (samlTools() / "idp.mjs").string()});
  auto r = devtools::run({.argv = args}, std::chrono::seconds(60));
  if (!r) return r.error();
  if (!r->status.success()) return makeError("idp.mjs: " + r->status.describe() + ": " + r->err);
  std::string out = r->out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string enc(std::string_view s) { return boost::urls::encode(s, boost::urls::unreserved_chars); }

// The value of `name` in a "name=value; attrs" Set-Cookie header list.
std::string cookieIn(const std::vector<std::string>& set_cookies, const std::string& name, std::string* whole = nullptr) {
  for (const auto& c : set_cookies)
    if (c.starts_with(name + "=")) {
      if (whole) *whole = c;
      return c.substr(name.size() + 1, c.find(';') - name.size() - 1);
    }
  return {};
}

std::string queryValue(const std::string& url, const std::string& name) {
  const auto at = url.find(name + "=");
  if (at == std::string::npos) return {};
  const auto from = at + name.size() + 1;
  return url.substr(from, url.find('&', from) - from);
}

class Saml : public GatewaySuiteTest<Saml> {
 protected:
  static void SetUpTestSuite() {
    static TempDir dir;
    dir_ = dir.path();
    auto port = devtools::pickFreePort();
    if (!port) {
      error_ = port.error().message;
      return;
    }
    port_ = *port;
    if (auto k = idp({"keys", dir_.string()}); !k) {
      error_ = k.error().message;
      return;
    }
    auto meta = idp({"metadata", dir_.string(), "--entity-id", "https://idp.example.test/saml", "--sso-url",
                     "https://idp.example.test/sso"});
    if (!meta) {
      error_ = meta.error().message;
      return;
    }
    std::ofstream(dir_ / "idp.xml") << *meta;
    startSuite("saml", [&](GatewayOptions& o, const devtools::LocalPostgres&, const std::string&) {
      o.http_port = port_;
      o.http_tls = true;
      o.http_public_url = base();
      o.extra_yaml = "identity:\n"
                     "  saml:\n"
                     "    - name: corp\n"
                     "      idp_metadata: " + (dir_ / "idp.xml").string() + "\n"
                     "      groups_attribute: groups\n"
                     "      group_map:\n"
                     "        db-admins: [dev]\n";
    });
  }

  static std::string base() { return "https://127.0.0.1:" + std::to_string(port_); }
  static net::HttpResponse call(const std::string& method, const std::string& target,
                                std::vector<std::pair<std::string, std::string>> headers = {}, std::string body = {}) {
    auto r = net::httpRequest({.method = method,
                               .url = base() + target,
                               .headers = std::move(headers),
                               .body = std::move(body),
                               .ca_file = gateway().dataDir() / "tls" / "gateway.crt"});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : net::HttpResponse{};
  }

  struct Started {
    std::string location;  // the IdP's SSO URL with our AuthnRequest
    std::string relay;
    std::string binding;  // the __Host-gh_login cookie's value
  };
  static Started startLogin() {
    auto r = call("GET", "/api/auth/saml/corp/login?return_to=/api/whoami");
    EXPECT_EQ(r.status, 302) << r.body;
    EXPECT_TRUE(r.location.starts_with("https://idp.example.test/sso?SAMLRequest=")) << r.location;
    return {.location = r.location,
            .relay = queryValue(r.location, "RelayState"),
            .binding = cookieIn(r.set_cookies, "__Host-gh_login")};
  }
  // The IdP's answer to `started`, signed (or spoiled) as `extra` says.
  static std::string respond(const Started& started, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"respond", dir_.string(), "--sp-metadata", (dir_ / "sp.xml").string(),
                                  "--user", "alice", "--email", "alice@example.com", "--groups", "db-admins,eng",
                                  "--request", started.location};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = idp(args);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : std::string();
  }
  static net::HttpResponse postAcs(const std::string& response, const std::string& relay) {
    return call("POST", "/api/auth/saml/corp/acs", {{"Content-Type", "application/x-www-form-urlencoded"}},
                "SAMLResponse=" + enc(response) + "&RelayState=" + enc(relay));
  }
  void SetUp() override {
    GatewaySuiteTest<Saml>::SetUp();
    if (HasFailure()) return;
    auto meta = call("GET", "/api/auth/saml/corp/metadata");
    ASSERT_EQ(meta.status, 200);
    std::ofstream(dir_ / "sp.xml") << meta.body;
  }

  static inline std::filesystem::path dir_;
  static inline uint16_t port_ = 0;
};

TEST_F(Saml, MetadataNamesTheEntityAndTheAssertionConsumerService) {
  auto meta = call("GET", "/api/auth/saml/corp/metadata");
  ASSERT_EQ(meta.status, 200);
  EXPECT_EQ(meta.content_type, "application/samlmetadata+xml");
  EXPECT_NE(meta.body.find("entityID=\"" + base() + "/api/auth/saml/corp\""), std::string::npos) << meta.body;
  EXPECT_NE(meta.body.find(base() + "/api/auth/saml/corp/acs"), std::string::npos) << meta.body;
  EXPECT_EQ(call("GET", "/api/auth/saml/nope/metadata").status, 404);
}

TEST_F(Saml, ASignedResponseGivesTheSameSessionTokenAsOidc) {
  const auto started = startLogin();
  ASSERT_FALSE(started.relay.empty());
  ASSERT_FALSE(started.binding.empty());
  auto acs = postAcs(respond(started), started.relay);
  ASSERT_EQ(acs.status, 303) << acs.body;
  ASSERT_TRUE(acs.location.starts_with("/api/auth/saml/corp/finish?code=")) << acs.location;
  EXPECT_TRUE(acs.set_cookies.empty()) << "no cookie from the answer to a cross-site POST";

  auto finish = call("GET", acs.location, {{"Cookie", "__Host-gh_login=" + started.binding}});
  ASSERT_EQ(finish.status, 302) << finish.body;
  EXPECT_EQ(finish.location, "/api/whoami");
  std::string whole;
  const auto token = cookieIn(finish.set_cookies, "__Host-gh_session", &whole);
  ASSERT_FALSE(token.empty());
  EXPECT_NE(whole.find("; Secure"), std::string::npos) << whole;
  EXPECT_NE(whole.find("; HttpOnly"), std::string::npos) << whole;
  EXPECT_NE(whole.find("; SameSite=Lax"), std::string::npos) << whole;

  auto who = call("GET", "/api/whoami", {{"Cookie", "__Host-gh_session=" + token}});
  ASSERT_EQ(who.status, 200) << who.body;
  const auto body = json::parse(who.body).as_object();
  EXPECT_EQ(body.at("subject"), json::value("alice"));
  EXPECT_EQ(body.at("groups"), (json::array{"dev", "eng"}));
  // The same session token as any other sign-in: the PostgreSQL listener takes it.
  auto c = pgConnect(gateway().conninfo("alice", token, "pg-main", "sslmode=disable"));
  ASSERT_TRUE(c.ok()) << c.message;
  EXPECT_EQ(pgExec(c.conn.get(), "SELECT 7").value(), "7");
  // The code is good once.
  EXPECT_EQ(call("GET", acs.location, {{"Cookie", "__Host-gh_login=" + started.binding}}).status, 401);
}

TEST_F(Saml, SpoiledForeignReplayedAndUnsolicitedResponsesAreRefused) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> spoiled{
      {"NameID changed after signing", {"--tamper-after-sign", "nameid"}},
      {"group changed after signing", {"--tamper-after-sign", "group"}},
      {"attribute added after signing", {"--tamper-after-sign", "addattr"}},
      {"signed by another key", {"--other-key"}},
      {"unsigned", {"--sign", "none"}},
      {"another audience", {"--audience", "https://other-sp.example.test"}},
      {"expired", {"--not-on-or-after-seconds", "-600"}},
  };
  for (const auto& [what, extra] : spoiled) {
    const auto started = startLogin();
    auto acs = postAcs(respond(started, extra), started.relay);
    EXPECT_EQ(acs.status, 401) << what << ": " << acs.body;
    EXPECT_TRUE(acs.location.empty()) << what;
  }
  // A good response, replayed with a new sign-in's RelayState.
  const auto first = startLogin();
  const auto good = respond(first);
  ASSERT_EQ(postAcs(good, first.relay).status, 303);
  const auto second = startLogin();
  EXPECT_EQ(postAcs(good, second.relay).status, 401) << "replayed";
  // No RelayState this gateway issued: an unsolicited (IdP-initiated) response.
  EXPECT_EQ(postAcs(good, "").status, 401);
  // Finished in another browser (without the binding cookie).
  const auto third = startLogin();
  auto acs = postAcs(respond(third), third.relay);
  ASSERT_EQ(acs.status, 303);
  EXPECT_EQ(call("GET", acs.location, {{"Cookie", "__Host-gh_login=someone-elses"}}).status, 401);
  const auto log = devtools::readFileOrEmpty(gateway().logPath());
  EXPECT_NE(log.find("saml corp: sign-in refused"), std::string::npos);
  EXPECT_NE(log.find("unsolicited responses are not accepted"), std::string::npos);
  EXPECT_NE(log.find("was not started in this browser"), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::testing
