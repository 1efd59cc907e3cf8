// Service accounts and issued session tokens from the command line; see identity_commands.h.
#include "cli/identity_commands.h"

#include <boost/json.hpp>

#include <chrono>
#include <iostream>

#include "cli/record_commands.h"
#include "cli/record_format.h"
#include "identity/service_accounts.h"

namespace gatehouse::cli {

namespace {

namespace json = boost::json;

json::array toJson(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& i : items) out.emplace_back(i);
  return out;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

int printIssued(const identity::IssuedServiceKey& key, const std::vector<std::string>& groups, bool json,
                std::string_view what) {
  if (json) {
    std::cout << json::serialize(json::object{{"account", key.account},
                                              {"key_id", key.key_id},
                                              {"key", key.secret},
                                              {"groups", toJson(groups)}})
              << '\n';
  } else {
    std::cout << key.secret << '\n';
  }
  std::cerr << what << " key " << key.key_id << " for service account " << key.account
            << ". It is shown only once: store it now. Exchange it for a session token with POST /api/token "
               "(Authorization: Bearer KEY); revoke it with `gatehouse serviceaccount revoke "
            << key.key_id << "`.\n";
  return 0;
}

}  // namespace

int runServiceAccountCreate(const core::Config& config, const std::string& name, const std::vector<std::string>& groups,
                            bool json) {
  auto s = openStore(config);
  if (!s) return 1;
  auto key = identity::createServiceAccount(*s, name, groups);
  if (!key) {
    std::cerr << "error: cannot create service account: " << key.error().message << '\n';
    return 1;
  }
  return printIssued(*key, groups, json, "Created service account " + name + " (groups: " + joined(groups) + ") with");
}

int runServiceAccountRotate(const core::Config& config, const std::string& name, bool keep_old, bool json) {
  auto s = openStore(config);
  if (!s) return 1;
  auto accounts = s->listServiceAccounts();
  if (!accounts) {
    std::cerr << "error: " << accounts.error().message << '\n';
    return 1;
  }
  std::vector<std::string> groups;
  for (const auto& a : *accounts)
    if (a.name == name) groups = a.groups;
  auto key = identity::rotateServiceAccountKey(*s, name, keep_old);
  if (!key) {
    std::cerr << "error: cannot rotate the key: " << key.error().message << '\n';
    return 1;
  }
  return printIssued(*key, groups, json, keep_old ? "Added" : "Rotated: the other keys are revoked; new");
}

int runServiceAccountRevoke(const core::Config& config, const std::string& key_id) {
  auto s = openStore(config);
  if (!s) return 1;
  if (auto r = s->revokeServiceAccountKey(key_id); !r) {
    std::cerr << "error: cannot revoke the key: " << r.error().message << '\n';
    return 1;
  }
  std::cout << "revoked " << key_id << '\n';
  std::cerr << "Session tokens already issued for this key stay valid until they expire; revoke them with "
               "`gatehouse token revoke ID` (`gatehouse token sessions` lists them).\n";
  return 0;
}

int runServiceAccountList(const core::Config& config, bool json) {
  auto s = openStore(config);
  if (!s) return 1;
  auto accounts = s->listServiceAccounts();
  if (!accounts) {
    std::cerr << "error: cannot list service accounts: " << accounts.error().message << '\n';
    return 1;
  }
  if (json) {
    json::array out;
    for (const auto& a : *accounts) {
      json::array keys;
      for (const auto& k : a.keys)
        keys.emplace_back(json::object{{"id", k.id},
                                       {"created_at", isoUtc(k.created_at_us, true)},
                                       {"revoked_at", k.revoked_at_us ? json::value(isoUtc(*k.revoked_at_us, true))
                                                                      : json::value(nullptr)}});
      out.emplace_back(json::object{{"name", a.name},
                                    {"groups", toJson(a.groups)},
                                    {"created_at", isoUtc(a.created_at_us, true)},
                                    {"keys", std::move(keys)}});
    }
    std::cout << json::serialize(out) << '\n';
    return 0;
  }
  if (accounts->empty()) {
    std::cerr << "No service accounts. Create one with `gatehouse serviceaccount create NAME --groups G`.\n";
    return 0;
  }
  Table table({"ACCOUNT", "GROUPS", "KEY", "CREATED", "STATUS"});
  for (const auto& a : *accounts) {
    if (a.keys.empty()) table.add({cell(a.name), cell(joined(a.groups)), "-", isoUtc(a.created_at_us, false), "-"});
    for (const auto& k : a.keys)
      table.add({cell(a.name), cell(joined(a.groups)), k.id, isoUtc(k.created_at_us, false),
                 k.revoked_at_us ? "revoked " + isoUtc(*k.revoked_at_us, false) : "active"});
  }
  table.print(std::cout);
  return 0;
}

int runSessionTokenList(const core::Config& config, bool all, bool json) {
  auto s = openStore(config);
  if (!s) return 1;
  const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  auto tokens = s->listSessionTokens(!all, now);
  if (!tokens) {
    std::cerr << "error: cannot list session tokens: " << tokens.error().message << '\n';
    return 1;
  }
  auto status = [&](const store::SessionTokenRow& t) -> std::string {
    if (t.revoked_at_us) return "revoked " + isoUtc(*t.revoked_at_us, false);
    return t.expires_at_us <= now ? "expired" : "active";
  };
  if (json) {
    json::array out;
    for (const auto& t : *tokens)
      out.emplace_back(json::object{{"id", t.id},
                                    {"subject", t.subject},
                                    {"groups", toJson(t.groups)},
                                    {"source", t.source},
                                    {"issued_at", isoUtc(t.issued_at_us, true)},
                                    {"expires_at", isoUtc(t.expires_at_us, true)},
                                    {"status", status(t)}});
    std::cout << json::serialize(out) << '\n';
    return 0;
  }
  if (tokens->empty()) {
    std::cerr << (all ? "No session tokens issued.\n" : "No active session tokens (--all lists every one).\n");
    return 0;
  }
  Table table({"ID", "SUBJECT", "GROUPS", "SOURCE", "EXPIRES", "STATUS"});
  for (const auto& t : *tokens)
    table.add({t.id, cell(t.subject), cell(joined(t.groups)), cell(t.source), isoUtc(t.expires_at_us, false),
               status(t)});
  table.print(std::cout);
  return 0;
}

}  // namespace gatehouse::cli
