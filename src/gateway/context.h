// GatewayContext: what every session shares. Built once at start; read-only afterwards except for members
// that are themselves thread-safe (store, metrics, cancel registry); each event log belongs to one worker.
#pragma once

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "gateway/cancel_registry.h"
#include "gateway/metrics.h"
#include "gateway/upstream.h"
#include "identity/session_tokens.h"
#include "net/asio.h"
#include "recording/event_log.h"
#include "store/store.h"

namespace gatehouse::gateway {

struct GatewayContext {
  const core::Config* config = nullptr;
  store::Store* store = nullptr;
  const identity::SessionTokens* session_tokens = nullptr;  // null: session tokens are not accepted
  const identity::OidcProviders* oidc = nullptr;  // null: OIDC tokens are not accepted
  std::vector<recording::EventLog*> logs;  // one per worker, each used by its worker's thread only
  Metrics* metrics = nullptr;
  CancelRegistry* cancels = nullptr;
  net::ssl::context* client_tls = nullptr;
  std::map<std::string, UpstreamProfile, std::less<>> upstreams;  // by connection name
  std::atomic<bool> shutting_down{false};
};

}  // namespace gatehouse::gateway
