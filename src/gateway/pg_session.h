// PgSession: one client connection through the gateway, as one coroutine: startup and TLS, the client's token,
// the gateway's own login to the backend, then the relay in both directions with every statement recorded
// before its result reaches the client.
//
// States (logged at debug level): kStartup -> kAuthenticating -> kConnectingUpstream -> kRelaying -> kClosed.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <memory>
#include <string>

#include "gateway/context.h"
#include "gateway/recorder.h"
#include "gateway/statement_tracker.h"
#include "net/transport.h"
#include "gateway/session_guard.h"
#include "gateway/session_masker.h"
#include "recording/events.h"

namespace gatehouse::gateway {

class PgSession : public std::enable_shared_from_this<PgSession> {
 public:
  enum class State { kStartup, kAuthenticating, kConnectingUpstream, kRelaying, kClosed };

  PgSession(GatewayContext& ctx, Recorder& recorder, net::tcp::socket socket);
  net::awaitable<void> run();
  // Ends the session from outside (gateway shutdown): closes both sides; records are still written.
  void shutdown();

 private:
  net::awaitable<void> serve();
  net::awaitable<bool> startup();  // false: the connection ended during startup (cancel, refusal)
  // Who the password (an OIDC token, a session token or an access token) says the client is, for user_.
  net::awaitable<Result<store::TokenInfo>> authenticate(std::string password) const;
  net::awaitable<void> relayClientToServer();
  net::awaitable<void> relayServerToClient();
  net::awaitable<void> refuse(std::string_view sqlstate, std::string_view message, std::string_view detail = {});
  net::awaitable<void> cancelBackendQuery();
  void setState(State s);
  // Writes the tracker's pending output to the event log (a copy: no wait). Returns the error message, empty on
  // success; the caller must then not go on (fail closed). With recording.fsync, the caller must also await
  // syncRecords() before it forwards anything.
  std::string appendRecords(TrackerOutput& out);
  // Takes what the masker masked since the last statement ended, as the record of statement `seq`.
  void noteMasked(uint64_t seq);
  // Appends `batch_`, and with recording.fsync waits until it is durable. Returns the error message.
  net::awaitable<std::string> persistBatch();
  // Waits until the records appended so far are durable (recording.fsync). false: they could not be made so.
  net::awaitable<bool> syncRecords();
  // Both: the tracker's output recorded, durable if so configured. false: fail closed.
  net::awaitable<bool> record(TrackerOutput& out);
  // The guardrails' verdict on the SQL of a Query or Parse, after any wait for a review: empty when it may run,
  // else the ErrorResponse the client gets instead (the message itself is then replaced by one the server
  // refuses; see relayClientToServer).
  net::awaitable<std::string> guardrailRefusal(std::string_view sql, SessionGuard::Stage stage);
  // Waits for the decision on a held statement's review, polling the store; cancel and a client that leaves end
  // the wait.
  net::awaitable<std::string> holdForReview(const std::string& review_id, uint64_t seq);
  void closeBoth();
  void setCloseReason(std::string_view reason);

  GatewayContext& ctx_;
  Recorder& recorder_;
  net::Transport client_;
  std::unique_ptr<net::Transport> server_;
  State state_ = State::kStartup;
  std::string session_id_;
  std::string user_;
  std::string connection_;
  std::string client_addr_;
  std::vector<std::pair<std::string, std::string>> client_params_;
  std::string client_pending_;  // client bytes read past the startup phase
  std::string server_pending_;  // backend bytes read past its ReadyForQuery
  StatementTracker tracker_;
  CancelTarget cancel_target_;
  std::pair<int32_t, int32_t> client_key_{0, 0};
  std::string close_reason_;  // the first reason given wins
  const policy::Guardrails* guardrails_ = nullptr;  // the connection's; null: statements are not judged
  std::vector<std::string> groups_;                 // the caller's groups
  std::optional<SessionGuard> guard_;               // set once relaying, when the connection has guardrails
  std::optional<SessionMasker> masker_;             // set once relaying, when masking rules apply to the caller
  std::shared_ptr<std::atomic<bool>> cancel_requested_ = std::make_shared<std::atomic<bool>>(false);
  bool client_writing_ = false;
  bool closing_ = false;
  uint64_t bytes_from_client_ = 0;
  uint64_t bytes_from_server_ = 0;
  recording::StatementEventWriter events_;  // set once the session's identity is known
  std::string batch_;
  std::vector<recording::ValuesMasked> masked_;  // what masking masked in statements that ended, to record
};

}  // namespace gatehouse::gateway
