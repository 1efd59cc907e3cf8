// Signing in with a real OpenID provider (oidc-provider, on loopback) through real headless Chromium: `gatehouse
// login` by the code flow with PKCE (the browser opened through $BROWSER) and by the device flow; then psql
// through the gateway with the session token; groups (mapped from the provider's) decide access; `whoami` and
// `logout` (which revokes). The provider's ID token also works directly as the PostgreSQL password and is
// exchanged at POST /api/token; tokens for another client, tampered, unsigned or naming an unknown key are refused
// with a generic error to the client and the reason in the log.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>
#include <thread>

#include "identity/jws.h"
#include "support/gateway_test.h"
#include "support/oidc_provider.h"
#include "support/temp_dir.h"

namespace gatehouse::testing {
namespace {

namespace json = boost::json;

class Oidc : public GatewaySuiteTest<Oidc> {
 protected:
  static void SetUpTestSuite() {
    auto provider = TestOidcProvider::start(
        {OidcClient{.client_id = "gatehouse-cli", .redirect_uris = {"http://127.0.0.1/callback"}},
         OidcClient{.client_id = "other-app",
                    .redirect_uris = {"http://127.0.0.1/callback"},
                    .id_token_signed_response_alg = "EdDSA"},
         OidcClient{.client_id = "gatehouse-es256",
                    .redirect_uris = {"http://127.0.0.1/callback"},
                    .id_token_signed_response_alg = "ES256"}},
        {kAlice, kBob});
    if (!provider) {
      error_ = provider.error().message;
      return;
    }
    provider_ = std::move(*provider);
    const auto issuer = provider_->issuer();
    if (!startSuite("oidc", [&](GatewayOptions& o, const devtools::LocalPostgres&, const std::string&) {
          o.extra_yaml = "identity:\n"
                         "  oidc:\n"
                         "    - name: test-idp\n"
                         "      issuer: " + issuer + "\n"
                         "      client_id: gatehouse-cli\n"
                         "      audiences: [gatehouse-es256]\n"
                         "      scopes: [openid, email, groups]\n"
                         "      group_map:\n"
                         "        db-admins: [dev]\n";
        }))
      return;
  }
  static void TearDownTestSuite() {
    GatewaySuiteTest<Oidc>::TearDownTestSuite();
    provider_.reset();
  }
  void TearDown() override {
    GatewaySuiteTest<Oidc>::TearDown();
    if (HasFailure() && provider_) std::cerr << "---- provider log tail ----\n" << provider_->logTail() << '\n';
  }

