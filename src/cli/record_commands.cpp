// The token, sessions and audit commands; see record_commands.h.
#include "cli/record_commands.h"

#include <boost/json.hpp>
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>

#include "cli/record_format.h"
#include "api/review_json.h"
#include "identity/tokens.h"
#include "recording/indexer.h"
#include "store/sqlite_store.h"

namespace gatehouse::cli {

namespace {

namespace json = boost::json;

// Room for the SQL column in a table; the full text is in --json output.
constexpr size_t kSqlWidth = 60;

int64_t nowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Brings the store up to date with the event logs. A failure is reported but not fatal: what is already indexed
// is still worth showing.
void indexRecordings(const core::Config& config, store::Store& s) {
  if (config.recording_dir.empty()) {
    return;
  }
  recording::Indexer indexer(s, config.recording_dir);
  auto r = indexer.catchUp();
  if (!r) {
    std::cerr << "warning: could not index recordings, the list may be incomplete: " << r.error().message << '\n';
  }
  if (indexer.corruptLines() > 0) {
    std::cerr << "warning: skipped " << indexer.corruptLines() << " corrupt line(s) in " << config.recording_dir
              << '\n';
  }
}

json::value optionalTime(const std::optional<int64_t>& us) {
  return us ? json::value(isoUtc(*us, true)) : json::value(nullptr);
}

json::value optionalInt(const std::optional<int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); }

void printJson(const json::value& v) { std::cout << json::serialize(v) << '\n'; }

// [{"rule","column","count"}, …]
json::array maskedJson(const std::vector<store::MaskedCount>& masked) {
  json::array out;
  for (const auto& m : masked) {
    out.emplace_back(json::object{{"rule", m.rule}, {"column", m.column}, {"count", m.count}});
  }
  return out;
}

// All the values masked, for a table cell; empty when none.
std::string maskedTotal(const std::vector<store::MaskedCount>& masked) {
  uint64_t total = 0;
  for (const auto& m : masked) {
    total += m.count;
  }
  return total == 0 ? std::string() : std::to_string(total);
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) {
    out += out.empty() ? "" : ",";
    out += i;
  }
  return out;
}

}  // namespace

std::unique_ptr<store::Store> openStore(const core::Config& config) {
  if (config.store_path.empty()) {
    std::cerr << "error: no store path configured (store_path)\n";
    return nullptr;
  }
  auto s = store::openSqliteStore(config.store_path);
  if (!s) {
    std::cerr << "error: " << s.error().message << '\n';
    return nullptr;
  }
  return std::move(*s);
}

int runTokenCreate(const core::Config& config, std::string user, std::vector<std::string> groups, bool json) {
  auto s = openStore(config);
  if (!s) {
    return 1;
  }
  auto issued = identity::issueToken(*s, user, groups);
  if (!issued) {
    std::cerr << "error: cannot create token: " << issued.error().message << '\n';
    return 1;
  }
  if (json) {
    json::array g;
    for (const auto& group : groups) {
      g.emplace_back(group);
    }
    printJson(json::object{{"id", issued->id}, {"token", issued->secret}, {"user", user}, {"groups", std::move(g)}});
  } else {
    std::cout << issued->secret << '\n';
  }
  std::cerr << "Created token " << issued->id << " for " << user
            << (groups.empty() ? std::string() : " (groups: " + joined(groups) + ")")
            << ". It is shown only once: store it now. Revoke with `gatehouse token revoke " << issued->id
            << "`.\n";
  return 0;
}

int runTokenList(const core::Config& config, bool json) {
  auto s = openStore(config);
  if (!s) {
    return 1;
  }
  auto tokens = s->listTokens();
  if (!tokens) {
    std::cerr << "error: cannot list tokens: " << tokens.error().message << '\n';
    return 1;
  }
  if (json) {
    json::array out;
    for (const auto& t : *tokens) {
      json::array g;
      for (const auto& group : t.groups) {
        g.emplace_back(group);
      }
      out.emplace_back(json::object{{"id", t.id},
                                    {"user", t.user},
                                    {"groups", std::move(g)},
                                    {"created_at", isoUtc(t.created_at_us, true)},
                                    {"created_at_us", t.created_at_us},
                                    {"revoked_at", optionalTime(t.revoked_at_us)},
                                    {"revoked_at_us", optionalInt(t.revoked_at_us)}});
    }
    printJson(out);
    return 0;
  }
  if (tokens->empty()) {
    std::cerr << "No tokens. Create one with `gatehouse token create --user NAME`.\n";
    return 0;
  }
  Table table({"ID", "USER", "GROUPS", "CREATED", "STATUS"});
  for (const auto& t : *tokens) {
    table.add({t.id, cell(t.user), cell(joined(t.groups)), isoUtc(t.created_at_us, false),
               t.revoked_at_us ? "revoked " + isoUtc(*t.revoked_at_us, false) : "active"});
  }
  table.print(std::cout);
  return 0;
}

