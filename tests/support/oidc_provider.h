// A real OpenID provider for the tests: the npm package oidc-provider, run by tests/oidc/provider.mjs on
// 127.0.0.1 with the clients and users a test gives it; and a real headless Chromium (tests/oidc/browser.mjs,
// playwright-core) to sign in through it. Both need `npm ci` in tests/oidc (scripts/test runs it).
#pragma once

#include <boost/json.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "devtools/process.h"

namespace gatehouse::testing {

struct OidcClient {
  std::string client_id;
  std::string client_secret;  // empty: a public client
  std::vector<std::string> redirect_uris;
  std::vector<std::string> grant_types = {"authorization_code", "urn:ietf:params:oauth:grant-type:device_code"};
  std::string token_endpoint_auth_method = "none";
  std::string application_type = "native";
  std::string id_token_signed_response_alg = "RS256";
};

struct OidcUser {
  std::string username;
  std::string password;
  std::string email;
  std::vector<std::string> groups;
};

// The suites' people: alice's provider group db-admins is mapped to dev (the connection's group); bob's is not.
inline const OidcUser kAlice{"alice", "alice-pw-1", "alice@example.com", {"db-admins", "eng"}};
inline const OidcUser kBob{"bob", "bob-pw-2", "bob@example.com", {"analyst"}};

class TestOidcProvider {
 public:
  static Result<std::unique_ptr<TestOidcProvider>> start(const std::vector<OidcClient>& clients,
                                                         const std::vector<OidcUser>& users);
  ~TestOidcProvider();
  const std::string& issuer() const { return issuer_; }
  uint16_t port() const { return port_; }
  std::string logTail() const;

  // The device flow for `client_id`, signed in as `user` in Chromium; the ID token.
  Result<std::string> deviceFlowIdToken(const std::string& client_id, const OidcUser& user,
                                        const std::string& scope = "openid email groups") const;

 private:
  TestOidcProvider() = default;
  std::filesystem::path dir_;
  std::string issuer_;
  uint16_t port_ = 0;
  std::optional<devtools::Process> process_;
};

// tests/oidc, where the tools are; an error naming `npm ci` when they are not installed.
Result<std::filesystem::path> oidcToolsDir();

// `node browser.mjs ARGS...`: its JSON report.
Result<boost::json::object> runBrowser(const std::vector<std::string>& args);

// Writes an executable script usable as $BROWSER: it signs in as `user` with the URL it is given, waiting for
// the redirect to the URL's redirect_uri (a CLI's loopback listener). Its report goes to `report`.
Result<std::filesystem::path> writeBrowserScript(const std::filesystem::path& dir, const OidcUser& user,
                                                 const std::filesystem::path& report);

}  // namespace gatehouse::testing
