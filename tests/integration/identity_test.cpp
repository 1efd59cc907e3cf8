// Identity through the real gateway: a service account created with the CLI, its key exchanged at POST /api/token
// for a signed, short-lived session token, and that token used as the password by libpq against a real
// PostgreSQL behind the gateway; groups decide access; revoked keys and tokens, tampered and foreign tokens, and a
// token presented for another user are refused.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <thread>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {

class Identity : public GatewaySuiteTest<Identity> {
 protected:
  static void SetUpTestSuite() {
    if (!startSuite("ident", [](GatewayOptions& o, const devtools::LocalPostgres&, const std::string&) {
          o.connections.at(0).allow_groups = {"deploy"};
        }))
      return;
  }

  struct Exchanged {
    int status = 0;
    boost::json::object body;
  };
  static Exchanged exchange(const std::string& key) {
    auto r = httpRequest("127.0.0.1", gateway().httpPort(), "POST", "/api/token",
                         {"Authorization: Bearer " + key, "Content-Type: application/json"}, "{}");
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    if (!r) return {};
    Exchanged out{.status = r->status, .body = {}};
    boost::system::error_code ec;
    auto v = boost::json::parse(r->body, ec);
    if (!ec && v.is_object()) out.body = v.as_object();
    return out;
  }
  static std::string str(const boost::json::object& o, const char* key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  }
  // A new service account's key (the CLI prints it once).
  static std::string createAccount(const std::string& name, const std::string& groups) {
    auto v = gateway().cliJson({"serviceaccount", "create"}, {name, "--groups", groups, "--json"});
    EXPECT_TRUE(v) << (v ? "" : v.error().message);
    return v && v->is_object() ? str(v->as_object(), "key") : std::string();
  }
  static bool connects(const std::string& user, const std::string& token, std::string* error = nullptr) {
    auto c = pgConnect(gateway().conninfo(user, token, "pg-main", "sslmode=disable"));
    if (!c.ok()) {
      if (error) *error = c.message;
      return false;
    }
    return pgExec(c.conn.get(), "SELECT 1").value() == "1";
  }
};

TEST_F(Identity, AServiceAccountKeyBecomesASessionTokenThatPsqlCanUse) {
  const auto key = createAccount("ci-deploy", "deploy,build");
  ASSERT_TRUE(key.starts_with("ghk_")) << key;
  const auto got = exchange(key);
  ASSERT_EQ(got.status, 200) << boost::json::serialize(got.body);
  const auto token = str(got.body, "token");
  EXPECT_EQ(std::count(token.begin(), token.end(), '.'), 2) << "a JWT";
  EXPECT_EQ(str(got.body, "subject"), "ci-deploy");
  EXPECT_EQ(str(got.body, "token_type"), "Bearer");
  EXPECT_EQ(got.body.at("expires_in").as_int64(), 900) << "15 minutes by default";
  EXPECT_TRUE(str(got.body, "id").starts_with("gst_"));

  // The session token is the password, for the account's own name.
  std::string error;
  EXPECT_TRUE(connects("ci-deploy", token, &error)) << error;
  EXPECT_FALSE(connects("someone-else", token, &error)) << "a token is for its subject only";
  EXPECT_NE(error.find("password authentication failed"), std::string::npos) << error;
  // The key itself is not a password.
  EXPECT_FALSE(connects("ci-deploy", key));

  // The session token works as a bearer token on the HTTP API too.
  auto reviews = httpRequest("127.0.0.1", gateway().httpPort(), "GET", "/api/reviews",
                             {"Authorization: Bearer " + token}, "");
  ASSERT_TRUE(reviews);
  EXPECT_EQ(reviews->status, 200) << reviews->body;

  // Listed by the CLI, with what it was exchanged for.
  auto listed = gateway().cliJson({"token", "sessions"}, {"--json"});
  ASSERT_TRUE(listed) << listed.error().message;
  bool found = false;
  for (const auto& t : listed->as_array())
    if (str(t.as_object(), "id") == str(got.body, "id")) {
      found = true;
      EXPECT_EQ(str(t.as_object(), "subject"), "ci-deploy");
      EXPECT_TRUE(str(t.as_object(), "source").starts_with("service_account:sak_"));
    }
  EXPECT_TRUE(found) << boost::json::serialize(*listed);
}

