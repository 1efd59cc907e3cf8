// The store: tokens, recorded sessions and statements, and the indexer's progress through the event logs.
// An interface so that SQL stays behind it (SQLite now, PostgreSQL for scale-out later). Every call returns a
// Result and never throws: a store that cannot be written makes the gateway refuse work (fail closed).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "store/records.h"

namespace gatehouse::store {

class Store {
 public:
  virtual ~Store() = default;

  // Tokens. The store sees only the hash of a token's secret (see identity/tokens.h).
  virtual Result<TokenInfo> createToken(std::string_view user, const std::vector<std::string>& groups,
                                        std::string_view token_hash) = 0;
  virtual Result<std::optional<TokenInfo>> findTokenByHash(std::string_view token_hash) = 0;
  virtual Result<std::vector<TokenInfo>> listTokens() = 0;
  // Revoking a revoked token succeeds and keeps the first revocation time; an unknown id is an error.
  virtual Result<void> revokeToken(std::string_view id) = 0;

  // Recorded activity, newest first.
  virtual Result<std::vector<SessionRow>> listSessions(const SessionFilter& filter) = 0;
  virtual Result<std::vector<StatementRow>> listStatements(const StatementFilter& filter) = 0;

  // Indexer progress: the byte offset up to which the log file `log_name` (a file name, not a path) has been
  // applied; 0 for a file never seen.
  virtual Result<uint64_t> getLogOffset(std::string_view log_name) = 0;
  // Applies `changes` and moves the file's offset from `from_offset` to `to_offset` in one transaction, so a
  // crash neither loses a batch nor applies it twice. Returns false (and changes nothing) when the stored offset
  // is no longer `from_offset` because another indexer (the server's, or a CLI command's) got there first.
  virtual Result<bool> applyLogBatch(std::string_view log_name, uint64_t from_offset, uint64_t to_offset,
                                     std::span<const RecordChange> changes) = 0;
};

}  // namespace gatehouse::store