int runTokenRevoke(const core::Config& config, std::string id) {
  auto s = openStore(config);
  if (!s) {
    return 1;
  }
  // A session token's id ("gst_…") or an access token's ("tok_…").
  if (auto r = id.starts_with("gst_") ? s->revokeSessionToken(id) : s->revokeToken(id); !r) {
    std::cerr << "error: cannot revoke token: " << r.error().message << '\n';
    return 1;
  }
  std::cout << "revoked " << id << '\n';
  return 0;
}

int runSessions(const core::Config& config, const SessionQuery& query, bool json) {
  auto s = openStore(config);
  if (!s) {
    return 1;
  }
  indexRecordings(config, *s);
  auto sessions = s->listSessions({.limit = query.limit, .user = query.user, .connection = query.connection});
  if (!sessions) {
    std::cerr << "error: cannot list sessions: " << sessions.error().message << '\n';
    return 1;
  }
  if (json) {
    json::array out;
    for (const auto& r : *sessions) {
      out.emplace_back(json::object{{"session_id", r.session_id},
                                    {"user", r.user},
                                    {"connection", r.connection},
                                    {"client_addr", r.client_addr},
                                    {"tls", r.tls},
                                    {"started_at", isoUtc(r.started_at_us, true)},
                                    {"started_at_us", r.started_at_us},
                                    {"ended_at", optionalTime(r.ended_at_us)},
                                    {"ended_at_us", optionalInt(r.ended_at_us)},
                                    {"end_reason", r.end_reason},
                                    {"bytes_from_client", r.bytes_from_client},
                                    {"bytes_from_server", r.bytes_from_server},
                                    {"statements", r.statements},
                                    {"masked", maskedJson(r.masked)}});
    }
    printJson(out);
    return 0;
  }
  if (sessions->empty()) {
    std::cerr << "No sessions recorded" << (query.user || query.connection ? " that match" : "") << ".\n";
    return 0;
  }
  Table table({"SESSION", "USER", "CONNECTION", "CLIENT", "STARTED", "DURATION", "STMTS", "MASKED", "IN", "OUT",
               "END"});
  for (const auto& r : *sessions) {
    table.add({cell(r.session_id), cell(r.user), cell(r.connection), cell(r.client_addr),
               isoUtc(r.started_at_us, false), r.ended_at_us ? humanDuration(*r.ended_at_us - r.started_at_us) : "-",
               std::to_string(r.statements), maskedTotal(r.masked), humanBytes(r.bytes_from_client),
               humanBytes(r.bytes_from_server),
               r.ended_at_us ? cell(r.end_reason.empty() ? "closed" : r.end_reason) : "open"});
  }
  table.print(std::cout);
  return 0;
}

int runAudit(const core::Config& config, const AuditQuery& query, bool json) {
  std::optional<int64_t> since_us;
  if (query.since) {
    auto t = parseSince(*query.since, nowUs());
    if (!t) {
      std::cerr << "error: --since: " << t.error().message << '\n';
      return 1;
    }
    since_us = *t;
  }
  auto s = openStore(config);
  if (!s) {
    return 1;
  }
  indexRecordings(config, *s);
  auto rows = s->listStatements({.limit = query.limit, .session_id = query.session_id, .user = query.user,
                                 .connection = query.connection, .since_us = since_us});
  if (!rows) {
    std::cerr << "error: cannot list statements: " << rows.error().message << '\n';
    return 1;
  }
  if (json) {
    json::array out;
    for (const auto& r : *rows) {
      out.emplace_back(json::object{{"session_id", r.session_id},
                                    {"seq", r.seq},
                                    {"user", r.user},
                                    {"connection", r.connection},
                                    {"client_addr", r.client_addr},
                                    {"protocol", r.protocol},
                                    {"sql", r.sql},
                                    {"started_at", isoUtc(r.started_at_us, true)},
                                    {"started_at_us", r.started_at_us},
                                    {"duration_us", r.duration_us},
                                    {"status", r.status},
                                    {"tag", r.tag},
                                    {"rows", r.rows},
                                    {"masked", maskedJson(r.masked)},
                                    {"sqlstate", r.sqlstate},
                                    {"error_message", r.error_message},
                                    {"review_id", r.review_id.empty() ? json::value(nullptr) : json::value(r.review_id)},
                                    {"review_status",
                                     r.review_id.empty() ? json::value(nullptr) : json::value(r.review_status)}});
    }
    printJson(out);
    return 0;
  }
  if (rows->empty()) {
    std::cerr << "No statements recorded"
              << (query.session_id || query.user || query.connection || query.since ? " that match" : "") << ".\n";
    return 0;
  }
  Table table(
      {"TIME", "SESSION", "SEQ", "USER", "CONNECTION", "STATUS", "DURATION", "ROWS", "MASKED", "REVIEW", "SQL"});
  for (const auto& r : *rows) {
    // The SQLSTATE says what kind of error; the message is in --json (it would crowd out the SQL column).
    const std::string status = r.status == "error" && !r.sqlstate.empty() ? "error " + cell(r.sqlstate) : r.status;
    table.add({isoUtc(r.started_at_us, false), cell(r.session_id), std::to_string(r.seq), cell(r.user),
               cell(r.connection), status, r.status == "running" ? "-" : humanDuration(r.duration_us),
               r.status == "ok" ? std::to_string(r.rows) : "-", maskedTotal(r.masked),
               r.review_id.empty() ? "-" : r.review_id + " (" + r.review_status + ")", cell(r.sql, kSqlWidth)});
  }
  table.print(std::cout);
  return 0;
}

