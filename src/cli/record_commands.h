// The CLI commands that read and manage what the gateway persists: access tokens, recorded sessions, the audit
// trail of statements. Each opens the store at config.store_path; sessions and audit first index
// config.recording_dir, so statements logged by a gateway that died before indexing them still show.
// Output: aligned tables for people, JSON arrays (--json) for machines. Return 0 on success, 1 on failure
// (with the reason on stderr).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "store/store.h"

namespace gatehouse::cli {

struct SessionQuery {
  size_t limit = 50;  // 0: no limit
  std::optional<std::string> user;
  std::optional<std::string> connection;
};

struct AuditQuery {
  size_t limit = 50;  // 0: no limit
  std::optional<std::string> session_id;
  std::optional<std::string> user;
  std::optional<std::string> connection;
  // As typed by the user: "2024-05-01", "2024-05-01T12:00:00Z", or an age such as "30m", "2h", "7d".
  std::optional<std::string> since;
};

// The store at config.store_path; null (with the reason on stderr) when it cannot be opened.
std::unique_ptr<store::Store> openStore(const core::Config& config);

// Prints only the secret on stdout (one line), so that `TOKEN=$(gatehouse token create …)` works; with json,
// {"id","token","user","groups"}. Hints go to stderr.
int runTokenCreate(const core::Config& config, std::string user, std::vector<std::string> groups, bool json);
int runTokenList(const core::Config& config, bool json);
int runTokenRevoke(const core::Config& config, std::string id);
int runSessions(const core::Config& config, const SessionQuery& query, bool json);
int runAudit(const core::Config& config, const AuditQuery& query, bool json);
// Reviews: those waiting (all of them with `all`), newest first.
int runReviews(const core::Config& config, bool all, bool json);
// Approves or rejects a review as the owner of `token` (an access token, from --token or $GATEHOUSE_TOKEN).
int runDecideReview(const core::Config& config, const std::string& id, bool approve, const std::string& reason,
                    const std::string& token, bool json);

}  // namespace gatehouse::cli
