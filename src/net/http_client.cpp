// Blocking HTTP/1.1 client; see http_client.h.
#include "net/http_client.h"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <exception>
#include <optional>

#include "net/asio.h"

namespace gatehouse::net {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

template <class Stream>
awaitable<HttpResponse> exchange(Stream& stream, http::request<http::string_body>& req, std::size_t max_body) {
  co_await http::async_write(stream, req, use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body);
  co_await http::async_read(stream, buffer, parser, use_awaitable);
  auto& res = parser.get();
  HttpResponse out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  out.location = std::string(res[http::field::location]);
  for (auto it = res.find(http::field::set_cookie); it != res.end() && it->name() == http::field::set_cookie; ++it)
    out.set_cookies.emplace_back(it->value());
  out.body = std::move(res.body());
  co_return out;
}

}  // namespace

Result<HttpResponse> httpRequest(const HttpRequest& request) {
  auto parsed = boost::urls::parse_uri(request.url);
  if (!parsed) return makeError("invalid URL " + request.url);
  const bool tls = parsed->scheme() == "https";
  if (!tls && parsed->scheme() != "http") return makeError("not an http(s) URL: " + request.url);
  // An IPv6 literal comes bracketed in the URL; the resolver and the certificate check want it bare.
  std::string host(parsed->host_address());
  if (host.empty()) host = std::string(parsed->host());
  const std::string port = parsed->has_port() ? std::string(parsed->port()) : (tls ? "443" : "80");
  std::string target(parsed->encoded_path());
  if (target.empty()) target = "/";
  if (parsed->has_query()) target += "?" + std::string(parsed->encoded_query());
  const auto verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown) return makeError("unknown HTTP method " + request.method);

  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, std::string(parsed->encoded_host_and_port()));
  req.set(http::field::user_agent, "gatehouse");
  for (const auto& [name, value] : request.headers) req.set(name, value);
  if (!request.body.empty() || verb == http::verb::post) {
    req.body() = request.body;
    req.prepare_payload();
  }

  asio::io_context io;
  std::optional<HttpResponse> response;
  std::exception_ptr failure;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        tcp::resolver resolver(io);
        const auto endpoints = co_await resolver.async_resolve(host, port, use_awaitable);
        if (!tls) {
          beast::tcp_stream stream(io);
          stream.expires_after(request.timeout);
          co_await stream.async_connect(endpoints, use_awaitable);
          response = co_await exchange(stream, req, request.max_body);
          co_return;
        }
        ssl::context ctx(ssl::context::tls_client);
        if (request.ca_file.empty()) ctx.set_default_verify_paths();
        else ctx.load_verify_file(request.ca_file.string());
        ctx.set_verify_mode(ssl::verify_peer);
        beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"  // OpenSSL's macro casts
        const bool sni = SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()) == 1;
#pragma GCC diagnostic pop
        if (!sni) throw std::runtime_error("cannot set the TLS server name");
        stream.set_verify_callback(ssl::host_name_verification(host));
        beast::get_lowest_layer(stream).expires_after(request.timeout);
        co_await beast::get_lowest_layer(stream).async_connect(endpoints, use_awaitable);
        co_await stream.async_handshake(ssl::stream_base::client, use_awaitable);
        response = co_await exchange(stream, req, request.max_body);
      },
      [&](std::exception_ptr e) { failure = e; });
  io.run();
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      return makeError(e.what());
    }
  }
  if (!response) return makeError("no answer");
  return std::move(*response);
}

Result<std::string> httpGetBody(const std::string& url, std::chrono::milliseconds timeout) {
  auto res = httpRequest({.method = "GET", .url = url, .headers = {{"Accept", "application/json"}}, .timeout = timeout});
  if (!res) return res.error();
  if (res->status != 200) return makeError("HTTP " + std::to_string(res->status) + " from " + url);
  return std::move(res->body);
}

std::string formEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out += '&';
    out += boost::urls::encode(name, boost::urls::unreserved_chars);
    out += '=';
    out += boost::urls::encode(value, boost::urls::unreserved_chars);
  }
  return out;
}

}  // namespace gatehouse::net
