// connectUpstream: the gateway's own login to the backend.
#include "gateway/upstream.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>

#include "protocols/postgres/codec.h"
#include "protocols/postgres/scram.h"

namespace gatehouse::gateway {
namespace {

using namespace std::chrono_literals;
namespace asio = net::asio;

// Reads whole backend messages during the login exchange.
class LoginReader {
 public:
  explicit LoginReader(net::Transport& t) : t_(t) {}

  net::awaitable<pg::BackendMessage> next() {
    for (;;) {
      auto frame = pg::peekFrame(std::string_view(buf_).substr(pos_), limits_);
      if (frame.status == pg::DecodeStatus::kError)
        throw UpstreamError("the database sent an invalid message during login: " + frame.error);
      if (frame.status == pg::DecodeStatus::kMessage) {
        auto msg = pg::decodeBackend(frame.frame.type, frame.frame.body);
        pos_ += frame.frame.size;
        if (!msg) throw UpstreamError("the database sent an invalid message during login: " + msg.error().message);
        co_return std::move(msg).value();
      }
      std::array<char, 8192> chunk;
      const auto n = co_await t_.readSome(asio::buffer(chunk));
      if (n == 0) throw UpstreamError("the database closed the connection during login");
      buf_.append(chunk.data(), n);
    }
  }
  std::string leftover() const { return buf_.substr(pos_); }

 private:
  net::Transport& t_;
  pg::Limits limits_;
  std::string buf_;
  std::size_t pos_ = 0;
};

std::string serverMessage(const pg::ErrorResponse& e) {
  const std::string* m = e.find('M');
  const std::string* c = e.find('C');
  return fmt::format("{}{}", m ? *m : std::string("unknown error"), c ? fmt::format(" (SQLSTATE {})", *c) : "");
}

}  // namespace

std::vector<std::string> parseSearchPath(std::string_view setting, std::string_view user) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < setting.size()) {
    while (i < setting.size() && (setting[i] == ' ' || setting[i] == ',')) ++i;
    if (i >= setting.size()) break;
    std::string name;
    bool quoted = false;
    if (setting[i] == '"') {
      quoted = true;
      ++i;
      while (i < setting.size()) {
        if (setting[i] == '"') {
          if (i + 1 < setting.size() && setting[i + 1] == '"') {
            name += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        name += setting[i++];
      }
    } else {
      while (i < setting.size() && setting[i] != ',') name += setting[i++];
      while (!name.empty() && name.back() == ' ') name.pop_back();
    }
    if (name == "$user") {
      out.emplace_back(user);
    } else {
      // An unquoted name in the setting is already folded to lower case by the server; a quoted one is as is.
      (void)quoted;
      out.push_back(std::move(name));
    }
  }
  return out;
}

bool forwardableStartupParameter(std::string_view name) {
  static constexpr std::string_view kAllowed[] = {
      "application_name", "client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "extra_float_digits",
      "search_path", "datestyle", "timezone", "intervalstyle", "lc_messages", "lc_monetary", "lc_numeric",
      "lc_time", "standard_conforming_strings", "bytea_output", "statement_timeout", "lock_timeout",
      "idle_in_transaction_session_timeout", "geqo", "default_transaction_isolation",
      "default_transaction_read_only"};
  for (auto a : kAllowed)
    if (a == name) return true;
  return false;
}

std::shared_ptr<net::ssl::context> makeUpstreamTlsContext(const core::PostgresConnection& c) {
  if (c.tls == core::UpstreamTls::kDisable) return nullptr;
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_client);
  ctx->set_options(net::ssl::context::no_sslv2 | net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                   net::ssl::context::no_tlsv1_1);
  if (c.tls == core::UpstreamTls::kVerifyFull) {
    if (c.tls_ca.empty()) ctx->set_default_verify_paths();
    else ctx->load_verify_file(c.tls_ca.string());
  }
  return ctx;
}

