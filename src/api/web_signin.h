// Web sign-in: people sign in to the gateway's web API and UI with a configured OpenID provider, by the
// authorization code flow (PKCE, state bound to the browser by a cookie, nonce), and get a cookie session holding a
// Gatehouse session token: `__Host-gh_session`, Secure, HttpOnly, SameSite=Lax, Path=/, as long-lived as the token.
//
//   GET  /api/auth/login?provider=NAME&return_to=/path  -> 302 to the provider (sets __Host-gh_login)
//   GET  /api/auth/callback?code=…&state=…              -> 302 to return_to (sets __Host-gh_session)
//   POST /api/auth/logout                               -> revokes the token, clears the cookie
//
// SAML 2.0 (Web Browser SSO, the gateway as service provider; one per identity.saml entry NAME):
//   GET  /api/auth/saml/NAME/metadata        our SP metadata, for the IdP's admin
//   GET  /api/auth/saml/NAME/login?return_to  -> 302 to the IdP with an AuthnRequest (sets __Host-gh_login)
//   POST /api/auth/saml/NAME/acs              the IdP's Response (HTTP-POST) -> 303 to …/finish?code=
//   GET  /api/auth/saml/NAME/finish?code=     -> 302 to return_to (sets __Host-gh_session)
// The detour through /finish: a browser does not store a SameSite=Lax cookie from the answer to a cross-site POST
// (the IdP's form), nor send the binding cookie with it; a top-level GET it does. Unsolicited responses (no
// RelayState this gateway issued) are refused: they could sign a browser in as someone else.
//
// Secure cookies need HTTPS: without listeners.http.tls or an https public_url (a TLS proxy in front), sign-in
// answers 503 rather than hand a session to plain HTTP. A cookie session may call the API; requests other than
// GET must then carry an X-Gatehouse-CSRF header, which a cross-site form cannot send (SameSite=Lax already keeps
// the cookie off cross-site POSTs; this is the second lock).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "core/config.h"
#include "identity/oidc.h"
#include "identity/session_tokens.h"
#include "saml/saml_sp.h"
#include "store/store.h"

namespace gatehouse::api {

class WebSignIn {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  // client_secrets: each provider's resolved client secret, by provider name (absent: a public client).
  WebSignIn(const core::Listener& listener, identity::OidcProviders& providers, identity::SessionTokens& tokens,
            store::Store& store, std::map<std::string, std::string> client_secrets)
      : listener_(listener), providers_(providers), tokens_(tokens), store_(store),
        client_secrets_(std::move(client_secrets)) {}

  Response login(const Request& req);
  Response callback(const Request& req);
  Response logout(const Request& req);

  // A SAML identity provider's service provider, by its name in the config.
  void addSaml(std::string name, std::unique_ptr<saml::ServiceProvider> sp) { saml_[std::move(name)] = std::move(sp); }
  bool hasSaml() const { return !saml_.empty(); }
  // /api/auth/saml/NAME/ACTION.
  Response saml(const Request& req, std::string_view name, std::string_view action);

  static constexpr std::string_view kSessionCookie = "__Host-gh_session";
  static constexpr std::string_view kLoginCookie = "__Host-gh_login";
  static constexpr std::string_view kCsrfHeader = "X-Gatehouse-CSRF";
  // How long a person has between being sent to the provider and coming back.
  static constexpr int64_t kPendingS = 600;

 private:
  Response samlLogin(const Request& req, const std::string& name, saml::ServiceProvider& sp);
  Response samlAcs(const Request& req, const std::string& name, saml::ServiceProvider& sp);
  Response samlFinish(const Request& req);
  // Issues the session token and answers with the cookie and a redirect to return_to.
  Response startSession(const Request& req, const identity::SessionIdentity& who, const std::string& return_to);

  struct SamlPending {  // by RelayState
    std::string provider;
    std::string binding_hash;
    std::string return_to;
    int64_t created_s = 0;
  };
  struct SamlFinish {  // by the one-time code of the redirect to /finish
    std::string binding_hash;
    std::string return_to;
    identity::SessionIdentity identity;
    int64_t created_s = 0;
  };

  struct Pending {
    std::string provider;
    std::string nonce;
    std::string verifier;      // PKCE
    std::string binding_hash;  // SHA-256 of the __Host-gh_login cookie's value
    std::string return_to;
    std::string redirect_uri;
    int64_t created_s = 0;
  };
  // The redirect URI the provider sends people back to; empty when sign-in cannot be offered securely.
  std::string redirectUri(const Request& req) const;

  const core::Listener& listener_;
  identity::OidcProviders& providers_;
  identity::SessionTokens& tokens_;
  store::Store& store_;
  std::map<std::string, std::string> client_secrets_;
  std::mutex mu_;
  std::map<std::string, Pending> pending_;  // by state
  std::map<std::string, std::unique_ptr<saml::ServiceProvider>, std::less<>> saml_;
  std::map<std::string, SamlPending> saml_pending_;
  std::map<std::string, SamlFinish> saml_finish_;
};

// A cookie's value from the request's Cookie headers; nullopt when absent.
std::optional<std::string> cookieValue(const boost::beast::http::request<boost::beast::http::string_body>& req,
                                       std::string_view name);

}  // namespace gatehouse::api
