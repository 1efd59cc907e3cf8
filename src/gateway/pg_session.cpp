// PgSession: the PostgreSQL data path of the gateway.
#include "gateway/pg_session.h"

#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include "identity/tokens.h"
#include "protocols/postgres/codec.h"
#include "protocols/postgres/stream_scanner.h"
#include "recording/events.h"

namespace gatehouse::gateway {
namespace {

namespace asio = net::asio;

constexpr std::size_t kReadChunk = 64 * 1024;

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string newSessionId() {
  std::array<unsigned char, 12> r{};
  if (RAND_bytes(r.data(), static_cast<int>(r.size())) != 1) throw std::runtime_error("no randomness");
  std::string id = "ses_";
  for (auto b : r) id += fmt::format("{:02x}", b);
  return id;
}

const char* stateName(PgSession::State s) {
  switch (s) {
    case PgSession::State::kStartup: return "startup";
    case PgSession::State::kAuthenticating: return "authenticating";
    case PgSession::State::kConnectingUpstream: return "connecting-upstream";
    case PgSession::State::kRelaying: return "relaying";
    case PgSession::State::kClosed: return "closed";
  }
  return "?";
}

std::string authMessage(pg::AuthCode code) {
  std::string out;
  pg::encode(pg::BackendMessage{pg::Authentication{code, {}}}, out);
  return out;
}

}  // namespace

PgSession::PgSession(GatewayContext& ctx, Recorder& recorder, net::tcp::socket socket)
    : ctx_(ctx), recorder_(recorder), client_(std::move(socket)), session_id_(newSessionId()) {}

void PgSession::setState(State s) {
  spdlog::debug("session {}: {} -> {}", session_id_, stateName(state_), stateName(s));
  state_ = s;
}

void PgSession::closeBoth() {
  closing_ = true;
  client_.close();
  if (server_) server_->close();
}

void PgSession::setCloseReason(std::string_view reason) {
  if (close_reason_.empty()) close_reason_ = reason;
}

void PgSession::shutdown() {
  setCloseReason("gateway shutting down");
  closeBoth();
}

net::awaitable<void> PgSession::run() {
  auto self = shared_from_this();
  ctx_.metrics->connections_total.Increment();
  ctx_.metrics->connections_active.Increment();
  try {
    co_await serve();
  } catch (const boost::system::system_error& e) {
    spdlog::debug("session {}: ended in state {}: {}", session_id_, stateName(state_), e.code().message());
  } catch (const std::exception& e) {
    spdlog::warn("session {}: ended in state {}: {}", session_id_, stateName(state_), e.what());
  }
  closeBoth();
  if (client_key_.first != 0) ctx_.cancels->remove(client_key_.first, client_key_.second);
  setCloseReason("client disconnected");
  if (state_ == State::kRelaying) {
    TrackerOutput out;
    tracker_.abandon(nowUs(), close_reason_, out);
    co_await record(out);
    batch_.clear();
    recording::appendEvent(recording::SessionClosed{.session_id = session_id_, .ended_at_us = nowUs(),
                                                    .reason = close_reason_,
                                                    .bytes_from_client = bytes_from_client_,
                                                    .bytes_from_server = bytes_from_server_},
                           batch_);
    if (auto error = co_await persistBatch(); !error.empty())
      spdlog::error("session {}: could not record the session's end: {}", session_id_, error);
  }
  setState(State::kClosed);
  ctx_.metrics->connections_active.Decrement();
}

net::awaitable<void> PgSession::refuse(std::string_view sqlstate, std::string_view message, std::string_view detail) {
  ctx_.metrics->connections_refused.Increment();
  spdlog::info("session {}: refused {}@{} from {}: {} ({})", session_id_, user_, connection_, client_addr_, message,
               sqlstate);
  const auto error = pg::errorResponse("FATAL", sqlstate, message, detail);
  net::error_code ec;
  if (client_.tls())
    co_await client_.writeAll(asio::buffer(error));
  else
    co_await asio::async_write(client_.socket(), asio::buffer(error), asio::redirect_error(net::use_awaitable, ec));
}

net::awaitable<void> PgSession::serve() {
  client_.noteRemote();
  client_addr_ = client_.remoteAddress();
  net::error_code ec;
  client_.socket().set_option(net::tcp::no_delay(true), ec);
  if (!co_await startup()) co_return;

  setState(State::kRelaying);
  if (!server_pending_.empty()) {
    // Backend bytes that arrived with its ReadyForQuery: they are asynchronous messages; pass them on first.
    co_await client_.writeAll(asio::buffer(server_pending_));
  }
  // The two directions run as two coroutines on this worker. Not joined with an awaitable operator (&&): that
  // would hang a cancellation handler on every read and write of the data path. Each loop closes both sides
  // when it ends, which ends the other; the timer only signals that the spawned one is done.
  auto ex = co_await asio::this_coro::executor;
  auto server_done = std::make_shared<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
  asio::co_spawn(
      ex, [self = shared_from_this()] { return self->relayServerToClient(); },
      [self = shared_from_this(), server_done](std::exception_ptr e) {
        if (e) {
          spdlog::warn("session {}: relay from the database failed unexpectedly", self->session_id_);
          self->closeBoth();
        }
        server_done->cancel();
      });
  std::exception_ptr failure;
  try {
    co_await relayClientToServer();
  } catch (...) {
    failure = std::current_exception();
    closeBoth();  // ends the other direction too
  }
  net::error_code wait_ec;
  co_await server_done->async_wait(asio::redirect_error(net::use_awaitable, wait_ec));
  if (failure) std::rethrow_exception(failure);
}

net::awaitable<Result<store::TokenInfo>> PgSession::authenticate(std::string password) const {
  auto who = identity::identifyPresented(*ctx_.store, ctx_.session_tokens, ctx_.oidc, password, nowUs());
  if (const auto* provider = who ? nullptr : identity::awaitingKeys(ctx_.oidc, password)) {
    // An OIDC token signed with a key this gateway has not fetched yet (the provider rotated its keys): the
    // refresher is fetching them. Wait for it on a timer, never blocking this worker, then try once more.
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (int i = 0; i < 250 && provider->refreshWanted(); ++i) {
      timer.expires_after(std::chrono::milliseconds(20));
      co_await timer.async_wait(net::use_awaitable);
    }
    who = identity::identifyPresented(*ctx_.store, ctx_.session_tokens, ctx_.oidc, password, nowUs());
  }
  if (!who) co_return who.error();
  if (who->user != user_)
    co_return makeError(fmt::format("token {} belongs to '{}', not '{}'", who->id, who->user, user_));
  co_return who;
}

net::awaitable<bool> PgSession::startup() {
  auto ex = co_await asio::this_coro::executor;
  const pg::Limits limits;
  std::string in;
  std::array<char, 4096> chunk;
  pg::StartupMessage startup;
  {
    net::Deadline deadline(ex, std::chrono::milliseconds(ctx_.config->startup_timeout_ms), client_);
    auto readMore = [&]() -> net::awaitable<void> {
      const auto n = co_await client_.readSome(asio::buffer(chunk));
      if (n == 0) throw boost::system::system_error(asio::error::eof);
      in.append(chunk.data(), n);
    };

    for (;;) {
      auto r = pg::decodeStartup(in, limits);
      if (r.status == pg::DecodeStatus::kNeedMore) {
        co_await readMore();
        continue;
      }
      if (r.status == pg::DecodeStatus::kError) {
        co_await refuse(pg::sqlstate::kProtocolViolation, "invalid startup packet: " + r.error);
        co_return false;
      }
      in.erase(0, r.size);
      if (std::holds_alternative<pg::SslRequest>(r.packet)) {
        if (client_.tls() || !in.empty()) {
          // A second SSLRequest, or bytes sent before the handshake (they would bypass TLS): refuse.
          co_await refuse(pg::sqlstate::kProtocolViolation, "unexpected data around SSLRequest");
          co_return false;
        }
        co_await asio::async_write(client_.socket(), asio::buffer("S", 1), net::use_awaitable);
        co_await client_.handshakeServer(*ctx_.client_tls);
        continue;
      }
      if (std::holds_alternative<pg::GssEncRequest>(r.packet)) {
        co_await asio::async_write(client_.socket(), asio::buffer("N", 1), net::use_awaitable);
        continue;
      }
      if (auto* cancel = std::get_if<pg::CancelRequest>(&r.packet)) {
        if (auto target = ctx_.cancels->find(cancel->pid, cancel->key)) {
          spdlog::info("cancel request from {} for a session's running query", client_addr_);
          if (target->cancel_requested) target->cancel_requested->store(true);
          co_await sendCancel(target->host, target->port, target->backend_pid, target->backend_key);
        } else {
          spdlog::info("cancel request from {} with an unknown key: ignored", client_addr_);
        }
        co_return false;
      }
      startup = std::get<pg::StartupMessage>(std::move(r.packet));
      break;
    }

    setState(State::kAuthenticating);
    const std::string* user = startup.find("user");
    if (!user || user->empty()) {
      co_await refuse(pg::sqlstate::kInvalidAuthorization, "no user name given in the startup packet");
      co_return false;
    }
    user_ = *user;
    const std::string* db = startup.find("database");
    connection_ = db && !db->empty() ? *db : user_;  // libpq's default: database = user
    if (startup.find("replication")) {
      co_await refuse(pg::sqlstate::kFeatureNotSupported, "replication connections are not supported by the gateway");
      co_return false;
    }
    if (!client_.tls() && !client_.remoteIsLoopback()) {
      co_await refuse(pg::sqlstate::kInvalidAuthorization,
                      "the gateway accepts a token only over TLS: connect with sslmode=require");
      co_return false;
    }
    for (const auto& p : startup.params) client_params_.push_back(p);

    // The password is the caller's access token.
    const auto ask = authMessage(pg::AuthCode::kCleartextPassword);
    co_await client_.writeAll(asio::buffer(ask));
    pg::FrameResult frame;
    for (;;) {
      frame = pg::peekFrame(in, limits);
      if (frame.status == pg::DecodeStatus::kMessage) break;
      if (frame.status == pg::DecodeStatus::kError) {
        co_await refuse(pg::sqlstate::kProtocolViolation, "invalid password message: " + frame.error);
        co_return false;
      }
      co_await readMore();
    }
    if (frame.frame.type != 'p') {
      co_await refuse(pg::sqlstate::kProtocolViolation,
                      fmt::format("expected a password message, got message type '{}'", frame.frame.type));
      co_return false;
    }
    auto password = pg::decodePassword(frame.frame.body);
    in.erase(0, frame.frame.size);
    if (!password) {
      co_await refuse(pg::sqlstate::kProtocolViolation, "invalid password message: " + password.error().message);
      co_return false;
    }
    // The password: an OIDC token, a session token (a JWT the gateway signed) or a static access token.
    auto token = co_await authenticate(std::string(*password));
    if (!token) {
      spdlog::info("session {}: token refused for user {}: {}", session_id_, user_, token.error().message);
      co_await refuse(pg::sqlstate::kInvalidPassword,
                      fmt::format("password authentication failed for user \"{}\"", user_));
      co_return false;
    }
    auto it = ctx_.upstreams.find(connection_);
    if (it == ctx_.upstreams.end()) {
      co_await refuse(pg::sqlstate::kInvalidCatalogName,
                      fmt::format("connection \"{}\" does not exist", connection_),
                      "The database name is the name of a gateway connection; `gatehouse connections` lists them.");
      co_return false;
    }
    const auto& allowed = it->second.connection->allow_groups;
    const bool permitted = std::any_of(token->groups.begin(), token->groups.end(), [&](const std::string& g) {
      return std::find(allowed.begin(), allowed.end(), g) != allowed.end();
    });
    if (!permitted) {
      co_await refuse(pg::sqlstate::kInsufficientPrivilege,
                      fmt::format("user \"{}\" may not use connection \"{}\"", user_, connection_),
                      "None of the user's groups is allowed on this connection.");
      co_return false;
    }
    groups_ = token->groups;
    guardrails_ = it->second.guardrails.get();
    client_pending_ = std::move(in);
  }

  setState(State::kConnectingUpstream);
  const auto& profile = ctx_.upstreams.find(connection_)->second;
  std::optional<UpstreamSession> connected;
  std::string failure;
  try {
    connected.emplace(co_await connectUpstream(profile, client_params_));
  } catch (const UpstreamError& e) {
    failure = e.what();
  }
  if (!connected) {
    spdlog::warn("session {}: upstream for connection {} failed: {}", session_id_, connection_, failure);
    co_await refuse(pg::sqlstate::kUnableToConnect,
                    fmt::format("the gateway could not connect to \"{}\": {}", connection_, failure));
    co_return false;
  }
  UpstreamSession& up = *connected;
  server_ = std::make_unique<net::Transport>(std::move(up.transport));
  if (guardrails_) {
    guard_.emplace(*guardrails_, *ctx_.store, *ctx_.metrics,
                   SessionIdentity{.session_id = session_id_, .user = user_, .connection = connection_,
                                   .groups = groups_, .upstream_user = profile.connection->user},
                   up.search_path);
  }
  if (profile.masking) {
    auto active = profile.masking->appliesTo(groups_);
    if (std::find(active.begin(), active.end(), true) != active.end()) {
      masking::ProtectedColumns columns(*profile.masking, active, up.catalog_columns, up.view_dependencies);
      masker_.emplace(profile.masking, std::move(active), std::move(columns));
    }
  }
  server_pending_ = std::move(up.leftover);
  cancel_target_ = CancelTarget{profile.connection->host, profile.connection->port, up.backend_pid, up.backend_key,
                                cancel_requested_};
  client_key_ = ctx_.cancels->add(cancel_target_);

  events_ = recording::StatementEventWriter(session_id_, user_, connection_, client_addr_);
  // The session exists only once it is recorded: a gateway that cannot record refuses (fail closed).
  recording::appendEvent(recording::SessionOpened{.session_id = session_id_, .user = user_,
                                                  .connection = connection_, .client_addr = client_addr_,
                                                  .started_at_us = nowUs(), .tls = client_.tls()},
                         batch_);
  const auto recording_error = co_await persistBatch();
  batch_.clear();
  if (!recording_error.empty()) {
    ctx_.metrics->recording_failures_total.Increment();
    co_await refuse(pg::sqlstate::kIoError, "the gateway cannot record sessions right now; try again later",
                    recording_error);
    co_return false;
  }

  std::string hello = authMessage(pg::AuthCode::kOk);
  hello += up.to_client;
  pg::encode(pg::BackendMessage{pg::BackendKeyData{client_key_.first, client_key_.second}}, hello);
  pg::encode(pg::BackendMessage{pg::ReadyForQuery{up.transaction_status}}, hello);
  co_await client_.writeAll(asio::buffer(hello));
  spdlog::info("session {}: {} connected to {} from {}{}", session_id_, user_, connection_, client_addr_,
               client_.tls() ? " over TLS" : "");
  co_return true;
}

std::string PgSession::appendRecords(TrackerOutput& out) {
  if (out.starts.empty() && out.ends.empty()) return {};
  batch_.clear();
  for (const auto& s : out.starts)
    events_.started(static_cast<uint64_t>(s.seq), s.protocol, s.sql, s.started_at_us, batch_);
  for (const auto& e : out.ends) {
    ctx_.metrics->statements_total.Increment();
    if (!e.sqlstate.empty()) ctx_.metrics->statement_errors_total.Increment();
    ctx_.metrics->statement_duration_seconds.Observe(static_cast<double>(e.duration_us) / 1e6);
    events_.finished(static_cast<uint64_t>(e.seq), e.duration_us, e.tag, e.sqlstate, e.error_message, e.rows,
                     batch_);
  }
  for (const auto& m : masked_) recording::appendEvent(m, batch_);
  masked_.clear();
  out.clear();
  auto error = recorder_.append(batch_);
  if (!error.empty()) {
    ctx_.metrics->recording_failures_total.Increment();
    spdlog::error("session {}: recording failed: {}", session_id_, error);
  }
  return error;
}

void PgSession::noteMasked(uint64_t seq) {
  auto counts = masker_->takeCounts();
  if (counts.empty()) return;
  recording::ValuesMasked event{.session_id = session_id_, .seq = seq, .counts = {}};
  for (auto& c : counts)
    event.counts.push_back(recording::MaskedCount{.rule = std::move(c.rule), .column = std::move(c.column), .count = c.count});
  masked_.push_back(std::move(event));
}

net::awaitable<std::string> PgSession::persistBatch() {
  auto error = recorder_.append(batch_);
  if (error.empty() && recorder_.mustSync()) error = co_await recorder_.sync();
  co_return error;
}

net::awaitable<bool> PgSession::syncRecords() {
  const auto error = co_await recorder_.sync();
  if (!error.empty()) {
    ctx_.metrics->recording_failures_total.Increment();
    spdlog::error("session {}: recording failed: {}", session_id_, error);
  }
  co_return error.empty();
}

net::awaitable<bool> PgSession::record(TrackerOutput& out) {
  const bool any = !out.starts.empty() || !out.ends.empty();
  if (!appendRecords(out).empty()) co_return false;
  if (any && recorder_.mustSync()) co_return co_await syncRecords();
  co_return true;
}

net::awaitable<void> PgSession::cancelBackendQuery() {
  try {
    co_await sendCancel(cancel_target_.host, cancel_target_.port, cancel_target_.backend_pid,
                        cancel_target_.backend_key);
  } catch (const std::exception& e) {
    spdlog::warn("session {}: could not cancel the backend's query: {}", session_id_, e.what());
  }
}

namespace {

// What the gateway sends the server in place of a refused Query's or Parse's SQL: a lone identifier, which any
// PostgreSQL refuses at parse time with an ErrorResponse (which the gateway replaces with its own). So the server
// itself does what it does for any failed statement: it aborts the transaction block it is in, skips the rest of
// an extended-protocol pipeline up to Sync, and answers in order with everything else in flight.
constexpr std::string_view kRefusedSql = "gatehouse_refused_statement";

// The SQL of a Parse message's body (name, query, parameter types).
std::optional<std::string_view> parseQuery(std::string_view body) {
  const auto name_end = body.find('\0');
  if (name_end == std::string_view::npos) return std::nullopt;
  const auto query_end = body.find('\0', name_end + 1);
  if (query_end == std::string_view::npos) return std::nullopt;
  return body.substr(name_end + 1, query_end - name_end - 1);
}

}  // namespace

net::awaitable<std::string> PgSession::guardrailRefusal(std::string_view sql, SessionGuard::Stage stage) {
  // Nothing else in flight and no transaction block: a SET search_path here certainly takes effect and stays.
  const bool lone = tracker_.transactionStatus() == 'I' && tracker_.pendingCount() == 1;
  // A Query's or Execute's statement number is known now (the tracker numbered it); a Parse's only when it runs.
  const uint64_t seq = stage == SessionGuard::Stage::kParse ? 0 : static_cast<uint64_t>(tracker_.lastSeq());
  auto d = guard_->judge(sql, stage, lone, seq);
  if (d.kind != SessionGuard::Decision::Kind::kHold) co_return std::move(d.refusal);
  co_return co_await holdForReview(d.review_id, seq);
}

net::awaitable<std::string> PgSession::holdForReview(const std::string& review_id, uint64_t seq) {
  using namespace std::chrono_literals;
  cancel_requested_->store(false);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const int fd = client_.socket().native_handle();
  for (;;) {
    if (auto outcome = guard_->holdOutcome(review_id, seq)) co_return std::move(*outcome);
    if (cancel_requested_->exchange(false) || closing_) co_return guard_->cancelled(review_id);
    // A client that left (or, over plain TCP, sent Terminate) ends the wait; what it sent is read later.
    char first = 0;
    const auto n = ::recv(fd, &first, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n == 1 && !client_.tls() && first == 'X'))
      co_return guard_->cancelled(review_id);
    timer.expires_after(250ms);
    co_await timer.async_wait(net::use_awaitable);
  }
}

