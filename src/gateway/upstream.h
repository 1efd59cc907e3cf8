// Connecting the gateway to a PostgreSQL backend with the credential it holds: TCP, optional TLS (SSLRequest),
// StartupMessage, then whatever authentication the backend asks for (trust, cleartext, md5, SCRAM-SHA-256),
// up to the backend's first ReadyForQuery. The client never sees the credential or any of this exchange.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "net/transport.h"
#include "masking/catalog.h"
#include "masking/policy.h"
#include "policy/guardrails.h"

namespace gatehouse::gateway {

// How to reach one configured connection's backend; built once at start.
struct UpstreamProfile {
  const core::PostgresConnection* connection = nullptr;
  std::string password;                      // resolved secret; empty for trust
  std::shared_ptr<net::ssl::context> tls;    // null when tls mode is disable
  std::shared_ptr<const policy::Guardrails> guardrails;  // null: statements are recorded, not judged
  std::shared_ptr<const masking::Policy> masking;        // null: results pass unmasked
};

// A refusal with a reason an operator can act on. It never contains the credential.
class UpstreamError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct UpstreamSession {
  net::Transport transport;
  std::string to_client;   // ParameterStatus and NoticeResponse messages to pass on, encoded
  std::string leftover;    // bytes read past ReadyForQuery (e.g. an early notification)
  int32_t backend_pid = 0;
  int32_t backend_key = 0;
  char transaction_status = 'I';
  // With guardrails: the session's search_path as the server has it at login, "$user" resolved (the schemas that
  // unqualified names resolve in). Empty without guardrails.
  std::vector<std::string> search_path;
  // With column masking rules: the catalog rows the rules are matched against (masking/catalog.h).
  std::vector<masking::CatalogColumn> catalog_columns;
  std::vector<masking::ViewDependency> view_dependencies;
};

// Splits a search_path setting ("\"$user\", public, \"My Schema\"") into schema names, "$user" as `user`.
std::vector<std::string> parseSearchPath(std::string_view setting, std::string_view user);

// Startup parameters a client may pass on to the backend. Others (user, database: the gateway's own;
// `options`: could set any server setting, such as a role) are dropped.
bool forwardableStartupParameter(std::string_view name);

net::awaitable<UpstreamSession> connectUpstream(const UpstreamProfile& profile,
                                                const std::vector<std::pair<std::string, std::string>>& client_params);

// Sends a CancelRequest for (pid, key) to host:port, on a new connection, as PostgreSQL expects.
net::awaitable<void> sendCancel(std::string host, uint16_t port, int32_t pid, int32_t key);

// A TLS client context for a connection's tls mode (require: encrypt only; verify-full: CA and host name).
std::shared_ptr<net::ssl::context> makeUpstreamTlsContext(const core::PostgresConnection& connection);

}  // namespace gatehouse::gateway
