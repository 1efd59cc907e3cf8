// HttpServer: Beast over Asio coroutines, one coroutine per connection, keep-alive, bounded request sizes.
#include "api/http_server.h"

#include <pthread.h>

#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <variant>

#include "api/review_json.h"
#include "api/web_signin.h"
#include "core/time_format.h"
#include "identity/service_accounts.h"
#include "identity/tokens.h"

namespace gatehouse::api {
namespace {

namespace asio = net::asio;
namespace beast = boost::beast;

Response json(http::status status, const boost::json::value& body, unsigned version, bool keep_alive) {
  Response res{status, version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(keep_alive);
  res.body() = boost::json::serialize(body);
  res.prepare_payload();
  return res;
}

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// How long a request waits for an OIDC provider's keys when its token names a key id not fetched yet.
constexpr std::chrono::milliseconds kKeyWait{5000};

Response unauthorized(const Request& req, std::string why) {
  auto res = json(http::status::unauthorized, {{"error", std::move(why)}}, req.version(), req.keep_alive());
  res.set(http::field::www_authenticate, "Bearer");
  return res;
}

// What follows "Bearer " in the Authorization header; nullopt when there is none.
std::optional<std::string_view> bearer(const Request& req) {
  const auto header = req[http::field::authorization];
  const std::string_view value(header.data(), header.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (!value.starts_with(kBearer)) return std::nullopt;
  return value.substr(kBearer.size());
}

// The caller, from `Authorization: Bearer TOKEN` (an access token, a session token or an OIDC token), else from
// the web sign-in's session cookie (then a request other than GET must carry the CSRF header); else the 401 to send.
std::variant<store::TokenInfo, Response> caller(const Request& req, const ApiContext& ctx) {
  std::optional<std::string> presented;
  if (auto b = bearer(req)) presented = std::string(*b);
  else if (auto c = cookieValue(req, WebSignIn::kSessionCookie)) {
    if (req.method() != http::verb::get && req.method() != http::verb::head &&
        req.find(WebSignIn::kCsrfHeader) == req.end())
      return json(http::status::forbidden,
                  {{"error", "a cookie session must send the " + std::string(WebSignIn::kCsrfHeader) + " header"}},
                  req.version(), req.keep_alive());
    // Only a session token can be a cookie: nothing else is ever set as one.
    if (!identity::looksLikeJwt(*c)) return unauthorized(req, "sign in again");
    presented = std::move(*c);
  }
  if (!presented) return unauthorized(req, "send your access token as Authorization: Bearer TOKEN, or sign in");
  auto who = identity::identifyPresentedWaiting(*ctx.store, ctx.session_tokens, ctx.oidc, *presented, kKeyWait);
  if (!who) {
    spdlog::info("api: token refused: {}", who.error().message);
    return unauthorized(req, "the token was refused");
  }
  return std::move(*who);
}

bool mayView(const store::ReviewRow& r, const store::TokenInfo& who) {
  if (r.request.requester == who.user) return true;
  const auto& approvers = r.request.approver_groups;
  return std::any_of(who.groups.begin(), who.groups.end(), [&](const std::string& g) {
    return std::find(approvers.begin(), approvers.end(), g) != approvers.end();
  });
}

// /api/reviews, /api/reviews/ID, /api/reviews/ID/approve, /api/reviews/ID/reject.
Response reviewsApi(const Request& req, std::string_view path, std::string_view query, const ApiContext& ctx) {
  const auto v = req.version();
  const auto ka = req.keep_alive();
  if (!ctx.store) return json(http::status::service_unavailable, {{"error", "no store"}}, v, ka);
  auto who_or = caller(req, ctx);
  if (auto* res = std::get_if<Response>(&who_or)) return std::move(*res);
  const auto& who = std::get<store::TokenInfo>(who_or);
  const bool get = req.method() == http::verb::get;
  const bool post = req.method() == http::verb::post;
  std::string_view rest = path.substr(std::string_view("/api/reviews").size());
  if (rest.empty() || rest == "/") {
    if (!get) return json(http::status::method_not_allowed, {{"error", "use GET"}}, v, ka);
    const bool all = query.find("all=1") != std::string_view::npos || query.find("all=true") != std::string_view::npos;
    auto listed = ctx.store->listReviews(!all, nowUs());
    if (!listed) return json(http::status::service_unavailable, {{"error", listed.error().message}}, v, ka);
    boost::json::array out;
    for (const auto& r : *listed)
      if (mayView(r, who)) out.emplace_back(reviewToJson(r));
    return json(http::status::ok, out, v, ka);
  }
  rest.remove_prefix(1);
  const auto slash = rest.find('/');
  const std::string id(rest.substr(0, slash));
  const std::string_view action = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  auto found = ctx.store->getReview(id, nowUs());
  if (!found) return json(http::status::service_unavailable, {{"error", found.error().message}}, v, ka);
  if (!*found || !mayView(**found, who))
    return json(http::status::not_found, {{"error", "no review " + id + " that you may see"}}, v, ka);
  if (action.empty()) {
    if (!get) return json(http::status::method_not_allowed, {{"error", "use GET"}}, v, ka);
    return json(http::status::ok, reviewToJson(**found), v, ka);
  }
  if (action != "approve" && action != "reject")
    return json(http::status::not_found, {{"error", fmt::format("no such endpoint: {}", path)}}, v, ka);
  if (!post) return json(http::status::method_not_allowed, {{"error", "use POST"}}, v, ka);
  std::string reason;
  if (!req.body().empty()) {
    boost::system::error_code ec;
    auto body = boost::json::parse(req.body(), ec);
    const auto* o = ec ? nullptr : body.if_object();
    const auto* r = o ? o->if_contains("reason") : nullptr;
    if (!o || (r && !r->is_string()))
      return json(http::status::bad_request, {{"error", "the body must be a JSON object such as {\"reason\": \"...\"}"}},
                  v, ka);
    if (r) reason = std::string(r->get_string());
  }
  const bool approve = action == "approve";
  if (!approve && reason.empty())
    return json(http::status::bad_request, {{"error", "a rejection needs a reason (the requester sees it)"}}, v, ka);
  if ((*found)->status != store::kReviewPending)
    return json(http::status::conflict,
                {{"error", "review " + id + " is " + (*found)->status + ", not pending"}, {"status", (*found)->status}},
                v, ka);
  auto decided = ctx.store->decideReview(id, who.user, who.groups, approve, reason, nowUs());
  if (!decided) return json(http::status::forbidden, {{"error", decided.error().message}}, v, ka);
  spdlog::info("api: review {} {} by {}", id, approve ? "approved" : "rejected", who.user);
  return json(http::status::ok, reviewToJson(*decided), v, ka);
}

// POST /api/token with `Authorization: Bearer CREDENTIAL`: a service account key, or a token of a configured OIDC
// provider (an ID token from `gatehouse login`), exchanged for a session token. The answer says why only in the
// log: a client learns that the credential was refused.
Response tokenApi(const Request& req, const ApiContext& ctx) {
  const auto v = req.version();
  const auto ka = req.keep_alive();
  if (req.method() != http::verb::post) return json(http::status::method_not_allowed, {{"error", "use POST"}}, v, ka);
  if (!ctx.store || !ctx.session_tokens)
    return json(http::status::service_unavailable, {{"error", "session tokens are not enabled"}}, v, ka);
  const auto presented = bearer(req);
  if (!presented)
    return unauthorized(req, "send a service account key or an OIDC token as Authorization: Bearer CREDENTIAL");
  identity::SessionIdentity identity;
  if (identity::looksLikeJwt(*presented)) {
    if (!ctx.oidc || !ctx.oidc->forToken(*presented)) {
      spdlog::info("api: token exchange refused: a JWT from no configured OIDC provider");
      return unauthorized(req, "the credential was refused");
    }
    // Only provider tokens are exchanged: a session token is not renewed by presenting it.
    auto who = identity::identifyPresentedWaiting(*ctx.store, nullptr, ctx.oidc, *presented, kKeyWait);
    if (!who) {
      spdlog::info("api: token exchange refused: {}", who.error().message);
      return unauthorized(req, "the credential was refused");
    }
    identity = {.subject = who->user, .groups = who->groups, .source = who->id};
  } else {
    auto key = identity::verifyServiceAccountKey(*ctx.store, *presented);
    if (!key) {
      spdlog::info("api: token exchange refused: {}", key.error().message);
      return unauthorized(req, "the credential was refused");
    }
    identity = {.subject = key->account, .groups = key->groups, .source = "service_account:" + key->key_id};
  }
  auto issued = ctx.session_tokens->issue(identity, nowUs());
  if (!issued) {
    spdlog::error("api: cannot issue a session token for {}: {}", identity.subject, issued.error().message);
    return json(http::status::internal_server_error, {{"error", "cannot issue a token"}}, v, ka);
  }
  spdlog::info("api: session token {} issued to {} ({})", issued->id, identity.subject, identity.source);
  boost::json::array groups;
  for (const auto& g : identity.groups) groups.emplace_back(g);
  const auto ttl = ctx.session_tokens->ttl().count();
  return json(http::status::ok,
              {{"token", issued->token},
               {"token_type", "Bearer"},
               {"id", issued->id},
               {"subject", identity.subject},
               {"groups", std::move(groups)},
               {"expires_in", ttl},
               {"expires_at", core::isoUtc(issued->expires_at_us, false)}},
              v, ka);
}

// POST /api/token/revoke with `Authorization: Bearer SESSION_TOKEN`: the token revokes itself (`gatehouse logout`).
Response revokeSelfApi(const Request& req, const ApiContext& ctx) {
  const auto v = req.version();
  const auto ka = req.keep_alive();
  if (req.method() != http::verb::post) return json(http::status::method_not_allowed, {{"error", "use POST"}}, v, ka);
  if (!ctx.store || !ctx.session_tokens)
    return json(http::status::service_unavailable, {{"error", "session tokens are not enabled"}}, v, ka);
  const auto presented = bearer(req);
  if (!presented) return unauthorized(req, "send the session token as Authorization: Bearer TOKEN");
  auto verified = ctx.session_tokens->verify(*presented, nowUs());
  if (!verified) {
    spdlog::info("api: revocation refused: {}", verified.error().message);
    return unauthorized(req, "the token was refused");
  }
  if (auto r = ctx.store->revokeSessionToken(verified->id); !r)
    return json(http::status::service_unavailable, {{"error", "cannot revoke: " + r.error().message}}, v, ka);
  spdlog::info("api: session token {} of {} revoked by its holder", verified->id, verified->identity.subject);
  return json(http::status::ok, {{"revoked", verified->id}}, v, ka);
}

// GET /api/whoami: who the bearer token says the caller is.
Response whoamiApi(const Request& req, const ApiContext& ctx) {
  const auto v = req.version();
  const auto ka = req.keep_alive();
  if (req.method() != http::verb::get) return json(http::status::method_not_allowed, {{"error", "use GET"}}, v, ka);
  if (!ctx.store) return json(http::status::service_unavailable, {{"error", "no store"}}, v, ka);
  auto who_or = caller(req, ctx);
  if (auto* res = std::get_if<Response>(&who_or)) return std::move(*res);
  const auto& who = std::get<store::TokenInfo>(who_or);
  boost::json::array groups;
  for (const auto& g : who.groups) groups.emplace_back(g);
  return json(http::status::ok, {{"subject", who.user}, {"groups", std::move(groups)}, {"token_id", who.id}}, v, ka);
}

// GET /api/auth/providers: what `gatehouse login` needs to sign in with each configured OpenID provider (its
// public client). Public: nothing here is secret.
Response providersApi(const Request& req, const ApiContext& ctx) {
  const auto v = req.version();
  const auto ka = req.keep_alive();
  if (req.method() != http::verb::get) return json(http::status::method_not_allowed, {{"error", "use GET"}}, v, ka);
  boost::json::array out;
  static const std::vector<std::unique_ptr<identity::OidcProvider>> kNone;
  for (const auto& p : ctx.oidc ? ctx.oidc->all() : kNone) {
    boost::json::array scopes;
    for (const auto& s : p->config().scopes) scopes.emplace_back(s);
    out.push_back(boost::json::object{{"name", p->config().name},
                                      {"issuer", p->config().issuer},
                                      {"client_id", p->config().cli_client_id},
                                      {"scopes", std::move(scopes)}});
  }
  return json(http::status::ok, {{"oidc", std::move(out)}}, v, ka);
}

}  // namespace

Response handleRequest(const Request& req, const ApiContext& ctx) {
  const auto target = std::string_view(req.target().data(), req.target().size());
  const auto path = target.substr(0, target.find('?'));
  const bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  if (path == "/healthz") {
    if (!get) return json(http::status::method_not_allowed, {{"error", "use GET"}}, req.version(), req.keep_alive());
    const bool recording = !ctx.recording_healthy || ctx.recording_healthy();
    boost::json::object body{{"status", recording ? "ok" : "degraded"},
                             {"recording", recording ? "ok" : "failing"}};
    return json(recording ? http::status::ok : http::status::service_unavailable, body, req.version(),
                req.keep_alive());
  }
  if (path == "/metrics") {
    if (!get) return json(http::status::method_not_allowed, {{"error", "use GET"}}, req.version(), req.keep_alive());
    Response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4");
    res.keep_alive(req.keep_alive());
    res.body() = prometheus::TextSerializer().Serialize(ctx.metrics->registry->Collect());
    res.prepare_payload();
    return res;
  }
  if (path == "/api/token") return tokenApi(req, ctx);
  if (path == "/api/token/revoke") return revokeSelfApi(req, ctx);
  if (path == "/api/whoami") return whoamiApi(req, ctx);
  if (path == "/api/auth/providers") return providersApi(req, ctx);
  if (path.starts_with("/api/auth/saml/")) {
    if (!ctx.web_signin || !ctx.web_signin->hasSaml())
      return json(http::status::not_found, {{"error", "no SAML identity provider is configured (identity.saml)"}},
                  req.version(), req.keep_alive());
    auto rest = path.substr(std::string_view("/api/auth/saml/").size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos)
      return json(http::status::not_found, {{"error", "no such endpoint"}}, req.version(), req.keep_alive());
    return ctx.web_signin->saml(req, rest.substr(0, slash), rest.substr(slash + 1));
  }
  if (path == "/api/auth/login" || path == "/api/auth/callback" || path == "/api/auth/logout") {
    if (!ctx.web_signin)
      return json(http::status::service_unavailable, {{"error", "web sign-in is not configured (identity.oidc)"}},
                  req.version(), req.keep_alive());
    if (path == "/api/auth/login") return ctx.web_signin->login(req);
    if (path == "/api/auth/callback") return ctx.web_signin->callback(req);
    return ctx.web_signin->logout(req);
  }
  if (path == "/api/reviews" || path.starts_with("/api/reviews/")) {
    const auto q = target.find('?');
    return reviewsApi(req, path, q == std::string_view::npos ? std::string_view() : target.substr(q + 1), ctx);
  }
  return json(http::status::not_found, {{"error", fmt::format("no such endpoint: {}", path)}}, req.version(),
              req.keep_alive());
}

HttpServer::HttpServer(const core::Listener& listener, ApiContext ctx, net::ssl::context* tls)
    : listener_(listener), ctx_(std::move(ctx)), tls_(tls) {}

HttpServer::~HttpServer() { stop(); }

Result<void> HttpServer::start() {
  net::error_code ec;
  const auto address = asio::ip::make_address(listener_.address, ec);
  if (ec) return makeError(fmt::format("listeners.http.address: '{}' is not an IP address", listener_.address));
  acceptor_ = std::make_unique<net::tcp::acceptor>(io_);
  const net::tcp::endpoint ep(address, listener_.port);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(net::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return makeError(fmt::format("cannot listen on {}:{}: {}", listener_.address, listener_.port, ec.message()));
  port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(io_, acceptLoop(), asio::detached);
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "gh-http");
    io_.run();
  });
  return {};
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    net::error_code ec;
    acceptor_->close(ec);
  });
  io_.stop();
  thread_.join();
  pool_.join();
}