int runReviews(const core::Config& config, bool all, bool json) {
  auto s = openStore(config);
  if (!s) return 1;
  auto reviews = s->listReviews(!all, nowUs());
  if (!reviews) {
    std::cerr << "error: cannot list reviews: " << reviews.error().message << '\n';
    return 1;
  }
  if (json) {
    json::array out;
    for (const auto& r : *reviews) out.emplace_back(api::reviewToJson(r));
    printJson(out);
    return 0;
  }
  if (reviews->empty()) {
    std::cerr << (all ? "No reviews.\n" : "No review is waiting. `gatehouse reviews --all` lists decided ones too.\n");
    return 0;
  }
  Table table({"ID", "STATUS", "REQUESTER", "CONNECTION", "RULE", "APPROVALS", "CREATED", "SQL"});
  for (const auto& r : *reviews) {
    const auto approvals = std::count_if(r.decisions.begin(), r.decisions.end(),
                                         [](const store::ReviewDecision& d) { return d.approved; });
    table.add({r.id, r.status, cell(r.request.requester), cell(r.request.connection), cell(r.request.rule),
               std::to_string(approvals) + "/" + std::to_string(r.request.approvals_needed),
               isoUtc(r.created_at_us, false), cell(r.request.sql, kSqlWidth)});
  }
  table.print(std::cout);
  if (!all) std::cerr << "Approve with `gatehouse approve ID`, or reject with `gatehouse reject ID --reason TEXT`.\n";
  return 0;
}

int runDecideReview(const core::Config& config, const std::string& id, bool approve, const std::string& reason,
                    const std::string& token, bool json) {
  if (token.empty()) {
    std::cerr << "error: who decides? Give your access token with --token or in GATEHOUSE_TOKEN\n";
    return 2;
  }
  if (!approve && reason.empty()) {
    std::cerr << "error: a rejection needs --reason (the requester sees it)\n";
    return 2;
  }
  auto s = openStore(config);
  if (!s) return 1;
  auto who = identity::identifyToken(*s, token);
  if (!who) {
    std::cerr << "error: the token was refused: " << who.error().message << '\n';
    return 1;
  }
  auto decided = s->decideReview(id, who->user, who->groups, approve, reason, nowUs());
  if (!decided) {
    std::cerr << "error: " << decided.error().message << '\n';
    return 1;
  }
  if (json) {
    printJson(api::reviewToJson(*decided));
    return 0;
  }
  const auto approvals = std::count_if(decided->decisions.begin(), decided->decisions.end(),
                                       [](const store::ReviewDecision& d) { return d.approved; });
  if (decided->status == store::kReviewApproved) {
    std::cout << "Review " << decided->id << " approved by " << who->user << ". " << decided->request.requester
              << " may run the statement once"
              << (decided->request.mode == "wait" ? " (the held statement runs now).\n"
                                                  : ", by sending it again, until " +
                                                        isoUtc(*decided->usable_until_us, false) + ".\n");
  } else if (decided->status == store::kReviewRejected) {
    std::cout << "Review " << decided->id << " rejected by " << who->user << ".\n";
  } else {
    std::cout << "Approval by " << who->user << " recorded for review " << decided->id << ": " << approvals << " of "
              << decided->request.approvals_needed << " approvals.\n";
  }
  return 0;
}

}  // namespace gatehouse::cli