namespace {

// The message types a relay direction inspects: the tracker's, and the masker's when masking is on.
std::string inspectedTypes(std::string_view tracker, bool masking, std::string_view masker) {
  std::string out(tracker);
  if (masking)
    for (char c : masker)
      if (out.find(c) == std::string::npos) out += c;
  return out;
}

}  // namespace

net::awaitable<void> PgSession::relayClientToServer() {
  pg::StreamScanner scanner(
      inspectedTypes(StatementTracker::kFrontendTypes, masker_.has_value(), SessionMasker::kFrontendTypes),
      pg::Limits{});
  std::string buf = std::move(client_pending_);
  std::size_t len = buf.size();
  buf.resize(std::max<std::size_t>(kReadChunk, len));
  TrackerOutput out;
  bool client_gone = false;
  // Forwarded bytes when a refused message was replaced in this round: buf[0, copied) with the replacements.
  std::string rewritten;
  std::size_t copied = 0;
  try {
    for (;;) {
      // Process what is buffered (first round: bytes that came with the startup packet).
      std::size_t pos = 0;
      std::size_t need = 0;
      rewritten.clear();
      copied = 0;
      while (true) {
        auto step = scanner.next(std::string_view(buf.data() + pos, len - pos));
        if (step.kind == pg::StreamScanner::Kind::kNeedMore) {
          need = step.need;
          break;
        }
        if (step.kind == pg::StreamScanner::Kind::kError ||
            (step.kind == pg::StreamScanner::Kind::kMessage && !tracker_.onFrontend(step.type, step.body, nowUs(), out))) {
          setCloseReason("protocol error from the client");
          if (!client_writing_) {
            const auto err = pg::errorResponse("FATAL", pg::sqlstate::kProtocolViolation,
                                               step.error.empty() ? "invalid message from the client" : step.error);
            co_await client_.writeAll(asio::buffer(err));
          }
          closeBoth();
          co_return;
        }
        if (step.kind == pg::StreamScanner::Kind::kPassThrough && step.first && step.type == 'X')
          setCloseReason("client terminated");
        std::string refusal;
        const bool judged = step.kind == pg::StreamScanner::Kind::kMessage &&
                            (step.type == 'Q' || step.type == 'P' || step.type == 'E');
        if (guard_ && judged) {
          std::optional<std::string_view> sql;
          using Stage = SessionGuard::Stage;
          const Stage stage = step.type == 'Q' ? Stage::kQuery : step.type == 'P' ? Stage::kParse : Stage::kExecute;
          if (step.type == 'Q') sql = step.body.substr(0, step.body.find('\0'));
          else if (step.type == 'P') sql = parseQuery(step.body);
          else if (const std::string* s = tracker_.sqlOfLastExecute()) sql = *s;
          // Not in a conditional expression: g++ 12 mishandles the lifetime of a co_await's result there.
          if (sql) {
            refusal = co_await guardrailRefusal(*sql, stage);
          } else if (stage == SessionGuard::Stage::kExecute) {
            // A portal of a statement this session never sent a Parse for (one made by SQL PREPARE, bound at the
            // protocol level): what it runs cannot be told here, so it does not run (fail closed).
            refusal = pg::errorResponse(
                "ERROR", pg::sqlstate::kInsufficientPrivilege,
                "gatehouse: this Execute's statement was not prepared with a Parse the gateway saw, so it cannot be "
                "judged and is refused",
                {}, "Prepare it with a Parse message (as drivers do), or run it with SQL EXECUTE.");
          }
        }
        if (masker_ && step.kind == pg::StreamScanner::Kind::kMessage) {
          // The masker follows every message to pair results with statements, and refuses what it cannot mask.
          auto masking_refusal = masker_->onFrontend(step.type, step.body);
          if (refusal.empty()) refusal = std::move(masking_refusal);
        }
        if (judged) {
          if (!refusal.empty()) {
            // The tracker has recorded the statement as the client wrote it; the server gets one it refuses, and
            // its refusal is replaced by this one on the way back.
            tracker_.replaceErrorOfLast(std::move(refusal));
            rewritten.append(buf.data() + copied, pos - copied);
            if (step.type == 'Q') {
              pg::encode(pg::FrontendMessage{pg::Query{std::string(kRefusedSql)}}, rewritten);
            } else if (step.type == 'E') {
              // An Execute becomes a Parse (of the unnamed statement) that the server rejects: the same error
              // path, in the same place of the pipeline.
              pg::encode(pg::FrontendMessage{pg::Parse{.name = {}, .query = std::string(kRefusedSql), .param_types = {}}},
                         rewritten);
            } else {
              const std::string_view name = step.body.substr(0, step.body.find('\0'));
              pg::encode(pg::FrontendMessage{pg::Parse{.name = std::string(name), .query = std::string(kRefusedSql),
                                                       .param_types = {}}},
                         rewritten);
            }
            copied = pos + step.consumed;
          }
        }
        pos += step.consumed;
      }
      // The statements' starts reach the log before the statements reach the database. A copy into the mapped
      // log; only with recording.fsync is there something to wait for.
      const bool any = !out.starts.empty() || !out.ends.empty();
      bool recorded = appendRecords(out).empty();
      if (recorded && any && recorder_.mustSync()) recorded = co_await syncRecords();
      if (!recorded) {
        // Fail closed: nothing runs unrecorded. An idle session gets an error and stays usable; otherwise the
        // replies could no longer be paired, so the session ends.
        const auto msg = "the gateway cannot record statements right now, so it refuses to run them";
        const bool idle = tracker_.dropLastQuery() && !tracker_.inFlight();
        if (!idle) {
          setCloseReason("recording failed");
          if (!client_writing_) {
            const auto err = pg::errorResponse("FATAL", pg::sqlstate::kIoError, msg);
            co_await client_.writeAll(asio::buffer(err));
          }
          closeBoth();
          co_return;
        }
        std::string err = pg::errorResponse("ERROR", pg::sqlstate::kIoError, msg);
        pg::encode(pg::BackendMessage{pg::ReadyForQuery{tracker_.transactionStatus()}}, err);
        co_await client_.writeAll(asio::buffer(err));
        std::memmove(buf.data(), buf.data() + pos, len - pos);
        len -= pos;
      } else if (copied > 0) {
        rewritten.append(buf.data() + copied, pos - copied);
        co_await server_->writeAll(asio::buffer(rewritten));
        std::memmove(buf.data(), buf.data() + pos, len - pos);
        len -= pos;
      } else if (pos > 0) {
        co_await server_->writeAll(asio::buffer(buf.data(), pos));
        std::memmove(buf.data(), buf.data() + pos, len - pos);
        len -= pos;
      }
      if (need > buf.size()) buf.resize(need);
      else if (len == buf.size()) buf.resize(buf.size() * 2);

      const auto n = co_await client_.readSome(asio::buffer(buf.data() + len, buf.size() - len));
      if (n == 0) {
        client_gone = true;
        break;
      }
      len += n;
      bytes_from_client_ += n;
      ctx_.metrics->bytes_from_client.Increment(static_cast<double>(n));
    }
  } catch (const boost::system::system_error& e) {
    client_gone = !closing_;
    spdlog::debug("session {}: client side ended: {}", session_id_, e.code().message());
  }
  if (client_gone && !closing_ && tracker_.inFlight()) {
    // The client vanished with a query running: stop the query rather than let it run on unobserved.
    setCloseReason("client disconnected during a query");
    co_await cancelBackendQuery();
  }
  closeBoth();
}

