// Webhook delivery; see webhook_notifier.h.
#include "api/webhook_notifier.h"

#include <openssl/hmac.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "api/review_json.h"
#include "core/hex.h"
#include "core/time_format.h"
#include "net/http_client.h"

namespace gatehouse::api {

namespace {

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
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
  net::HttpRequest req{.method = "POST", .url = url, .headers = headers, .body = body, .timeout = timeout};
  req.headers.emplace_back("Content-Type", "application/json");
  auto res = net::httpRequest(req);
  if (!res) return res.error();
  return res->status;
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
