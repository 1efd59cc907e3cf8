// HttpServer: the gateway's HTTP listener: /healthz, Prometheus /metrics, the token exchange (POST /api/token: a
// service account key for a session token), and the review API (/api/reviews: list, show, approve, reject, as
// the owner of the bearer token, an access token or a session token). Later: the rest of the REST API and the web UI.
// Requests are turned into responses by a pure function (handleRequest) that never touches a socket.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "core/config.h"
#include "core/result.h"
#include "gateway/metrics.h"
#include "identity/session_tokens.h"
#include "store/store.h"
#include "net/asio.h"

namespace gatehouse::api {

class WebSignIn;

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct ApiContext {
  gateway::Metrics* metrics = nullptr;
  store::Store* store = nullptr;  // reviews; null: the review endpoints answer 503
  identity::SessionTokens* session_tokens = nullptr;  // POST /api/token; null: it answers 503
  const identity::OidcProviders* oidc = nullptr;  // tokens of these providers are accepted; null: none
  WebSignIn* web_signin = nullptr;  // /api/auth/login, callback, logout; null: they answer 503
  std::function<bool()> recording_healthy;  // false: the event log cannot be written
};

Response handleRequest(const Request& request, const ApiContext& ctx);

class HttpServer {
 public:
  // tls: HTTPS with this context; null: plain HTTP.
  HttpServer(const core::Listener& listener, ApiContext ctx, net::ssl::context* tls = nullptr);
  ~HttpServer();
  Result<void> start();
  uint16_t port() const { return port_; }
  void stop();

 private:
  net::awaitable<void> acceptLoop();
  net::awaitable<void> serveConnection(net::tcp::socket socket);
  template <class Stream>
  net::awaitable<void> serveRequests(Stream& stream, boost::beast::tcp_stream& lowest);

  core::Listener listener_;
  ApiContext ctx_;
  net::ssl::context* tls_ = nullptr;
  net::asio::io_context io_{1};
  net::asio::thread_pool pool_{4};  // runs the handlers, which may block
  std::unique_ptr<net::tcp::acceptor> acceptor_;
  std::thread thread_;
  uint16_t port_ = 0;
};

}  // namespace gatehouse::api
