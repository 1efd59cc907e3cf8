// SessionMasker: data masking for one PostgreSQL session. It follows which statement each result belongs to
// (simple and extended protocol, prepared statements, portals, cursors, COPY), works out for every result column
// whether a protected column flows into it (from the table OID and column number of the RowDescription, and from
// the statement's lineage in its parse tree), and rewrites DataRow, CopyData, ErrorResponse, NoticeResponse and
// NotificationResponse messages before they reach the client. Statements whose data it could not mask (a write of
// a protected value elsewhere, procedural code, binary COPY...) are refused before they run. Where it cannot
// mask a value safely it refuses the result rather than pass it (fail closed). Pure: messages in, messages out.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "inspect/sql/facts_cache.h"
#include "masking/catalog.h"
#include "masking/copy_rows.h"
#include "masking/policy.h"
#include "protocols/postgres/messages.h"

namespace gatehouse::gateway {

// How many values of one result column a rule masked.
struct MaskCount {
  std::string rule;
  std::string column;
  uint64_t count = 0;
};

class SessionMasker {
 public:
  // Message types whose bodies the masker needs (added to the relay's inspected types when masking is on).
  static constexpr std::string_view kFrontendTypes = "QPBDECSF";
  static constexpr std::string_view kBackendTypes = "TDHdcNAEZnC123sIV";

  SessionMasker(std::shared_ptr<const masking::Policy> policy, std::vector<bool> active,
                masking::ProtectedColumns columns);

  bool active() const { return any_rule_; }

  // A client message, in the order it goes to the server. For a Query, Parse or Execute: the ErrorResponse to
  // answer instead when the statement must not run (the caller replaces the message with one the server
  // refuses, as for a guardrail refusal); empty when it may.
  std::string onFrontend(char type, std::string_view body);

  // A server message before it is forwarded. true: send `replacement` instead (empty: drop the message).
  // `following`: the bytes the relay has already read after this message, if any. The DataRows among them are
  // scanned by the content detectors together with this one (one scan for many rows, several times faster than
  // a scan per row); they must then come to onBackend next, from the same bytes, before endOfInput().
  bool onBackend(char type, std::string_view body, std::string& replacement, std::string_view following = {});
  // Whether the rows coming now are masked: a DataRow may then go to appendDataRow instead of onBackend.
  bool masksRows() const { return current_ && current_->any && !discarding_; }
  // As onBackend for a DataRow when masksRows(), but a replacement is appended to `out` (nothing when false), so
  // that the relay's output buffer takes it without a copy.
  bool appendDataRow(std::string_view body, std::string_view following, std::string& out);
  // The bytes given as `following` are gone (the relay reads into its buffer again).
  void endOfInput() { batch_.clear(); }

  // What was masked since the last call, by rule and column.
  std::vector<MaskCount> takeCounts();

 private:
  struct ColumnPlan {
    std::optional<uint16_t> rule;  // a column rule covers it
    bool scan = false;             // content detectors run on it
    bool json = false;             // json/jsonb: a masked value is written as a JSON string
    bool jsonb_binary = false;     // binary jsonb: a version byte before the text
    bool refuse = false;           // binary value of a type the gateway cannot mask
    std::string name;
    std::vector<uint64_t> masked;  // values masked in this column, by rule index (flushed into counts_)
  };
  struct ResultPlan {
    std::vector<ColumnPlan> columns;
    bool any = false;     // something to do on each row
    bool refuse = false;  // the result cannot be masked: refused
    std::string refusal;  // its ErrorResponse
    std::optional<masking::CopyTextFormat> copy;  // COPY TO STDOUT in text or csv
    bool copy_header_pending = false;
  };
  struct Portal {
    std::shared_ptr<const inspect::sql::FactsList> facts;
    std::vector<int16_t> formats;                        // Bind's result formats (0, 1 or one per column)
    std::optional<std::vector<pg::FieldDescription>> fields;  // from a Describe
  };
  struct Statement {
    std::shared_ptr<const inspect::sql::FactsList> facts;
    std::optional<std::vector<pg::FieldDescription>> fields;  // from a Describe (formats not known yet)
  };
  enum class Expect : uint8_t { kQuery, kParse, kBind, kDescribeStatement, kDescribePortal, kExecute, kClose, kSync,
                                kFunctionCall };
  struct Pending {
    Expect kind;
    std::string name;    // statement or portal
    std::string other;   // Bind: the statement; Close: 'S' or 'P'
    std::shared_ptr<const inspect::sql::FactsList> facts;  // Query, Parse
    std::vector<int16_t> formats;  // Bind
    std::size_t index = 0;         // Query: the statement whose results come now
    bool reads_protected = false;  // Query, Parse, Execute: it reads a protected column (its errors may quote it)
  };

