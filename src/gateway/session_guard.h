// SessionGuard: the SQL guardrails for one PostgreSQL session. Judges each Query's and Parse's SQL (through the
// worker's cache of analyzed SQL and the connection's rules), follows the session's search_path, and runs the
// review side: an approved review lets its statement run once; async mode refuses at once with the review's id;
// wait mode holds the statement while the session polls holdOutcome(). No I/O but the store.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/metrics.h"
#include "policy/guardrails.h"
#include "store/store.h"

namespace gatehouse::gateway {

struct SessionIdentity {
  std::string session_id;
  std::string user;
  std::string connection;
  std::vector<std::string> groups;
  std::string upstream_user;  // what "$user" in a search_path stands for
};

class SessionGuard {
 public:
  SessionGuard(const policy::Guardrails& rules, store::Store& store, Metrics& metrics, SessionIdentity who,
               std::vector<std::string> search_path);

  struct Decision {
    enum class Kind { kAllow, kRefuse, kHold };
    Kind kind = Kind::kAllow;
    std::string refusal;    // kRefuse: the whole ErrorResponse message for the client
    std::string review_id;  // kHold
  };

  // Where the SQL is judged. A Parse or a PREPARE runs nothing: a deny refuses it, a review waits for the
  // statement's Execute (EXECUTE), where it is asked each time.
  enum class Stage { kQuery, kParse, kExecute };
  // `lone`: nothing else is in flight and no transaction block is open, so that a SET search_path in it certainly
  // takes effect and stays. `seq`: the statement's number in the session's record (0 when not known yet), linked
  // to any review it asks for or runs under.
  Decision judge(std::string_view sql, Stage stage, bool lone, uint64_t seq);

  // A held statement's review, asked again: nullopt while it waits; an empty string when approved (it may run:
  // the approval is used now); else the ErrorResponse for the client (rejected, expired, or a store failure).
  std::optional<std::string> holdOutcome(const std::string& review_id, uint64_t seq);
  // The ErrorResponse for a held statement given up (the client cancelled it).
  std::string cancelled(const std::string& review_id);

  const std::vector<std::string>& searchPath() const { return search_path_; }

 private:
  Decision review(const policy::Verdict& v, std::string_view sql, const std::string& detail, uint64_t seq);
  void followSearchPath(const std::vector<inspect::sql::StatementFacts>& facts, bool simple, bool lone);
  // What runs, when it differs from the statements as sent: an EXECUTE of a statement PREPAREd in this session is
  // judged as that statement (with the EXECUTE's own parameters). nullopt (no copy, the common case): judge the
  // statements as they are.
  std::optional<std::vector<inspect::sql::StatementFacts>> executed(
      const std::vector<inspect::sql::StatementFacts>& facts) const;
  void followPrepared(const std::vector<inspect::sql::StatementFacts>& facts);

  const policy::Guardrails& rules_;
  store::Store& store_;
  Metrics& metrics_;
  SessionIdentity who_;
  std::vector<std::string> search_path_;  // empty: unknown (any schema)
  std::vector<std::string> default_search_path_;
  // SQL-level prepared statements (PREPARE name AS ...): what each will do when EXECUTEd.
  std::map<std::string, inspect::sql::StatementFacts, std::less<>> prepared_;
};

// What identifies "the same statement, by the same identity, on the same connection" for an approval:
// SHA-256 of the three, hex.
std::string statementHash(std::string_view user, std::string_view connection, std::string_view sql);

}  // namespace gatehouse::gateway
