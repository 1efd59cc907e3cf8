// StatementTracker: follows the request/response pairing of one PostgreSQL session (simple and extended protocol,
// pipelined) and says which statement starts and which one ends, with its command tag or error and row count.
// Pure: it sees message types and bodies, never a socket, so that every pairing rule is unit-tested.
//
// The pairing comes from the protocol: each Query ends at ReadyForQuery; each Parse/Bind/Execute is answered in
// order (ParseComplete, BindComplete, CommandComplete/EmptyQuery/PortalSuspended/Error); after an error the server
// skips everything up to Sync. https://www.postgresql.org/docs/15/protocol-flow.html
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gatehouse::gateway {

struct StatementStart {
  int64_t seq = 0;
  std::string_view protocol;  // "simple" or "extended" (static text)
  std::string sql;
  int64_t started_at_us = 0;
};

struct StatementEnd {
  int64_t seq = 0;
  int64_t duration_us = 0;
  std::string tag;            // last command tag, e.g. "SELECT 3" (several joined by "; " for a multi-statement query)
  std::string sqlstate;       // empty when it succeeded
  std::string error_message;
  int64_t rows = 0;
};

// What one message produced; filled by the tracker, drained by the session.
struct TrackerOutput {
  std::vector<StatementStart> starts;
  std::vector<StatementEnd> ends;
  void clear() {
    starts.clear();
    ends.clear();
  }
};

class StatementTracker {
 public:
  // The frontend message types whose bodies the tracker needs, and the backend ones.
  static constexpr std::string_view kFrontendTypes = "QPBESFC";
  static constexpr std::string_view kBackendTypes = "CEIsZ12";

  // A client message (before it is forwarded). false: the message is malformed.
  bool onFrontend(char type, std::string_view body, int64_t now_us, TrackerOutput& out);
  // A server message (before it is forwarded). false: the server's answer does not pair with what was sent.
  bool onBackend(char type, std::string_view body, int64_t now_us, TrackerOutput& out);
  // The first piece of a DataRow.
  void onDataRow();
  // The session ends: whatever was started and never answered ends with an error.
  void abandon(int64_t now_us, std::string_view reason, TrackerOutput& out);

  bool inFlight() const { return !pending_.empty(); }
  // Frontend messages not answered yet (the one just given to onFrontend included).
  std::size_t pendingCount() const { return pending_.size(); }
  // Forgets the last simple Query (it was refused before it was forwarded). false: the last message was not one.
  bool dropLastQuery();
  // The last frontend message (a Query, Parse or Execute) was replaced by the gateway with one that the server refuses:
  // its ErrorResponse is to be replaced by `error` (a whole ErrorResponse message), which the client sees and the
  // record keeps. false: the last message was not a Query or Parse.
  bool replaceErrorOfLast(std::string error);
  // The SQL the last frontend message (an Execute) runs: its portal's statement; null when it was not an Execute,
  // or when the portal's statement was not created by a Parse the tracker saw (unknown: the caller must not guess).
  const std::string* sqlOfLastExecute() const;
  // When the server's next ErrorResponse answers such a message: the message to send instead; else null.
  const std::string* errorReplacement() const;
  // Transaction status from the last ReadyForQuery: 'I', 'T' or 'E'.
  char transactionStatus() const { return tx_status_; }
  int64_t lastSeq() const { return seq_; }

 private:
  enum class Kind { kQuery, kParse, kBind, kExecute, kSync, kFunctionCall };
  struct Pending {
    Kind kind;
    int64_t seq = 0;  // 0: not recorded as a statement (yet)
    std::string sql;
    int64_t started_at_us = 0;
    std::string tags;
    int64_t rows = 0;
    int64_t data_rows = 0;
    std::string sqlstate;
    std::string error_message;
    std::string error_replacement;  // see replaceErrorOfLast
    bool sql_known = true;          // an Execute of a portal whose statement the tracker saw parsed
  };

  void finish(Pending& p, int64_t now_us, TrackerOutput& out);

  std::deque<Pending> pending_;
  std::unordered_map<std::string, std::string> statements_;  // prepared statement name -> SQL
  // portal name -> SQL; nullopt for a portal of a statement no Parse here created (a SQL-level PREPARE's)
  std::unordered_map<std::string, std::optional<std::string>> portals_;
  int64_t seq_ = 0;
  char tx_status_ = 'I';
};

// The row count a command tag reports ("SELECT 5", "INSERT 0 5", "COPY 5"), or -1 when it reports none.
int64_t rowsFromTag(std::string_view tag);

}  // namespace gatehouse::gateway
