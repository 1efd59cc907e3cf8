// `gatehouse login`, `logout`, `whoami`, `token show`; see login_commands.h.
#include "cli/login_commands.h"

#include <sys/stat.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <thread>

#include "core/files.h"
#include "devtools/process.h"
#include "identity/oauth.h"
#include "net/asio.h"
#include "net/http_client.h"

namespace gatehouse::cli {

namespace {

namespace json = boost::json;
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = net::asio;
namespace oauth = identity::oauth;

int64_t nowS() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string envOr(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::move(fallback);
}

std::string stringAt(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::vector<std::string> stringsAt(const json::object& o, std::string_view name) {
  std::vector<std::string> out;
  if (const auto* a = o.if_contains(name); a && a->is_array())
    for (const auto& v : a->as_array())
      if (v.is_string()) out.emplace_back(v.as_string());
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

Result<json::object> jsonObject(const std::string& body, std::string_view what) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return makeError(std::string(what) + " answered with something that is not a JSON object");
  return std::move(v.as_object());
}

// A request to the gateway's API.
Result<net::HttpResponse> gatewayCall(const std::string& base, const std::filesystem::path& ca, std::string method,
                                      std::string path, std::string bearer = {}) {
  net::HttpRequest req{.method = std::move(method), .url = base + path, .ca_file = ca};
  req.headers.emplace_back("Accept", "application/json");
  if (!bearer.empty()) req.headers.emplace_back("Authorization", "Bearer " + bearer);
  return net::httpRequest(req);
}

std::string trimSlash(std::string url) {
  while (url.ends_with('/')) url.pop_back();
  return url;
}

// ---- the stored session ----

struct StoredSession {
  std::string gateway;
  std::string ca_file;
  std::string provider;
  std::string token;
  std::string id;
  std::string subject;
  std::vector<std::string> groups;
  std::string expires_at;  // ISO 8601, as the gateway said
  int64_t expires_at_s = 0;
};

Result<std::optional<StoredSession>> loadSession() {
  const auto path = sessionFile();
  std::ifstream in(path);
  if (!in) return std::optional<StoredSession>();
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto o = jsonObject(text, path.string());
  if (!o) return makeError(path.string() + " is damaged; `gatehouse logout` removes it");
  StoredSession s;
  s.gateway = stringAt(*o, "gateway");
  s.ca_file = stringAt(*o, "ca_file");
  s.provider = stringAt(*o, "provider");
  s.token = stringAt(*o, "token");
  s.id = stringAt(*o, "id");
  s.subject = stringAt(*o, "subject");
  s.groups = stringsAt(*o, "groups");
  s.expires_at = stringAt(*o, "expires_at");
  if (const auto* e = o->if_contains("expires_at_s"); e && e->is_int64()) s.expires_at_s = e->as_int64();
  if (s.token.empty() || s.gateway.empty()) return makeError(path.string() + " holds no session token");
  return std::optional<StoredSession>(std::move(s));
}

Result<void> saveSession(const StoredSession& s) {
  const auto path = sessionFile();
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return makeError("cannot create " + path.parent_path().string() + ": " + ec.message());
  ::chmod(path.parent_path().c_str(), 0700);
  json::array groups;
  for (const auto& g : s.groups) groups.emplace_back(g);
  const json::object o{{"gateway", s.gateway},   {"ca_file", s.ca_file},       {"provider", s.provider},
                       {"token", s.token},       {"id", s.id},                 {"subject", s.subject},
                       {"groups", groups},       {"expires_at", s.expires_at}, {"expires_at_s", s.expires_at_s}};
  return core::writeFileAtomically(path, json::serialize(o) + "\n", 0600);
}

// ---- the browser and the loopback redirect ----

// Opens `url` in the user's browser: $BROWSER when set, else xdg-open on a desktop. The child is returned so that
// the caller can let it finish; none when there is no browser to open.
std::optional<devtools::Process> openBrowser(const std::string& url) {
  std::string browser = envOr("BROWSER", "");
  if (browser.empty()) {
    if (!std::getenv("DISPLAY") && !std::getenv("WAYLAND_DISPLAY")) return std::nullopt;
    if (!devtools::findExecutable("xdg-open")) return std::nullopt;
    browser = "xdg-open";
  }
  browser = browser.substr(0, browser.find(':'));  // $BROWSER may list several, the first is tried
  auto p = devtools::Process::spawn({.argv = {browser, url},
                                     .stdout_to = devtools::Redirect::null(),
                                     .stderr_to = devtools::Redirect::inherit()});
  if (!p) {
    std::cerr << "(could not start the browser " << browser << ": " << p.error().message << ")\n";
    return std::nullopt;
  }
  return std::move(*p);
}

constexpr std::string_view kDonePage =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Gatehouse</title></head><body>"
    "<h1>Signed in</h1><p>You can close this window and go back to the terminal.</p></body></html>";
constexpr std::string_view kFailedPage =
    "<!doctype html><html><head><meta charset=\"utf-8\"><title>Gatehouse</title></head><body>"
    "<h1>Sign-in failed</h1><p>See the terminal for the reason.</p></body></html>";

// Listens on 127.0.0.1 (a port the system picks) for the provider's redirect to /callback. RFC 8252 §7.3: a
// native app's loopback redirect; the port is free to choose because the provider matches it loosely.
class LoopbackRedirect {
 public:
  Result<void> open() {
    net::error_code ec;
    acceptor_.open(net::tcp::v4(), ec);
    if (!ec) acceptor_.bind({asio::ip::address_v4::loopback(), 0}, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return makeError("cannot listen on 127.0.0.1 for the redirect: " + ec.message());
    return {};
  }
  std::string redirectUri() const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/callback";
  }
  // Waits for the redirect; other requests (a browser's /favicon.ico) get a 404.
  Result<oauth::Callback> wait(std::chrono::seconds timeout, const std::string& expected_state) {
    std::optional<Result<oauth::Callback>> result;
    asio::co_spawn(io_, serve(expected_state, result), asio::detached);
    io_.run_for(timeout);
    if (!result) return makeError("no sign-in within " + std::to_string(timeout.count()) + " s");
    return std::move(*result);
  }

 private:
  net::awaitable<void> serve(std::string expected_state, std::optional<Result<oauth::Callback>>& result) {
    while (!result) {
      auto socket = co_await acceptor_.async_accept(net::use_awaitable);
      beast::tcp_stream stream(std::move(socket));
      stream.expires_after(std::chrono::seconds(10));
      beast::flat_buffer buffer;
      http::request<http::string_body> req;
      net::error_code ec;
      co_await http::async_read(stream, buffer, req, asio::redirect_error(net::use_awaitable, ec));
      if (ec) continue;
      const std::string_view target(req.target().data(), req.target().size());
      http::response<http::string_body> res{http::status::not_found, 11};
      res.set(http::field::content_type, "text/html; charset=utf-8");
      res.set(http::field::cache_control, "no-store");
      res.keep_alive(false);
      if (target.starts_with("/callback")) {
        auto cb = oauth::parseCallback(target);
        if (cb && cb->state != expected_state) cb = makeError("the redirect's state does not match this sign-in");
        if (cb && !cb->error.empty())
          cb = makeError("the provider refused: " + cb->error +
                         (cb->error_description.empty() ? "" : " (" + cb->error_description + ")"));
        res.result(cb ? http::status::ok : http::status::bad_request);
        res.body() = std::string(cb ? kDonePage : kFailedPage);
        result = std::move(cb);
      } else {
        res.body() = "not found";
      }
      res.prepare_payload();
      co_await http::async_write(stream, res, asio::redirect_error(net::use_awaitable, ec));
      stream.socket().shutdown(net::tcp::socket::shutdown_both, ec);
    }
    io_.stop();
  }

  asio::io_context io_{1};
  net::tcp::acceptor acceptor_{io_};
};

// ---- the flows ----

struct Provider {
  std::string name;
  std::string issuer;
  std::string client_id;
  std::vector<std::string> scopes;
  json::object discovery;
};

Result<Provider> findProvider(const LoginOptions& o, const std::string& gateway) {
  auto res = gatewayCall(gateway, o.ca_file, "GET", "/api/auth/providers");
  if (!res) return makeError("cannot reach the gateway at " + gateway + ": " + res.error().message);
  if (res->status != 200) return makeError("the gateway answered HTTP " + std::to_string(res->status));
  auto body = jsonObject(res->body, "the gateway");
  if (!body) return body.error();
  const auto* list = body->if_contains("oidc");
  std::vector<Provider> found;
  if (list && list->is_array())
    for (const auto& p : list->as_array())
      if (p.is_object())
        found.push_back({.name = stringAt(p.as_object(), "name"),
                         .issuer = stringAt(p.as_object(), "issuer"),
                         .client_id = stringAt(p.as_object(), "client_id"),
                         .scopes = stringsAt(p.as_object(), "scopes")});
  if (found.empty()) return makeError("the gateway has no OpenID provider configured (identity.oidc)");
  const Provider* chosen = nullptr;
  for (const auto& p : found)
    if (o.provider.empty() ? found.size() == 1 : p.name == o.provider) chosen = &p;
  if (!chosen) {
    std::string names;
    for (const auto& p : found) names += (names.empty() ? "" : ", ") + p.name;
    return makeError(o.provider.empty() ? "several providers (" + names + "): choose one with --provider"
                                        : "no provider '" + o.provider + "' (the gateway has: " + names + ")");
  }
  Provider p = *chosen;
  auto doc = net::httpGetBody(trimSlash(p.issuer) + "/.well-known/openid-configuration", std::chrono::seconds(10));
  if (!doc) return makeError("the provider's discovery document: " + doc.error().message);
  auto discovery = jsonObject(*doc, "the provider's discovery document");
  if (!discovery) return discovery.error();
  if (stringAt(*discovery, "issuer") != p.issuer) return makeError("the provider's discovery names another issuer");
  p.discovery = std::move(*discovery);
  return p;
}

Result<oauth::TokenResponse> tokenRequest(const std::string& endpoint,
                                          const std::vector<std::pair<std::string, std::string>>& form) {
  auto res = net::httpRequest({.method = "POST",
                               .url = endpoint,
                               .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                                           {"Accept", "application/json"}},
                               .body = net::formEncode(form),
                               .timeout = std::chrono::seconds(15)});
  if (!res) return makeError("the token endpoint: " + res.error().message);
  return oauth::parseTokenResponse(res->status, res->body);
}

Result<std::string> codeFlow(const LoginOptions& o, const Provider& p) {
  const auto auth_endpoint = stringAt(p.discovery, "authorization_endpoint");
  const auto token_endpoint = stringAt(p.discovery, "token_endpoint");
  if (auth_endpoint.empty() || token_endpoint.empty())
    return makeError("the provider's discovery names no authorization or token endpoint");
  LoopbackRedirect redirect;
  if (auto r = redirect.open(); !r) return r.error();
  const auto pkce = oauth::makePkce();
  const auto state = oauth::randomToken();
  const auto nonce = oauth::randomToken();
  const auto url = oauth::authorizationUrl({.endpoint = auth_endpoint,
                                            .client_id = p.client_id,
                                            .redirect_uri = redirect.redirectUri(),
                                            .scopes = p.scopes,
                                            .state = state,
                                            .nonce = nonce,
                                            .code_challenge = pkce.challenge});
  std::cerr << "Sign in with " << p.name << " in your browser. If it does not open, visit:\n\n  " << url << "\n\n";
  std::optional<devtools::Process> browser;
  if (!o.no_browser) browser = openBrowser(url);
  auto callback = redirect.wait(o.timeout, state);
  // xdg-open returns at once and is reaped here; a browser started itself keeps running: it is the user's now.
  if (browser && !browser->wait(std::chrono::seconds(2))) browser->detach();
  if (!callback) return callback.error();
  auto tokens = tokenRequest(token_endpoint, {{"grant_type", "authorization_code"},
                                              {"code", callback->code},
                                              {"redirect_uri", redirect.redirectUri()},
                                              {"client_id", p.client_id},
                                              {"code_verifier", pkce.verifier}});
  if (!tokens) return makeError("the provider refused the code: " + tokens.error().message);
  // The ID token must answer this request (OpenID Connect Core §3.1.3.7): an injected one is not passed on.
  auto got_nonce = oauth::unverifiedNonce(tokens->id_token);
  if (!got_nonce || *got_nonce != nonce) return makeError("the ID token does not carry this sign-in's nonce");
  return tokens->id_token;
}

Result<std::string> deviceFlow(const LoginOptions& o, const Provider& p) {
  const auto device_endpoint = stringAt(p.discovery, "device_authorization_endpoint");
  const auto token_endpoint = stringAt(p.discovery, "token_endpoint");
  if (device_endpoint.empty()) return makeError("the provider does not offer the device flow");
  std::string scope;
  for (const auto& s : p.scopes) scope += (scope.empty() ? "" : " ") + s;
  auto res = net::httpRequest({.method = "POST",
                               .url = device_endpoint,
                               .headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                                           {"Accept", "application/json"}},
                               .body = net::formEncode({{"client_id", p.client_id}, {"scope", scope}}),
                               .timeout = std::chrono::seconds(15)});
  if (!res) return makeError("the device authorization endpoint: " + res.error().message);
  auto device = oauth::parseDeviceAuthorization(res->status, res->body);
  if (!device) return makeError("the provider refused the device flow: " + device.error().message);
  std::cerr << "To sign in, open " << device->verification_uri << " on any device and enter the code "
            << device->user_code << "\n";
  if (!device->verification_uri_complete.empty())
    std::cerr << "(or open " << device->verification_uri_complete << ")\n";
  std::cerr << "Waiting for you to sign in...\n";
  const int64_t until = nowS() + std::min<int64_t>(device->expires_in, o.timeout.count());
  int64_t interval = device->interval;
  while (nowS() < until) {
    std::this_thread::sleep_for(std::chrono::seconds(interval));
    auto tokens = tokenRequest(token_endpoint, {{"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
                                                {"device_code", device->device_code},
                                                {"client_id", p.client_id}});
    if (tokens) return tokens->id_token;
    const auto code = oauth::errorCode(tokens.error());
    if (code == "authorization_pending") continue;
    if (code == "slow_down") {
      interval += 5;  // RFC 8628 §3.5
      continue;
    }
    return makeError("the provider ended the sign-in: " + tokens.error().message);
  }
  return makeError("the code expired before the sign-in was finished");
}

}  // namespace

std::filesystem::path sessionFile() {
  if (const char* d = std::getenv("GATEHOUSE_CONFIG_DIR"); d && *d) return std::filesystem::path(d) / "session.json";
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
    return std::filesystem::path(x) / "gatehouse" / "session.json";
  return std::filesystem::path(envOr("HOME", ".")) / ".config" / "gatehouse" / "session.json";
}

int runLogin(const LoginOptions& o) {
  const auto gateway = trimSlash(o.gateway.empty() ? envOr("GATEHOUSE_URL", "http://127.0.0.1:18080") : o.gateway);
  auto provider = findProvider(o, gateway);
  if (!provider) {
    std::cerr << "error: " << provider.error().message << '\n';
    return 1;
  }
  auto id_token = o.device ? deviceFlow(o, *provider) : codeFlow(o, *provider);
  if (!id_token) {
    std::cerr << "error: sign-in failed: " << id_token.error().message << '\n';
    return 1;
  }
  // The provider's token is exchanged at once for the gateway's short-lived session token; only that is kept.
  auto res = gatewayCall(gateway, o.ca_file, "POST", "/api/token", *id_token);
  if (!res) {
    std::cerr << "error: cannot reach the gateway: " << res.error().message << '\n';
    return 1;
  }
  if (res->status != 200) {
    std::cerr << "error: the gateway refused the sign-in (HTTP " << res->status << "); its log says why\n";
    return 1;
  }
  auto body = jsonObject(res->body, "the gateway");
  if (!body) {
    std::cerr << "error: " << body.error().message << '\n';
    return 1;
  }
  StoredSession s{.gateway = gateway,
                  .ca_file = o.ca_file.empty() ? std::string() : std::filesystem::absolute(o.ca_file).string(),
                  .provider = provider->name,
                  .token = stringAt(*body, "token"),
                  .id = stringAt(*body, "id"),
                  .subject = stringAt(*body, "subject"),
                  .groups = stringsAt(*body, "groups"),
                  .expires_at = stringAt(*body, "expires_at"),
                  .expires_at_s = 0};
  if (const auto* e = body->if_contains("expires_in"); e && e->is_int64()) s.expires_at_s = nowS() + e->as_int64();
  if (s.token.empty()) {
    std::cerr << "error: the gateway's answer holds no token\n";
    return 1;
  }
  if (auto r = saveSession(s); !r) {
    std::cerr << "error: cannot store the session: " << r.error().message << '\n';
    return 1;
  }
  std::cerr << "Signed in as " << s.subject << " (groups: " << joined(s.groups) << ") until " << s.expires_at
            << ".\nConnect with: PGPASSWORD=$(gatehouse token show) psql \"host=... user=" << s.subject
            << " dbname=CONNECTION\"\n";
  return 0;
}

int runLogout() {
  auto s = loadSession();
  if (!s) {
    std::error_code ec;
    std::filesystem::remove(sessionFile(), ec);
    std::cerr << "Removed " << sessionFile().string() << ".\n";
    return 0;
  }
  if (!*s) {
    std::cerr << "Not signed in.\n";
    return 0;
  }
  const auto& session = **s;
  auto res = gatewayCall(session.gateway, session.ca_file, "POST", "/api/token/revoke", session.token);
  int rc = 0;
  if (!res || (res->status != 200 && res->status != 401)) {
    // The token is removed anyway; it still expires on its own at expires_at.
    std::cerr << "warning: the gateway did not revoke the session token ("
              << (res ? "HTTP " + std::to_string(res->status) : res.error().message) << "); it expires at "
              << session.expires_at << "\n";
    rc = 1;
  }
  std::error_code ec;
  std::filesystem::remove(sessionFile(), ec);
  if (ec) {
    std::cerr << "error: cannot remove " << sessionFile().string() << ": " << ec.message() << '\n';
    return 1;
  }
  std::cerr << "Signed out " << session.subject << (rc == 0 ? " (session token revoked)" : "") << ".\n";
  return rc;
}

int runWhoami(bool as_json) {
  auto s = loadSession();
  if (!s) {
    std::cerr << "error: " << s.error().message << '\n';
    return 1;
  }
  if (!*s) {
    std::cerr << "Not signed in: run `gatehouse login`.\n";
    return 1;
  }
  const auto& session = **s;
  if (session.expires_at_s != 0 && session.expires_at_s <= nowS()) {
    std::cerr << "The session of " << session.subject << " expired at " << session.expires_at
              << ": run `gatehouse login`.\n";
    return 1;
  }
  // The gateway has the last word: the token may have been revoked.
  auto res = gatewayCall(session.gateway, session.ca_file, "GET", "/api/whoami", session.token);
  std::string status = "active";
  if (!res) status = "unverified (gateway unreachable: " + res.error().message + ")";
  else if (res->status == 401) {
    std::cerr << "The gateway refused the session token of " << session.subject
              << " (revoked or expired): run `gatehouse login`.\n";
    return 1;
  } else if (res->status != 200) {
    status = "unverified (HTTP " + std::to_string(res->status) + ")";
  }
  if (as_json) {
    json::array groups;
    for (const auto& g : session.groups) groups.emplace_back(g);
    std::cout << json::serialize(json::object{{"subject", session.subject},
                                              {"groups", groups},
                                              {"expires_at", session.expires_at},
                                              {"token_id", session.id},
                                              {"provider", session.provider},
                                              {"gateway", session.gateway},
                                              {"status", status}})
              << '\n';
  } else {
    std::cout << "subject:    " << session.subject << "\ngroups:     " << joined(session.groups)
              << "\nexpires at: " << session.expires_at << "\ntoken id:   " << session.id
              << "\nprovider:   " << session.provider << "\ngateway:    " << session.gateway
              << "\nstatus:     " << status << '\n';
  }
  return 0;
}

int runTokenShow() {
  auto s = loadSession();
  if (!s || !*s) {
    std::cerr << (s ? "Not signed in: run `gatehouse login`." : "error: " + s.error().message) << '\n';
    return 1;
  }
  if ((*s)->expires_at_s != 0 && (*s)->expires_at_s <= nowS()) {
    std::cerr << "The session expired at " << (*s)->expires_at << ": run `gatehouse login`.\n";
    return 1;
  }
  std::cout << (*s)->token << '\n';
  return 0;
}

}  // namespace gatehouse::cli
