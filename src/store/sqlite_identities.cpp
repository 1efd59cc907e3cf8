// Service accounts, keys and issued session tokens in SQLite; see sqlite_identities.h.
#include "store/sqlite_identities.h"

#include <map>

#include "store/sqlite_values.h"

namespace gatehouse::store::sqlite {

namespace {

bool exists(Database& db, const char* sql, std::string_view key, Result<void>& error) {
  auto q = db.query(sql);
  if (!q) {
    error = q.error();
    return false;
  }
  q->bind(1, key);
  auto row = q->step();
  if (!row) {
    error = row.error();
    return false;
  }
  return *row;
}

constexpr const char* kTokenColumns =
    "token_id, subject, groups_json, source, issued_at_us, expires_at_us, revoked_at_us";

Result<SessionTokenRow> readSessionToken(const Cursor& c) {
  auto groups = namesFromJson(c.text(2), "session token groups");
  if (!groups) return groups.error();
  return SessionTokenRow{.id = c.text(0),
                         .subject = c.text(1),
                         .groups = std::move(*groups),
                         .source = c.text(3),
                         .issued_at_us = c.integer(4),
                         .expires_at_us = c.integer(5),
                         .revoked_at_us = c.optionalInteger(6)};
}

}  // namespace

Result<ServiceAccountRow> createServiceAccount(Database& db, std::string_view name,
                                               const std::vector<std::string>& groups, int64_t now_us) {
  auto q = db.query("INSERT INTO service_accounts (name, groups_json, created_at_us) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT (name) DO NOTHING");
  if (!q) return q.error();
  q->bind(1, name);
  q->bind(2, std::string_view(namesToJson(groups)));
  q->bind(3, now_us);
  if (auto r = q->run(); !r) return makeError("cannot store service account: " + r.error().message);
  if (db.changes() == 0) return makeError("a service account named '" + std::string(name) + "' exists already");
  return ServiceAccountRow{.name = std::string(name), .groups = groups, .created_at_us = now_us, .keys = {}};
}

Result<std::vector<ServiceAccountRow>> listServiceAccounts(Database& db) {
  std::vector<ServiceAccountRow> out;
  std::map<std::string, std::size_t, std::less<>> index;
  {
    auto q = db.query("SELECT name, groups_json, created_at_us FROM service_accounts ORDER BY name");
    if (!q) return q.error();
    for (;;) {
      auto row = q->step();
      if (!row) return row.error();
      if (!*row) break;
      auto groups = namesFromJson(q->text(1), "service account groups");
      if (!groups) return groups.error();
      index[q->text(0)] = out.size();
      out.push_back(ServiceAccountRow{.name = q->text(0), .groups = std::move(*groups),
                                      .created_at_us = q->integer(2), .keys = {}});
    }
  }
  auto q = db.query("SELECT key_id, account, created_at_us, revoked_at_us FROM service_account_keys "
                    "ORDER BY created_at_us, key_id");
  if (!q) return q.error();
  for (;;) {
    auto row = q->step();
    if (!row) return row.error();
    if (!*row) break;
    if (auto it = index.find(q->text(1)); it != index.end())
      out[it->second].keys.push_back(ServiceAccountKey{
          .id = q->text(0), .created_at_us = q->integer(2), .revoked_at_us = q->optionalInteger(3)});
  }
  return out;
}

Result<ServiceAccountKey> addServiceAccountKey(Database& db, std::string_view account, std::string_view key_hash,
                                               bool revoke_others, int64_t now_us) {
  auto id = newId("sak_");
  if (!id) return id.error();
  auto txn = Transaction::begin(db);
  if (!txn) return txn.error();
  Result<void> error;
  if (!exists(db, "SELECT 1 FROM service_accounts WHERE name = ?1", account, error)) {
    if (!error) return error.error();
    return makeError("no service account named '" + std::string(account) + "'");
  }
  if (revoke_others) {
    auto q = db.query("UPDATE service_account_keys SET revoked_at_us = ?2 WHERE account = ?1 AND revoked_at_us IS NULL");
    if (!q) return q.error();
    q->bind(1, account);
    q->bind(2, now_us);
    if (auto r = q->run(); !r) return r.error();
  }
  auto q = db.query(
      "INSERT INTO service_account_keys (key_id, account, key_hash, created_at_us) VALUES (?1, ?2, ?3, ?4)");
  if (!q) return q.error();
  q->bind(1, std::string_view(*id));
  q->bind(2, account);
  q->bind(3, key_hash);
  q->bind(4, now_us);
  if (auto r = q->run(); !r) return makeError("cannot store service account key: " + r.error().message);
  if (auto r = txn->commit(); !r) return r.error();
  return ServiceAccountKey{.id = std::move(*id), .created_at_us = now_us, .revoked_at_us = std::nullopt};
}

Result<std::optional<ServiceAccountKeyInfo>> findServiceAccountKey(Database& db, std::string_view key_hash) {
  auto q = db.query(
      "SELECT k.key_id, k.account, a.groups_json, k.revoked_at_us FROM service_account_keys k "
      "JOIN service_accounts a ON a.name = k.account WHERE k.key_hash = ?1");
  if (!q) return q.error();
  q->bind(1, key_hash);
  auto row = q->step();
  if (!row) return row.error();
  if (!*row) return std::optional<ServiceAccountKeyInfo>();
  auto groups = namesFromJson(q->text(2), "service account groups");
  if (!groups) return groups.error();
  return std::optional<ServiceAccountKeyInfo>(ServiceAccountKeyInfo{
      .key_id = q->text(0), .account = q->text(1), .groups = std::move(*groups),
      .revoked_at_us = q->optionalInteger(3)});
}

Result<void> revokeServiceAccountKey(Database& db, std::string_view key_id, int64_t now_us) {
  auto q = db.query("UPDATE service_account_keys SET revoked_at_us = COALESCE(revoked_at_us, ?2) WHERE key_id = ?1");
  if (!q) return q.error();
  q->bind(1, key_id);
  q->bind(2, now_us);
  if (auto r = q->run(); !r) return r.error();
  if (db.changes() == 0) return makeError("no service account key with id " + std::string(key_id));
  return {};
}

Result<void> recordSessionToken(Database& db, const SessionTokenRow& t) {
  auto q = db.query(
      "INSERT INTO session_tokens (token_id, subject, groups_json, source, issued_at_us, expires_at_us) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  if (!q) return q.error();
  q->bind(1, std::string_view(t.id));
  q->bind(2, std::string_view(t.subject));
  q->bind(3, std::string_view(namesToJson(t.groups)));
  q->bind(4, std::string_view(t.source));
  q->bind(5, t.issued_at_us);
  q->bind(6, t.expires_at_us);
  if (auto r = q->run(); !r) return makeError("cannot record session token: " + r.error().message);
  return {};
}

Result<std::vector<SessionTokenRow>> listSessionTokens(Database& db, bool active_only, int64_t now_us) {
  auto q = db.query(std::string("SELECT ") + kTokenColumns +
                    " FROM session_tokens WHERE ?1 = 0 OR (revoked_at_us IS NULL AND expires_at_us > ?2) "
                    "ORDER BY issued_at_us DESC, token_id");
  if (!q) return q.error();
  q->bind(1, int64_t{active_only ? 1 : 0});
  q->bind(2, now_us);
  std::vector<SessionTokenRow> out;
  for (;;) {
    auto row = q->step();
    if (!row) return row.error();
    if (!*row) return out;
    auto t = readSessionToken(*q);
    if (!t) return t.error();
    out.push_back(std::move(*t));
  }
}

Result<void> revokeSessionToken(Database& db, std::string_view id, int64_t now_us) {
  auto q = db.query("UPDATE session_tokens SET revoked_at_us = COALESCE(revoked_at_us, ?2) WHERE token_id = ?1");
  if (!q) return q.error();
  q->bind(1, id);
  q->bind(2, now_us);
  if (auto r = q->run(); !r) return r.error();
  if (db.changes() == 0) return makeError("no session token with id " + std::string(id));
  return {};
}

Result<std::optional<SessionTokenRow>> findSessionToken(Database& db, std::string_view id) {
  auto q = db.query(std::string("SELECT ") + kTokenColumns + " FROM session_tokens WHERE token_id = ?1");
  if (!q) return q.error();
  q->bind(1, id);
  auto row = q->step();
  if (!row) return row.error();
  if (!*row) return std::optional<SessionTokenRow>();
  auto t = readSessionToken(*q);
  if (!t) return t.error();
  return std::optional<SessionTokenRow>(std::move(*t));
}

}  // namespace gatehouse::store::sqlite