net::awaitable<UpstreamSession> connectUpstream(const UpstreamProfile& profile,
                                                const std::vector<std::pair<std::string, std::string>>& params) {
  const auto& c = *profile.connection;
  auto ex = co_await asio::this_coro::executor;
  const auto where = fmt::format("{}:{}", c.host, c.port);

  net::tcp::socket socket(ex);
  {
    net::tcp::resolver resolver(ex);
    net::error_code ec;
    auto endpoints = co_await resolver.async_resolve(c.host, std::to_string(c.port),
                                                     asio::redirect_error(net::use_awaitable, ec));
    if (ec) throw UpstreamError(fmt::format("cannot resolve the database host {}: {}", c.host, ec.message()));
    asio::steady_timer timer(ex, std::chrono::milliseconds(c.connect_timeout_ms));
    bool timed_out = false;
    timer.async_wait([&](net::error_code e) {
      if (!e) {
        timed_out = true;
        net::error_code ignored;
        socket.close(ignored);
      }
    });
    co_await asio::async_connect(socket, endpoints, asio::redirect_error(net::use_awaitable, ec));
    timer.cancel();
    if (timed_out) throw UpstreamError(fmt::format("timed out connecting to the database at {}", where));
    if (ec) throw UpstreamError(fmt::format("cannot connect to the database at {}: {}", where, ec.message()));
    socket.set_option(net::tcp::no_delay(true));
  }
  UpstreamSession up{.transport = net::Transport(std::move(socket))};
  net::Deadline deadline(ex, std::chrono::milliseconds(c.connect_timeout_ms), up.transport);

  try {
    std::string out;
    if (profile.tls) {
      pg::encode(pg::StartupPacket{pg::SslRequest{}}, out);
      co_await up.transport.writeAll(asio::buffer(out));
      char answer = 0;
      co_await up.transport.readExactly(asio::buffer(&answer, 1));
      if (answer != 'S') throw UpstreamError(fmt::format("the database at {} does not accept TLS", where));
      try {
        co_await up.transport.handshakeClient(*profile.tls, c.tls_server_name,
                                              c.tls == core::UpstreamTls::kVerifyFull);
      } catch (const boost::system::system_error& e) {
        throw UpstreamError(fmt::format("TLS handshake with the database at {} failed: {}", where, e.what()));
      }
      out.clear();
    }

    pg::StartupMessage startup;
    startup.params.emplace_back("user", c.user);
    startup.params.emplace_back("database", c.database);
    for (const auto& [k, v] : params)
      if (forwardableStartupParameter(k)) startup.params.emplace_back(k, v);
    pg::encode(pg::StartupPacket{std::move(startup)}, out);
    co_await up.transport.writeAll(asio::buffer(out));

    LoginReader reader(up.transport);
    std::optional<pg::ScramClient> scram;
    for (;;) {
      auto msg = co_await reader.next();
      if (auto* e = std::get_if<pg::ErrorResponse>(&msg))
        throw UpstreamError(fmt::format("the database at {} refused the gateway's login: {}", where, serverMessage(*e)));
      if (auto* n = std::get_if<pg::NoticeResponse>(&msg)) {
        pg::encode(pg::BackendMessage{*n}, up.to_client);
        continue;
      }
      if (std::holds_alternative<pg::NegotiateProtocolVersion>(msg)) continue;  // we asked for nothing optional
      auto* auth = std::get_if<pg::Authentication>(&msg);
      if (!auth) throw UpstreamError("the database sent an unexpected message during authentication");
      out.clear();
      switch (auth->code) {
        case pg::AuthCode::kOk:
          break;
        case pg::AuthCode::kCleartextPassword:
          if (profile.password.empty()) throw UpstreamError("the database asks for a password; none is configured");
          pg::encodePassword(profile.password, out);
          break;
        case pg::AuthCode::kMd5Password:
          if (profile.password.empty()) throw UpstreamError("the database asks for a password; none is configured");
        {
          auto hashed = pg::md5Password(c.user, profile.password, auth->data);
          if (!hashed) throw UpstreamError("md5 authentication unavailable: " + hashed.error().message);
          pg::encodePassword(*hashed, out);
          break;
        }
        case pg::AuthCode::kSasl: {
          const auto mechanisms = pg::saslMechanisms(*auth);
          if (std::find(mechanisms.begin(), mechanisms.end(), "SCRAM-SHA-256") == mechanisms.end())
            throw UpstreamError("the database offers no SASL mechanism the gateway supports (SCRAM-SHA-256)");
          if (profile.password.empty()) throw UpstreamError("the database asks for a password; none is configured");
          scram.emplace(profile.password);
          pg::encode(pg::SaslInitialResponse{"SCRAM-SHA-256", scram->clientFirstMessage()}, out);
          break;
        }
        case pg::AuthCode::kSaslContinue: {
          if (!scram) throw UpstreamError("the database sent SCRAM data out of order");
          auto final_message = scram->handleServerFirst(auth->data);
          if (!final_message) throw UpstreamError("SCRAM exchange failed: " + final_message.error().message);
          pg::encode(pg::FrontendMessage{pg::PasswordMessage{*final_message}}, out);
          break;
        }
        case pg::AuthCode::kSaslFinal: {
          if (!scram) throw UpstreamError("the database sent SCRAM data out of order");
          if (auto ok = scram->verifyServerFinal(auth->data); !ok)
            throw UpstreamError("the database failed to prove it knows the password (SCRAM): " + ok.error().message);
          continue;
        }
        default:
          throw UpstreamError(fmt::format("the database asks for an authentication method the gateway does not "
                                          "support (code {})", static_cast<int>(auth->code)));
      }
      if (auth->code == pg::AuthCode::kOk) break;
      co_await up.transport.writeAll(asio::buffer(out));
    }

    // After AuthenticationOk: settings, the backend's cancel key, then ReadyForQuery.
    for (;;) {
      auto msg = co_await reader.next();
      if (auto* e = std::get_if<pg::ErrorResponse>(&msg))
        throw UpstreamError(fmt::format("the database at {} refused the session: {}", where, serverMessage(*e)));
      if (auto* k = std::get_if<pg::BackendKeyData>(&msg)) {
        up.backend_pid = k->pid;
        up.backend_key = k->key;
        continue;
      }
      if (auto* z = std::get_if<pg::ReadyForQuery>(&msg)) {
        up.transaction_status = z->status;
        break;
      }
      if (std::holds_alternative<pg::ParameterStatus>(msg) || std::holds_alternative<pg::NoticeResponse>(msg)) {
        pg::encode(msg, up.to_client);
        continue;
      }
      throw UpstreamError("the database sent an unexpected message before it was ready");
    }
    // Questions for the server before the client can send anything. Each answer's rows, per statement.
    auto ask = [&](const std::string& sql, const char* what) -> net::awaitable<std::vector<std::vector<pg::DataRow>>> {
      std::string question;
      pg::encode(pg::FrontendMessage{pg::Query{sql}}, question);
      co_await up.transport.writeAll(asio::buffer(question));
      std::vector<std::vector<pg::DataRow>> results(1);
      for (;;) {
        auto msg = co_await reader.next();
        if (auto* e = std::get_if<pg::ErrorResponse>(&msg))
          throw UpstreamError(fmt::format("the database at {} did not tell {}: {}", where, what, serverMessage(*e)));
        if (auto* row = std::get_if<pg::DataRow>(&msg)) {
          results.back().push_back(std::move(*row));
          continue;
        }
        if (std::holds_alternative<pg::CommandComplete>(msg)) {
          results.emplace_back();
          continue;
        }
        if (auto* z = std::get_if<pg::ReadyForQuery>(&msg)) {
          up.transaction_status = z->status;
          break;
        }
        if (std::holds_alternative<pg::NoticeResponse>(msg) || std::holds_alternative<pg::ParameterStatus>(msg))
          pg::encode(msg, up.to_client);
      }
      co_return results;
    };
    if (profile.guardrails) {
      // The guardrails resolve unqualified names in the session's search_path: ask the server what it is (a
      // per-role or per-database default may have changed it).
      const auto results = co_await ask("SELECT current_setting('search_path'), session_user", "its search_path");
      const auto& rows = results.front();
      if (rows.size() != 1 || rows[0].values.size() != 2 || !rows[0].values[0] || !rows[0].values[1])
        throw UpstreamError(fmt::format("the database at {} did not tell its search_path", where));
      up.search_path = parseSearchPath(*rows[0].values[0], *rows[0].values[1]);
    }
    if (profile.masking) {
      // Column rules are matched against the catalog: which relations hold the columns they name, and which
      // views use those columns.
      const auto patterns = profile.masking->columnNamePatterns();
      if (!patterns.empty()) {
        const auto results = co_await ask(masking::catalogQuery(patterns, profile.masking->anyTableWildcard()),
                                          "its catalog for masking");
        auto num = [](const std::optional<std::string>& v) -> int64_t {
          return v ? std::strtoll(v->c_str(), nullptr, 10) : 0;
        };
        if (results.size() < 2) throw UpstreamError(fmt::format("the database at {} did not tell its catalog", where));
        for (const auto& row : results[0]) {
          if (row.values.size() != 6) continue;
          up.catalog_columns.push_back(masking::CatalogColumn{
              .rel_oid = static_cast<uint32_t>(num(row.values[0])), .attnum = static_cast<int16_t>(num(row.values[3])),
              .schema = row.values[1].value_or(""), .table = row.values[2].value_or(""),
              .column = row.values[4].value_or(""), .columns = static_cast<int16_t>(num(row.values[5]))});
        }
        for (const auto& row : results[1]) {
          if (row.values.size() != 3) continue;
          up.view_dependencies.push_back(masking::ViewDependency{.view_oid = static_cast<uint32_t>(num(row.values[0])),
                                                                 .ref_oid = static_cast<uint32_t>(num(row.values[1])),
                                                                 .ref_attnum = static_cast<int16_t>(num(row.values[2]))});
        }
      }
    }
    up.leftover = reader.leftover();
  } catch (const boost::system::system_error& e) {
    if (deadline.expired()) throw UpstreamError(fmt::format("timed out logging in to the database at {}", where));
    throw UpstreamError(fmt::format("lost the connection to the database at {} during login: {}", where,
                                    e.code().message()));
  }
  co_return up;
}

net::awaitable<void> sendCancel(std::string host, uint16_t port, int32_t pid, int32_t key) {
  auto ex = co_await asio::this_coro::executor;
  net::tcp::resolver resolver(ex);
  net::tcp::socket socket(ex);
  net::error_code ec;
  auto endpoints = co_await resolver.async_resolve(host, std::to_string(port), asio::redirect_error(net::use_awaitable, ec));
  if (ec) co_return;
  net::Transport t(std::move(socket));
  net::Deadline deadline(ex, 5s, t);
  co_await asio::async_connect(t.socket(), endpoints, asio::redirect_error(net::use_awaitable, ec));
  if (ec) co_return;
  std::string out;
  pg::encode(pg::StartupPacket{pg::CancelRequest{pid, key}}, out);
  co_await asio::async_write(t.socket(), asio::buffer(out), asio::redirect_error(net::use_awaitable, ec));
  // The server closes the connection when it has processed the request; wait for that so that the cancel is
  // delivered before we report back.
  char byte = 0;
  co_await t.socket().async_read_some(asio::buffer(&byte, 1), asio::redirect_error(net::use_awaitable, ec));
}

}  // namespace gatehouse::gateway
