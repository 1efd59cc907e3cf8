// Webhook delivery; see webhook_notifier.h.
#include "api/webhook_notifier.h"

#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>

#include "api/review_json.h"
#include "core/hex.h"
#include "core/time_format.h"
#include "net/asio.h"

namespace gatehouse::api {

namespace {

namespace asio = net::asio;
namespace beast = boost::beast;
namespace http = beast::http;

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <class Stream>
asio::awaitable<int> exchange(Stream& stream, http::request<http::string_body>& req) {
  co_await http::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  co_await http::async_read(stream, buffer, res, asio::use_awaitable);
  co_return static_cast<int>(res.result_int());
}

}  // namespace

std::string webhookSignature(std::string_view secret, std::string_view body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(body.data()),
       body.size(), md, &len);
  return core::toHex(md, len);
}

Result<int> postJson(const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                     const std::string& body, std::chrono::milliseconds timeout) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return makeError("invalid URL " + url);
  const bool tls = parsed->scheme() == "https";
  if (!tls && parsed->scheme() != "http") return makeError("not an http(s) URL: " + url);
  const std::string host(parsed->host());
  const std::string port = parsed->has_port() ? std::string(parsed->port()) : (tls ? "443" : "80");
  std::string target(parsed->encoded_path());
  if (target.empty()) target = "/";
  if (parsed->has_query()) target += "?" + std::string(parsed->encoded_query());

  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "gatehouse");
  req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();

  asio::io_context io;
  std::optional<int> status;
  std::exception_ptr failure;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        net::tcp::resolver resolver(io);
        const auto endpoints = co_await resolver.async_resolve(host, port, asio::use_awaitable);
        if (!tls) {
          beast::tcp_stream stream(io);
          stream.expires_after(timeout);
          co_await stream.async_connect(endpoints, asio::use_awaitable);
          status = co_await exchange(stream, req);
          co_return;
        }
        net::ssl::context ctx(net::ssl::context::tls_client);
        ctx.set_default_verify_paths();
        ctx.set_verify_mode(net::ssl::verify_peer);
        beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"  // OpenSSL's macro casts
        const bool sni = SSL_set_tlsext_host_name(stream.native_handle(), host.c_str()) == 1;
#pragma GCC diagnostic pop
        if (!sni) throw std::runtime_error("cannot set the TLS server name");
        stream.set_verify_callback(net::ssl::host_name_verification(host));
        beast::get_lowest_layer(stream).expires_after(timeout);
        co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
        co_await stream.async_handshake(net::ssl::stream_base::client, asio::use_awaitable);
        status = co_await exchange(stream, req);
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
  if (!status) return makeError("no answer");
  return *status;
}

Result<std::size_t> WebhookNotifier::deliverDue() {
  auto due = store_.dueNotifications(nowUs(), 50);
  if (!due) return due.error();
  std::size_t delivered = 0;
  for (const auto& n : *due) {
    auto review = store_.getReview(n.review_id, nowUs());
    if (!review) return review.error();
    boost::json::object payload{{"event", n.event},
                                {"delivery_id", n.id},
                                {"created_at", core::isoUtc(n.created_at_us, true)},
                                {"review", *review ? reviewToJson(**review) : boost::json::value(nullptr)}};
    const std::string body = boost::json::serialize(payload);
    std::string error;
    for (const auto& t : targets_) {
      std::vector<std::pair<std::string, std::string>> headers{{"X-Gatehouse-Event", n.event},
                                                                {"X-Gatehouse-Delivery", std::to_string(n.id)}};
      if (!t.secret.empty()) headers.emplace_back("X-Gatehouse-Signature", "sha256=" + webhookSignature(t.secret, body));
      auto status = postJson(t.url, headers, body, std::chrono::seconds(5));
      if (!status) error += (error.empty() ? "" : "; ") + t.url + ": " + status.error().message;
      else if (*status < 200 || *status >= 300)
        error += (error.empty() ? "" : "; ") + t.url + ": HTTP " + std::to_string(*status);
    }
    if (error.empty()) {
      if (auto r = store_.notificationDelivered(n.id, nowUs()); !r) return r.error();
      ++delivered;
      continue;
    }
    const int attempt = n.attempts + 1;
    std::optional<int64_t> retry;
    if (attempt < kMaxAttempts) {
      const int64_t delay_s = std::min<int64_t>(int64_t{1} << attempt, 300);
      retry = nowUs() + delay_s * 1'000'000;
    }
    spdlog::warn("notification {} ({} of {}) not delivered (attempt {}): {}{}", n.id, n.event, n.review_id, attempt,
                 error, retry ? "" : "; giving up");
    if (auto r = store_.notificationFailed(n.id, error, retry); !r) return r.error();
  }
  return delivered;
}

void WebhookNotifier::run(std::stop_token stop, std::chrono::milliseconds period) {
  std::mutex m;
  std::condition_variable_any cv;
  bool failing = false;
  while (!stop.stop_requested()) {
    auto r = deliverDue();
    if (!r && !failing) spdlog::error("notifier: {} (retrying)", r.error().message);
    failing = !r;
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, period, [] { return false; });
  }
}

}  // namespace gatehouse::api