net::awaitable<void> PgSession::relayServerToClient() {
  pg::StreamScanner scanner(
      inspectedTypes(StatementTracker::kBackendTypes, masker_.has_value(), SessionMasker::kBackendTypes),
      pg::Limits{});
  std::string masked;  // a message the masker rewrote
  std::string buf(kReadChunk, '\0');
  std::size_t len = 0;
  TrackerOutput out;
  std::string rewritten;  // as in relayClientToServer: the round's bytes when an ErrorResponse was replaced
  std::size_t copied = 0;
  try {
    for (;;) {
      const auto n = co_await server_->readSome(asio::buffer(buf.data() + len, buf.size() - len));
      if (n == 0) {
        setCloseReason("the database closed the connection");
        break;
      }
      len += n;
      bytes_from_server_ += n;
      ctx_.metrics->bytes_from_server.Increment(static_cast<double>(n));

      std::size_t pos = 0;
      std::size_t need = 0;
      rewritten.clear();
      copied = 0;
      for (;;) {
        auto step = scanner.next(std::string_view(buf.data() + pos, len - pos));
        if (step.kind == pg::StreamScanner::Kind::kNeedMore) {
          need = step.need;
          break;
        }
        if (step.kind == pg::StreamScanner::Kind::kMessage) {
          // What the client gets instead of the server's message, if anything: the gateway's own refusal of a
          // statement it replaced, or the masker's rewrite (masked values; a refusal; nothing).
          const std::string* replacement = nullptr;
          // The bytes after this message go along: the masker scans the DataRows among them in one go.
          const std::string_view following(buf.data() + pos + step.consumed, len - pos - step.consumed);
          if (masker_ && step.type == 'D' && masker_->masksRows()) {
            // A masked row is written straight into the round's output, after the bytes before it.
            rewritten.append(buf.data() + copied, pos - copied);
            copied = pos;
            if (masker_->appendDataRow(step.body, following, rewritten)) copied = pos + step.consumed;
          } else if (masker_ && masker_->onBackend(step.type, step.body, masked, following)) {
            replacement = &masked;
          }
          if (step.type == 'E')
            if (const std::string* refusal = tracker_.errorReplacement()) replacement = refusal;
          if (replacement) {
            rewritten.append(buf.data() + copied, pos - copied);
            rewritten += *replacement;
            copied = pos + step.consumed;
            // The record keeps what the client saw (masked), never the server's clear text.
            if (step.type == 'E' && replacement->size() > 5)
              step.body = std::string_view(rewritten).substr(rewritten.size() - replacement->size() + 5);
          }
          if (step.type == 'D') tracker_.onDataRow();
        }
        const std::size_t ended = out.ends.size();
        // A DataRow (inspected only when masking) tells the tracker nothing it needs a clock for.
        if (step.kind == pg::StreamScanner::Kind::kError ||
            (step.kind == pg::StreamScanner::Kind::kMessage && step.type != 'D' &&
             !tracker_.onBackend(step.type, step.body, nowUs(), out))) {
          // Out of sync with the backend: never guess, close.
          spdlog::error("session {}: lost track of the backend's messages ({}); closing", session_id_,
                        step.error.empty() ? fmt::format("unexpected '{}'", step.type) : step.error);
          setCloseReason("protocol error from the database");
          closeBoth();
          co_return;
        }
        if (step.kind == pg::StreamScanner::Kind::kPassThrough && step.first && step.type == 'D')
          tracker_.onDataRow();
        // A statement ended: what was masked since the previous one ended is its count.
        if (masker_ && out.ends.size() > ended) noteMasked(static_cast<uint64_t>(out.ends.back().seq));
        pos += step.consumed;
      }
      if (masker_) masker_->endOfInput();  // `buf` changes from here on
      // The records of completed statements reach the log before their results reach the client.
      const bool any = !out.starts.empty() || !out.ends.empty();
      bool recorded = appendRecords(out).empty();
      if (recorded && any && recorder_.mustSync()) recorded = co_await syncRecords();
      if (!recorded) {
        setCloseReason("recording failed");
        const auto err = pg::errorResponse("FATAL", pg::sqlstate::kIoError,
                                           "the gateway could not record the statement, so it withholds its result");
        client_writing_ = true;
        co_await client_.writeAll(asio::buffer(err));
        closeBoth();
        co_return;
      }
      if (copied > 0) {
        rewritten.append(buf.data() + copied, pos - copied);
        client_writing_ = true;
        co_await client_.writeAll(asio::buffer(rewritten));
        client_writing_ = false;
        std::memmove(buf.data(), buf.data() + pos, len - pos);
        len -= pos;
      } else if (pos > 0) {
        client_writing_ = true;
        co_await client_.writeAll(asio::buffer(buf.data(), pos));
        client_writing_ = false;
        std::memmove(buf.data(), buf.data() + pos, len - pos);
        len -= pos;
      }
      if (need > buf.size()) buf.resize(need);
      else if (len == buf.size()) buf.resize(buf.size() * 2);
    }
  } catch (const boost::system::system_error& e) {
    setCloseReason("lost the connection to the database");
    spdlog::debug("session {}: server side ended: {}", session_id_, e.code().message());
  }
  closeBoth();
}

}  // namespace gatehouse::gateway