  // The statement as it runs: an EXECUTE of a prepared statement or a FETCH from a cursor stands for their query.
  const inspect::sql::StatementFacts* effective(const inspect::sql::StatementFacts& f) const;
  // A Query or Parse: its statements analyzed and queued for their results; the refusal when they must not run.
  std::string expectStatement(Pending p, std::string_view sql);
  std::string refusalFor(const inspect::sql::FactsList& facts);
  std::string refusalFor(const inspect::sql::StatementFacts& f);
  std::optional<uint16_t> ruleOfSources(const std::vector<inspect::sql::ColumnSource>& sources,
                                        std::string_view field_name) const;
  std::optional<uint16_t> stronger(std::optional<uint16_t> a, std::optional<uint16_t> b) const;
  ResultPlan planRows(const inspect::sql::StatementFacts* f, const std::vector<pg::FieldDescription>& fields,
                      const std::vector<int16_t>* formats) const;
  ResultPlan planCopy(const inspect::sql::StatementFacts* f, const pg::CopyResponse& h) const;
  // The facts of the statement whose rows come now (null when not known); `unknown`: it is an EXECUTE or FETCH
  // of a prepared statement or cursor the gateway did not see created.
  const inspect::sql::StatementFacts* currentFacts(bool* unknown = nullptr) const;
  bool readsProtected(const inspect::sql::FactsList& facts) const;
  // The DataRows read ahead, parsed, and scanned by the detectors in one call; consumed in order.
  struct RowBatch {
    struct Field {
      int32_t len;
      std::string_view value;
    };
    struct Row {
      std::string_view body;
      uint32_t first_field = 0;
      uint32_t first_scanned = 0;  // its values in `scanned`
      uint32_t scanned = 0;
      bool any_rule = false;       // a column rule covers one of its non-null values
    };
    std::vector<Row> rows;
    std::size_t next = 0;
    std::vector<Field> fields;
    std::vector<std::string_view> scanned;  // the values the detectors look at
    std::vector<uint32_t> scanned_column;
    std::vector<masking::FieldMatch> matches;  // by index in `scanned`, in order
    std::size_t next_match = 0;
    void clear() {
      rows.clear();
      next = 0;
      fields.clear();
      scanned.clear();
      scanned_column.clear();
      matches.clear();
      next_match = 0;
    }
  };
  // Parses a DataRow of the current result into the batch; false: it does not match the result's description.
  bool batchRow(std::string_view body);
  // A batch starting with `body`, with the DataRows of the current result that follow it in `following`.
  bool readAhead(std::string_view body, std::string_view following);
  bool maskDataRow(std::string_view body, std::string_view following, std::string& out);
  bool maskCopyData(std::string_view body, std::string& out);
  // Appends the masked form of one value; false: it becomes NULL.
  bool maskValue(ColumnPlan& c, std::string_view value, std::string& out);
  // Content detectors over `text`; appends the result; true when something was masked.
  bool maskContent(std::string_view text, std::string_view column, std::string& out);
  std::string maskFields(char type, std::string_view body);
  void count(uint16_t rule, std::string_view column, uint64_t n = 1);
  void bump(ColumnPlan& c, uint16_t rule);
  void popUntilSync();
  // The rows of the current result are over: its counts go to counts_.
  void endResult();

  std::shared_ptr<const masking::Policy> policy_;
  std::vector<bool> active_;
  masking::ProtectedColumns columns_;
  bool any_rule_ = false;
  bool column_rules_ = false;
  std::vector<int> detector_rule_;  // detector -> the session's rule that uses it, -1: none
  bool detectors_ = false;

  std::deque<Pending> pending_;
  std::unordered_map<std::string, Statement> statements_;
  std::unordered_map<std::string, Portal> portals_;
  std::map<std::string, inspect::sql::StatementFacts, std::less<>> prepared_;  // SQL PREPARE
  std::map<std::string, inspect::sql::StatementFacts, std::less<>> cursors_;   // DECLARE CURSOR
  std::optional<ResultPlan> current_;   // the plan of the rows coming now
  bool discarding_ = false;             // a refused result: drop what the server sends up to ReadyForQuery
  bool quote_values_ = false;           // maskFields: mask quoted parts of messages too
  std::map<std::pair<uint16_t, std::string>, uint64_t> counts_;
  RowBatch batch_;
};

}  // namespace gatehouse::gateway