TEST_F(Identity, GroupsDecideAccess) {
  const auto key = createAccount("reporting", "analytics");
  const auto got = exchange(key);
  ASSERT_EQ(got.status, 200);
  std::string error;
  EXPECT_FALSE(connects("reporting", str(got.body, "token"), &error)) << "analytics is not allowed on pg-main";
  EXPECT_NE(error.find("may not use connection"), std::string::npos) << error;
}

TEST_F(Identity, ARevokedSessionTokenIsRefusedAtOnce) {
  const auto got = exchange(createAccount("batch-job", "deploy"));
  ASSERT_EQ(got.status, 200);
  const auto token = str(got.body, "token");
  ASSERT_TRUE(connects("batch-job", token));
  auto revoked = gateway().cli({"token", "revoke"}, {str(got.body, "id")});
  ASSERT_TRUE(revoked && revoked->status.success()) << (revoked ? revoked->err : revoked.error().message);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(connects("batch-job", token)) << "refused on the very next connection";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST_F(Identity, RotatedAndRevokedKeysAreRefused) {
  const auto first = createAccount("rotating", "deploy");
  ASSERT_EQ(exchange(first).status, 200);
  auto rotated = gateway().cliJson({"serviceaccount", "rotate"}, {"rotating", "--json"});
  ASSERT_TRUE(rotated) << rotated.error().message;
  const auto second = str(rotated->as_object(), "key");
  EXPECT_EQ(exchange(first).status, 401) << "rotation revokes the old key";
  const auto ok = exchange(second);
  ASSERT_EQ(ok.status, 200);
  EXPECT_EQ(str(ok.body, "error"), "");
  auto revoked = gateway().cli({"serviceaccount", "revoke"}, {str(rotated->as_object(), "key_id")});
  ASSERT_TRUE(revoked && revoked->status.success());
  const auto refused = exchange(second);
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(str(refused.body, "error"), "the credential was refused") << "the reason stays in the log";
  EXPECT_NE(gateway().logTail().find("is revoked"), std::string::npos);

  auto listed = gateway().cliJson({"serviceaccount", "list"}, {"--json"});
  ASSERT_TRUE(listed);
  for (const auto& a : listed->as_array())
    if (str(a.as_object(), "name") == "rotating") {
      const auto& keys = a.as_object().at("keys").as_array();
      ASSERT_EQ(keys.size(), 2u);
      for (const auto& k : keys) EXPECT_FALSE(k.as_object().at("revoked_at").is_null());
    }
}

TEST_F(Identity, TamperedAndMalformedTokensAreRefused) {
  const auto got = exchange(createAccount("tamper-target", "deploy"));
  ASSERT_EQ(got.status, 200);
  const auto token = str(got.body, "token");
  const auto dot1 = token.find('.');
  const auto dot2 = token.rfind('.');
  // The payload with its subject changed, the signature kept.
  const std::string forged_payload =
      "eyJpc3MiOiJnYXRlaG91c2UiLCJhdWQiOiJnYXRlaG91c2UiLCJzdWIiOiJhZG1pbiIsImdyb3VwcyI6WyJkZXBsb3kiXSwiZXhwIjo0MTAyNDQ0ODAwfQ";
  EXPECT_FALSE(connects("admin", token.substr(0, dot1 + 1) + forged_payload + token.substr(dot2)));
  // A flipped bit in the signature.
  std::string flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(connects("tamper-target", flipped));
  // alg none.
  const std::string none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + token.substr(dot1 + 1, dot2 - dot1 - 1) + ".";
  EXPECT_FALSE(connects("tamper-target", none));
  EXPECT_FALSE(connects("tamper-target", "a.b.c-not-a-token"));
  // Not a key at all, at the exchange.
  EXPECT_EQ(exchange("ghk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").status, 401);
  EXPECT_EQ(exchange(token).status, 401) << "a session token is not exchanged for another";
  // The original still works: the refusals did not disturb the gateway.
  EXPECT_TRUE(connects("tamper-target", token));
}

}  // namespace
}  // namespace gatehouse::testing
