// WebhookNotifier: delivers the store's notifications (review created, decided) to the configured webhooks as
// JSON POSTs, signed with an HMAC-SHA256 header, retried with exponential backoff. The store's outbox makes
// delivery independent of who made the change (the gateway, the CLI, the API) and survives restarts: at least
// once, each delivery carrying the notification's id for the receiver to deduplicate.
//
// Request: POST <url>, Content-Type: application/json, X-Gatehouse-Event: review.created, X-Gatehouse-Delivery:
// <id>, X-Gatehouse-Signature: sha256=<hex HMAC-SHA256 of the body under the webhook's secret>; body
// {"event", "delivery_id", "created_at", "review": {...as in GET /api/reviews/ID}}. A 2xx answer from every
// webhook delivers it; otherwise it is tried again after 2, 4, 8 ... seconds (at most 5 minutes apart), ten times.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>
#include <vector>

#include "core/result.h"
#include "store/store.h"

namespace gatehouse::api {

struct WebhookTarget {
  std::string url;
  std::string secret;  // empty: unsigned
};

class WebhookNotifier {
 public:
  WebhookNotifier(store::Store& store, std::vector<WebhookTarget> targets) : store_(store), targets_(std::move(targets)) {}

  // Delivers what is due now; returns how many were delivered.
  Result<std::size_t> deliverDue();
  // Calls deliverDue every `period` until stopped.
  void run(std::stop_token stop, std::chrono::milliseconds period);

  static constexpr int kMaxAttempts = 10;

 private:
  store::Store& store_;
  std::vector<WebhookTarget> targets_;
};

// HMAC-SHA256 of `body` under `secret`, lower-case hex.
std::string webhookSignature(std::string_view secret, std::string_view body);

// One POST; the HTTP status, or an error (connection, TLS, timeout).
Result<int> postJson(const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                     const std::string& body, std::chrono::milliseconds timeout);

}  // namespace gatehouse::api