net::awaitable<void> HttpServer::acceptLoop() {
  for (;;) {
    net::error_code ec;
    auto socket = co_await acceptor_->async_accept(asio::redirect_error(net::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
    if (ec) continue;
    asio::co_spawn(io_, serveConnection(std::move(socket)), asio::detached);
  }
}

template <class Stream>
net::awaitable<void> HttpServer::serveRequests(Stream& stream, beast::tcp_stream& lowest) {
  beast::flat_buffer buffer;
  for (;;) {
    lowest.expires_after(std::chrono::seconds(30));
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(1024 * 1024);
    co_await http::async_read(stream, buffer, parser, net::use_awaitable);
    // Handlers may block (an OIDC token waiting for its provider's keys, the sign-in's call to a provider): they
    // run on the pool, and this thread goes on serving the other connections.
    auto res = co_await asio::co_spawn(
        pool_, [&]() -> net::awaitable<Response> { co_return handleRequest(parser.get(), ctx_); }, net::use_awaitable);
    const bool keep = res.keep_alive();
    co_await http::async_write(stream, res, net::use_awaitable);
    if (!keep) break;
  }
}

net::awaitable<void> HttpServer::serveConnection(net::tcp::socket socket) {
  try {
    if (!tls_) {
      beast::tcp_stream stream(std::move(socket));
      co_await serveRequests(stream, stream);
      net::error_code ec;
      stream.socket().shutdown(net::tcp::socket::shutdown_send, ec);
      co_return;
    }
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls_);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    co_await stream.async_handshake(net::ssl::stream_base::server, net::use_awaitable);
    co_await serveRequests(stream, beast::get_lowest_layer(stream));
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    net::error_code ec;
    co_await stream.async_shutdown(asio::redirect_error(net::use_awaitable, ec));
  } catch (const boost::system::system_error& e) {
    if (e.code() != http::error::end_of_stream && e.code() != beast::error::timeout)
      spdlog::debug("http: connection ended: {}", e.code().message());
  }
}

}  // namespace gatehouse::api