  // `gatehouse ARGS...` as a user with their own config directory.
  static devtools::SpawnOptions userCli(const std::filesystem::path& home, std::vector<std::string> args,
                                        EnvVars env = {}) {
    std::vector<std::string> argv{gatehouseBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    env.emplace_back("GATEHOUSE_CONFIG_DIR", (home / "gatehouse").string());
    env.emplace_back("GATEHOUSE_URL", "http://127.0.0.1:" + std::to_string(gateway().httpPort()));
    return {.argv = argv, .env = env};
  }
  static Result<devtools::RunResult> run(const std::filesystem::path& home, std::vector<std::string> args,
                                         EnvVars env = {}) {
    return devtools::run(userCli(home, std::move(args), std::move(env)), std::chrono::seconds(90));
  }
  // `gatehouse login` by the code flow, the browser signing in as `user`.
  static Result<devtools::RunResult> loginInBrowser(const std::filesystem::path& home, const OidcUser& user,
                                                    std::vector<std::string> extra = {}) {
    auto script = writeBrowserScript(home, user, home / "browser-report.json");
    if (!script) return script.error();
    std::vector<std::string> args{"login"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run(home, args, {{"BROWSER", script->string()}});
  }
  static bool connects(const std::string& user, const std::string& password, std::string* error = nullptr) {
    auto c = pgConnect(gateway().conninfo(user, password, "pg-main", "sslmode=disable"));
    if (!c.ok()) {
      if (error) *error = c.message;
      return false;
    }
    return pgExec(c.conn.get(), "SELECT 1").value() == "1";
  }
  static HttpResponse exchange(const std::string& credential) {
    auto r = httpRequest("127.0.0.1", gateway().httpPort(), "POST", "/api/token",
                         {"Authorization: Bearer " + credential}, "");
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : HttpResponse{};
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

  static inline std::unique_ptr<TestOidcProvider> provider_;
};

TEST_F(Oidc, CodeFlowInChromiumThenPsqlWhoamiAndLogout) {
  TempDir home;
  auto login = loginInBrowser(home.path(), kAlice);
  ASSERT_TRUE(login) << login.error().message;
  ASSERT_TRUE(login->status.success()) << login->err << "\nbrowser: "
                                       << devtools::readFileOrEmpty(home.path() / "browser-report.json");
  EXPECT_NE(login->err.find("Signed in as alice@example.com"), std::string::npos) << login->err;
  // The browser is the user's once the sign-in is done: it may finish its report after the CLI has exited.
  ASSERT_TRUE(waitUntil([&] { return !devtools::readFileOrEmpty(home.path() / "browser-report.json").empty(); },
                        std::chrono::seconds(20)));
  const auto report = parse(devtools::readFileOrEmpty(home.path() / "browser-report.json"));
  EXPECT_NE(str(report, "body").find("Signed in"), std::string::npos) << "the loopback listener's page";
  EXPECT_EQ(report.at("login_error"), json::value(false));

  // The session is kept with mode 0600 in a 0700 directory; nothing of the provider's is kept.
  const auto file = home.path() / "gatehouse" / "session.json";
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(file.parent_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto whoami = run(home.path(), {"whoami", "--json"});
  ASSERT_TRUE(whoami && whoami->status.success()) << (whoami ? whoami->err : whoami.error().message);
  const auto who = parse(whoami->out);
  EXPECT_EQ(str(who, "subject"), "alice@example.com");
  EXPECT_EQ(who.at("groups"), (json::array{"dev", "eng"})) << "db-admins mapped to dev; eng passed through";
  EXPECT_EQ(str(who, "status"), "active");
  EXPECT_FALSE(str(who, "expires_at").empty());

  // psql through the gateway with the session token as the password.
  auto token = run(home.path(), {"token", "show"});
  ASSERT_TRUE(token && token->status.success());
  std::string session_token = token->out;
  while (!session_token.empty() && session_token.back() == '\n') session_token.pop_back();
  auto psql = runPsql({"-X", "-At", "-c", "SELECT 40 + 2", gateway().conninfo("alice@example.com", session_token)},
                      {{"PGCONNECT_TIMEOUT", "20"}});
  ASSERT_TRUE(psql) << psql.error().message;
  EXPECT_TRUE(psql->status.success()) << psql->err;
  EXPECT_EQ(psql->out, "42\n");

  // logout revokes the token at the gateway and forgets it.
  auto logout = run(home.path(), {"logout"});
  ASSERT_TRUE(logout && logout->status.success()) << (logout ? logout->err : logout.error().message);
  EXPECT_FALSE(std::filesystem::exists(file));
  std::string error;
  EXPECT_FALSE(connects("alice@example.com", session_token, &error)) << "revoked at logout";
  EXPECT_NE(error.find("password authentication failed"), std::string::npos) << error;
  auto after = run(home.path(), {"whoami"});
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status.code, 1);
  EXPECT_NE(after->err.find("Not signed in"), std::string::npos) << after->err;
}

TEST_F(Oidc, DeviceFlowAndGroupsDecideAccess) {
  for (const auto* user : {&kAlice, &kBob}) {
    TempDir home;
    auto spawn = userCli(home.path(), {"login", "--device"});
    spawn.stdout_to = devtools::Redirect::null();
    spawn.stderr_to = devtools::Redirect::file(home.path() / "login.err");
    auto cli = devtools::Process::spawn(spawn);
    ASSERT_TRUE(cli) << cli.error().message;
    // The CLI prints where to sign in; a person (here Chromium) does so on "another device".
    std::string url;
    ASSERT_TRUE(waitUntil(
        [&] {
          const auto text = devtools::readFileOrEmpty(home.path() / "login.err");
          const auto at = text.find("(or open ");
          if (at == std::string::npos || text.find(')', at) == std::string::npos) return false;
          url = text.substr(at + 9, text.find(')', at) - at - 9);
          return true;
        },
        std::chrono::seconds(20)))
        << devtools::readFileOrEmpty(home.path() / "login.err");
    auto browser = runBrowser({"device", "--url", url, "--username", user->username, "--password", user->password});
    ASSERT_TRUE(browser) << browser.error().message;
    auto ended = cli->wait(std::chrono::seconds(40));
    ASSERT_TRUE(ended) << ended.error().message;
    ASSERT_TRUE(ended->success()) << devtools::readFileOrEmpty(home.path() / "login.err");
    auto token = run(home.path(), {"token", "show"});
    ASSERT_TRUE(token && token->status.success());
    std::string t = token->out.substr(0, token->out.find('\n'));
    std::string error;
    if (user == &kAlice) {
      EXPECT_TRUE(connects(user->email, t, &error)) << error;
    } else {
      // bob's provider group (analyst) is not allowed on the connection.
      EXPECT_FALSE(connects(user->email, t, &error));
      EXPECT_NE(error.find("may not use connection"), std::string::npos) << error;
    }
  }
}

TEST_F(Oidc, WebSignInNeedsHttps) {
  auto r = gateway().http("/api/auth/login");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 503) << "this gateway's HTTP listener is plain HTTP: no session cookie over it";
  EXPECT_NE(r->body.find("HTTPS"), std::string::npos) << r->body;
}

TEST_F(Oidc, AWrongPasswordInTheBrowserSignsNobodyIn) {
  TempDir home;
  auto login = loginInBrowser(home.path(), OidcUser{"alice", "wrong", "", {}}, {"--timeout", "8"});
  ASSERT_TRUE(login) << login.error().message;
  EXPECT_EQ(login->status.code, 1);
  EXPECT_NE(login->err.find("no sign-in within"), std::string::npos) << login->err;
  ASSERT_TRUE(waitUntil([&] { return !devtools::readFileOrEmpty(home.path() / "browser-report.json").empty(); },
                        std::chrono::seconds(20)));
  const auto report = parse(devtools::readFileOrEmpty(home.path() / "browser-report.json"));
  EXPECT_EQ(report.at("login_error"), json::value(true));
  EXPECT_FALSE(std::filesystem::exists(home.path() / "gatehouse" / "session.json"));
}

TEST_F(Oidc, TheProvidersIdTokenIsAPasswordAndIsExchanged) {
  auto id_token = provider_->deviceFlowIdToken("gatehouse-cli", kAlice);
  ASSERT_TRUE(id_token) << id_token.error().message;
  std::string error;
  EXPECT_TRUE(connects("alice@example.com", *id_token, &error)) << error;
  EXPECT_FALSE(connects("bob@example.com", *id_token, &error)) << "for its own user only";

  // An ES256-signed token for an audience the config names is accepted too.
  auto es256 = provider_->deviceFlowIdToken("gatehouse-es256", kAlice);
  ASSERT_TRUE(es256) << es256.error().message;
  EXPECT_TRUE(connects("alice@example.com", *es256, &error)) << error;

  auto exchanged = exchange(*id_token);
  ASSERT_EQ(exchanged.status, 200) << exchanged.body;
  const auto body = parse(exchanged.body);
  EXPECT_EQ(str(body, "subject"), "alice@example.com");
  EXPECT_EQ(body.at("groups"), (json::array{"dev", "eng"}));
  EXPECT_TRUE(connects("alice@example.com", str(body, "token"), &error)) << error;
  // A session token is not renewed by presenting it.
  EXPECT_EQ(exchange(str(body, "token")).status, 401);
}

TEST_F(Oidc, ForeignTamperedUnsignedAndUnknownKeyTokensAreRefused) {
  auto good = provider_->deviceFlowIdToken("gatehouse-cli", kAlice);
  ASSERT_TRUE(good) << good.error().message;
  auto other = provider_->deviceFlowIdToken("other-app", kAlice);
  ASSERT_TRUE(other) << other.error().message;

  const auto dot1 = good->find('.');
  const auto dot2 = good->find('.', dot1 + 1);
  const auto header = *identity::jws::base64UrlDecode(good->substr(0, dot1));
  auto payload = *identity::jws::base64UrlDecode(good->substr(dot1 + 1, dot2 - dot1 - 1));
  const std::string signature = good->substr(dot2 + 1);
  auto b64 = [](const std::string& s) { return identity::jws::base64UrlEncode(s); };

  // Another group slipped into the claims, the signature kept.
  std::string forged = payload;
  forged.replace(forged.find("\"eng\""), 5, "\"dev\",\"admin\"");
  const std::string tampered = good->substr(0, dot1) + "." + b64(forged) + "." + signature;
  // alg none, no signature.
  const std::string unsigned_token = b64(R"({"alg":"none","typ":"JWT"})") + "." + b64(payload) + ".";
  // A key id the provider never published (the header is signed, so the signature no longer matches either).
  auto h = parse(header);
  h["kid"] = "made-up-kid";
  const std::string unknown_kid = b64(json::serialize(h)) + "." + good->substr(dot1 + 1);

  const std::vector<std::pair<std::string, std::string>> cases{{"another audience", *other},
                                                               {"tampered", tampered},
                                                               {"alg none", unsigned_token},
                                                               {"unknown kid", unknown_kid}};
  for (const auto& [what, token] : cases) {
    std::string error;
    EXPECT_FALSE(connects("alice@example.com", token, &error)) << what;
    EXPECT_NE(error.find("password authentication failed"), std::string::npos) << what << ": " << error;
    EXPECT_EQ(exchange(token).status, 401) << what;
  }
  EXPECT_TRUE(connects("alice@example.com", *good)) << "the gateway keeps serving";
  const auto log = devtools::readFileOrEmpty(gateway().logPath());
  EXPECT_NE(log.find("OIDC token from test-idp: token \"aud\" does not name this audience"), std::string::npos);
  EXPECT_NE(log.find("unknown key id 'made-up-kid'"), std::string::npos);
  EXPECT_NE(log.find("OIDC token from test-idp: "), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::testing
