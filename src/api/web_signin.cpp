// Web sign-in with an OpenID provider; see web_signin.h.
#include "api/web_signin.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "core/hex.h"
#include "identity/oauth.h"
#include "net/http_client.h"

namespace gatehouse::api {

namespace {

namespace http = boost::beast::http;
namespace oauth = identity::oauth;
using Request = WebSignIn::Request;
using Response = WebSignIn::Response;

int64_t nowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Response jsonError(const Request& req, http::status status, std::string message) {
  Response res{status, req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = boost::json::serialize(boost::json::object{{"error", std::move(message)}});
  res.prepare_payload();
  return res;
}

Response redirectTo(const Request& req, const std::string& location) {
  Response res{http::status::found, req.version()};
  res.set(http::field::location, location);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

std::string sha256Hex(std::string_view s) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
  return core::toHex(d.data(), d.size());
}

std::string cookie(std::string_view name, std::string_view value, int64_t max_age_s) {
  // __Host- cookies: Secure, Path=/, no Domain (RFC 6265bis §4.1.3.2), so no subdomain can set or read them.
  return std::string(name) + "=" + std::string(value) + "; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=" +
         std::to_string(max_age_s);
}

// A return_to that stays on this site: a path, never "//host" or a scheme.
std::string safeReturnTo(std::string_view v) {
  if (v.empty() || v.front() != '/' || v.starts_with("//") || v.starts_with("/\\")) return "/";
  for (char c : v)
    if (static_cast<unsigned char>(c) < 0x20 || c == '\\') return "/";
  return std::string(v);
}

// A sign-in refused: the reason to the log, a generic 401 to the browser, the binding cookie cleared.
Response refused(const Request& req, std::string_view what, const std::string& why) {
  spdlog::info("{}: sign-in refused: {}", what, why);
  auto res = jsonError(req, http::status::unauthorized, "sign-in failed");
  res.set(http::field::set_cookie, cookie(WebSignIn::kLoginCookie, "", 0));
  return res;
}

// Whether the request comes from the browser a sign-in was started in (login CSRF): its binding cookie hashes alike.
bool fromTheSameBrowser(const Request& req, const std::string& binding_hash) {
  const auto binding = cookieValue(req, WebSignIn::kLoginCookie);
  return binding && sha256Hex(*binding) == binding_hash;
}

// The entry under `key`, taken out whatever happens next: each is good for one try.
template <class Map>
std::optional<typename Map::mapped_type> takeOnce(std::mutex& mu, Map& map, const std::string& key) {
  std::lock_guard lock(mu);
  auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  auto value = std::move(it->second);
  map.erase(it);
  return value;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string queryParam(const Request& req, std::string_view name) {
  const std::string_view target(req.target().data(), req.target().size());
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return {};
  for (const auto& p : url->params())
    if (p.key == name) return p.value;
  return {};
}

}  // namespace

std::optional<std::string> cookieValue(const Request& req, std::string_view name) {
  for (auto it = req.find(http::field::cookie); it != req.end() && it->name() == http::field::cookie; ++it) {
    std::string_view header(it->value().data(), it->value().size());
    while (!header.empty()) {
      const auto semi = header.find(';');
      auto pair = header.substr(0, semi);
      header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return std::string(pair.substr(eq + 1));
    }
  }
  return std::nullopt;
}

std::string WebSignIn::redirectUri(const Request& req) const {
  if (!listener_.public_url.empty())
    return listener_.public_url.starts_with("https://") ? listener_.public_url + "/api/auth/callback" : "";
  if (!listener_.tls) return "";
  // From the Host header: a forged one only sends the provider a redirect URI it has not registered.
  const auto host = req[http::field::host];
  if (host.empty()) return "";
  return "https://" + std::string(host) + "/api/auth/callback";
}

Response WebSignIn::login(const Request& req) {
  if (req.method() != http::verb::get) return jsonError(req, http::status::method_not_allowed, "use GET");
  const auto redirect_uri = redirectUri(req);
  if (redirect_uri.empty())
    return jsonError(req, http::status::service_unavailable,
                     "web sign-in needs HTTPS: set listeners.http.tls, or an https public_url for a TLS proxy");
  const auto name = queryParam(req, "provider");
  identity::OidcProvider* provider = nullptr;
  if (!name.empty()) provider = providers_.byName(name);
  else if (providers_.all().size() == 1) provider = providers_.all().front().get();
  if (!provider) return jsonError(req, http::status::not_found, "no such OpenID provider; name one with ?provider=");
  const auto endpoint = provider->endpoint("authorization_endpoint");
  if (endpoint.empty())
    return jsonError(req, http::status::service_unavailable, "the provider cannot be reached at the moment");
  Pending p{.provider = provider->config().name,
            .nonce = oauth::randomToken(),
            .verifier = {},
            .binding_hash = {},
            .return_to = safeReturnTo(queryParam(req, "return_to")),
            .redirect_uri = redirect_uri,
            .created_s = nowS()};
  const auto pkce = oauth::makePkce();
  p.verifier = pkce.verifier;
  const auto binding = oauth::randomToken();
  p.binding_hash = sha256Hex(binding);
  const auto state = oauth::randomToken();
  const auto url = oauth::authorizationUrl({.endpoint = endpoint,
                                            .client_id = provider->config().client_id,
                                            .redirect_uri = redirect_uri,
                                            .scopes = provider->config().scopes,
                                            .state = state,
                                            .nonce = p.nonce,
                                            .code_challenge = pkce.challenge});
  {
    std::lock_guard lock(mu_);
    const int64_t now = nowS();
    std::erase_if(pending_, [&](const auto& kv) { return now - kv.second.created_s > kPendingS; });
    if (pending_.size() >= 10000)
      return jsonError(req, http::status::service_unavailable, "too many sign-ins in progress; try again shortly");
    pending_.emplace(state, std::move(p));
  }
  auto res = redirectTo(req, url);
  res.set(http::field::set_cookie, cookie(kLoginCookie, binding, kPendingS));
  return res;
}

Response WebSignIn::callback(const Request& req) {
  if (req.method() != http::verb::get) return jsonError(req, http::status::method_not_allowed, "use GET");
  const std::string_view target(req.target().data(), req.target().size());
  auto cb = oauth::parseCallback(target);
  if (!cb) return jsonError(req, http::status::bad_request, cb.error().message);
  auto pending = takeOnce(mu_, pending_, cb->state);
  auto refuse = [&](const std::string& why) { return refused(req, "web", why); };
  if (!pending || nowS() - pending->created_s > kPendingS) return refuse("unknown or expired state");
  // The state must come back to the browser that asked (login CSRF): its cookie names the same sign-in.
  if (!fromTheSameBrowser(req, pending->binding_hash))
    return refuse("the state was not issued to this browser (no or another " + std::string(kLoginCookie) + ")");
  if (!cb->error.empty()) return refuse("the provider answered " + cb->error + " " + cb->error_description);
  auto* provider = providers_.byName(pending->provider);
  if (!provider) return refuse("provider " + pending->provider + " is gone");
  const auto token_endpoint = provider->endpoint("token_endpoint");
  std::vector<std::pair<std::string, std::string>> form{{"grant_type", "authorization_code"},
                                                        {"code", cb->code},
                                                        {"redirect_uri", pending->redirect_uri},
                                                        {"code_verifier", pending->verifier}};
  net::HttpRequest token_req{.method = "POST",
                             .url = token_endpoint,
                             .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                                         {"Accept", "application/json"}},
                             .timeout = std::chrono::seconds(10)};
  const auto& client_id = provider->config().client_id;
  if (auto secret = client_secrets_.find(provider->config().name); secret != client_secrets_.end()) {
    // client_secret_basic (RFC 6749 §2.3.1): each part form-encoded, then base64.
    const auto part = [](std::string_view v) { return boost::urls::encode(v, boost::urls::unreserved_chars); };
    token_req.headers.emplace_back("Authorization",
                                   "Basic " + base64(part(client_id) + ":" + part(secret->second)));
  } else {
    form.emplace_back("client_id", client_id);
  }
  token_req.body = net::formEncode(form);
  auto answer = net::httpRequest(token_req);
  if (!answer) return refuse("the provider's token endpoint: " + answer.error().message);
  auto tokens = oauth::parseTokenResponse(answer->status, answer->body);
  if (!tokens) return refuse("the provider refused the code: " + tokens.error().message);
  auto who = provider->verify(tokens->id_token, nowS());
  if (!who) return refuse("the ID token: " + who.error().message);
  if (who->nonce != pending->nonce) return refuse("the ID token does not carry this sign-in's nonce");
  return startSession(req, {.subject = who->username, .groups = who->groups, .source = "oidc-web:" + who->provider},
                      pending->return_to);
}

Response WebSignIn::startSession(const Request& req, const identity::SessionIdentity& who,
                                 const std::string& return_to) {
  auto issued = tokens_.issue(who, nowS() * 1'000'000);
  if (!issued) {
    spdlog::error("web sign-in: cannot issue a session token: {}", issued.error().message);
    return jsonError(req, http::status::internal_server_error, "cannot issue a session");
  }
  spdlog::info("web sign-in: {} (groups {}) signed in with {}; session token {}", who.subject,
               fmt::join(who.groups, ","), who.source, issued->id);
  auto res = redirectTo(req, return_to);
  res.insert(http::field::set_cookie, cookie(kSessionCookie, issued->token, tokens_.ttl().count()));
  res.insert(http::field::set_cookie, cookie(kLoginCookie, "", 0));
  return res;
}

Response WebSignIn::logout(const Request& req) {
  if (req.method() != http::verb::post) return jsonError(req, http::status::method_not_allowed, "use POST");
  if (req.find(kCsrfHeader) == req.end())
    return jsonError(req, http::status::forbidden, "send the " + std::string(kCsrfHeader) + " header");
  Response res{http::status::ok, req.version()};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  std::string revoked;
  if (auto token = cookieValue(req, kSessionCookie)) {
    if (auto verified = tokens_.verify(*token, nowS() * 1'000'000)) {
      if (auto r = store_.revokeSessionToken(verified->id); !r)
        return jsonError(req, http::status::service_unavailable, "cannot revoke: " + r.error().message);
      revoked = verified->id;
      spdlog::info("web sign-out: session token {} of {} revoked", verified->id, verified->identity.subject);
    }
  }
  res.set(http::field::set_cookie, cookie(kSessionCookie, "", 0));
  res.body() = boost::json::serialize(boost::json::object{{"signed_out", true}, {"revoked", revoked}});
  res.prepare_payload();
  return res;
}

// ---- SAML ----

namespace {

constexpr int64_t kFinishS = 60;  // the redirect from the ACS to /finish is immediate

// A form field of an application/x-www-form-urlencoded body.
std::string formField(std::string_view body, std::string_view name) {
  const std::string target = "/?" + std::string(body);  // the view parsed below refers to it
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return {};
  for (const auto& p : url->params())
    if (p.key == name) return p.value;
  return {};
}

}  // namespace

Response WebSignIn::saml(const Request& req, std::string_view name, std::string_view action) {
  const auto it = saml_.find(name);
  if (it == saml_.end()) return jsonError(req, http::status::not_found, "no SAML identity provider " + std::string(name));
  auto& sp = *it->second;
  const std::string provider(name);
  if (action == "metadata") {
    if (req.method() != http::verb::get) return jsonError(req, http::status::method_not_allowed, "use GET");
    Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "application/samlmetadata+xml");
    res.keep_alive(req.keep_alive());
    res.body() = sp.metadata();
    res.prepare_payload();
    return res;
  }
  if (action == "login") return samlLogin(req, provider, sp);
  if (action == "acs") return samlAcs(req, provider, sp);
  if (action == "finish") return samlFinish(req);
  return jsonError(req, http::status::not_found, "no such endpoint");
}

Response WebSignIn::samlLogin(const Request& req, const std::string& name, saml::ServiceProvider& sp) {
  if (req.method() != http::verb::get) return jsonError(req, http::status::method_not_allowed, "use GET");
  const auto relay = oauth::randomToken(24);
  auto url = sp.loginUrl(relay, nowS());
  if (!url) {
    spdlog::error("saml {}: cannot build an AuthnRequest: {}", name, url.error().message);
    return jsonError(req, http::status::internal_server_error, "cannot start the sign-in");
  }
  const auto binding = oauth::randomToken();
  {
    std::lock_guard lock(mu_);
    const int64_t now = nowS();
    std::erase_if(saml_pending_, [&](const auto& kv) { return now - kv.second.created_s > kPendingS; });
    if (saml_pending_.size() >= 10000)
      return jsonError(req, http::status::service_unavailable, "too many sign-ins in progress; try again shortly");
    saml_pending_[relay] = {.provider = name,
                            .binding_hash = sha256Hex(binding),
                            .return_to = safeReturnTo(queryParam(req, "return_to")),
                            .created_s = now};
  }
  auto res = redirectTo(req, *url);
  res.set(http::field::set_cookie, cookie(kLoginCookie, binding, kPendingS));
  return res;
}

Response WebSignIn::samlAcs(const Request& req, const std::string& name, saml::ServiceProvider& sp) {
  if (req.method() != http::verb::post) return jsonError(req, http::status::method_not_allowed, "use POST");
  auto refuse = [&](const std::string& why) { return refused(req, "saml " + name, why); };
  auto pending = takeOnce(mu_, saml_pending_, formField(req.body(), "RelayState"));
  if (!pending || pending->provider != name || nowS() - pending->created_s > kPendingS)
    return refuse("no sign-in of this gateway's with that RelayState (unsolicited responses are not accepted)");
  auto who = sp.consume(formField(req.body(), "SAMLResponse"), nowS());
  if (!who) return refuse(who.error().message);
  const auto code = oauth::randomToken();
  {
    std::lock_guard lock(mu_);
    const int64_t now = nowS();
    std::erase_if(saml_finish_, [&](const auto& kv) { return now - kv.second.created_s > kFinishS; });
    saml_finish_[code] = {.binding_hash = pending->binding_hash,
                          .return_to = pending->return_to,
                          .identity = {.subject = who->username, .groups = who->groups, .source = "saml:" + name},
                          .created_s = now};
  }
  Response res{http::status::see_other, req.version()};
  res.set(http::field::location, "/api/auth/saml/" + name + "/finish?code=" + code);
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.prepare_payload();
  return res;
}

Response WebSignIn::samlFinish(const Request& req) {
  if (req.method() != http::verb::get) return jsonError(req, http::status::method_not_allowed, "use GET");
  auto done = takeOnce(mu_, saml_finish_, queryParam(req, "code"));
  if (!done || nowS() - done->created_s > kFinishS) return refused(req, "saml", "unknown or expired code");
  if (!fromTheSameBrowser(req, done->binding_hash))
    return refused(req, "saml",
                   "the sign-in was not started in this browser (no or another " + std::string(kLoginCookie) + ")");
  return startSession(req, done->identity, done->return_to);
}

}  // namespace gatehouse::api
