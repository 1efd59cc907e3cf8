// HttpServer: Beast over Asio coroutines, one coroutine per connection, keep-alive, bounded request sizes.
#include "api/http_server.h"

#include <pthread.h>

#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

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
  return json(http::status::not_found, {{"error", fmt::format("no such endpoint: {}", path)}}, req.version(),
              req.keep_alive());
}

HttpServer::HttpServer(const core::Listener& listener, ApiContext ctx) : listener_(listener), ctx_(std::move(ctx)) {}

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

net::awaitable<void> HttpServer::serveConnection(net::tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  try {
    for (;;) {
      stream.expires_after(std::chrono::seconds(30));
      http::request_parser<http::string_body> parser;
      parser.header_limit(16 * 1024);
      parser.body_limit(1024 * 1024);
      co_await http::async_read(stream, buffer, parser, net::use_awaitable);
      auto res = handleRequest(parser.get(), ctx_);
      const bool keep = res.keep_alive();
      co_await http::async_write(stream, res, net::use_awaitable);
      if (!keep) break;
    }
  } catch (const boost::system::system_error& e) {
    if (e.code() != http::error::end_of_stream && e.code() != beast::error::timeout)
      spdlog::debug("http: connection ended: {}", e.code().message());
  }
  net::error_code ec;
  stream.socket().shutdown(net::tcp::socket::shutdown_send, ec);
}

}  // namespace gatehouse::api
