// StatementTracker: pairing client requests with server answers to record statements.
#include "gateway/statement_tracker.h"

#include <charconv>

namespace gatehouse::gateway {
namespace {

// Reads a NUL-terminated string at `pos`; false if there is no terminator.
bool readCString(std::string_view body, std::size_t& pos, std::string_view& out) {
  const auto end = body.find('\0', pos);
  if (end == std::string_view::npos) return false;
  out = body.substr(pos, end - pos);
  pos = end + 1;
  return true;
}

// ErrorResponse fields: type byte, NUL-terminated value, ..., a final NUL.
void errorFields(std::string_view body, std::string& sqlstate, std::string& message) {
  std::size_t pos = 0;
  while (pos < body.size() && body[pos] != '\0') {
    const char code = body[pos++];
    std::string_view value;
    if (!readCString(body, pos, value)) return;
    if (code == 'C') sqlstate = value;
    if (code == 'M') message = value;
  }
}

}  // namespace

int64_t rowsFromTag(std::string_view tag) {
  const auto space = tag.rfind(' ');
  if (space == std::string_view::npos) return -1;
  int64_t n = 0;
  const auto digits = tag.substr(space + 1);
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return -1;
  return n;
}

bool StatementTracker::onFrontend(char type, std::string_view body, int64_t now_us, TrackerOutput& out) {
  std::size_t pos = 0;
  std::string_view a;
  std::string_view b;
  switch (type) {
    case 'Q': {
      if (!readCString(body, pos, a)) return false;
      // The text goes to the start record only: nothing later needs it (one copy per query, not two).
      pending_.push_back(Pending{.kind = Kind::kQuery, .seq = ++seq_, .started_at_us = now_us});
      out.starts.push_back({seq_, "simple", std::string(a), now_us});
      return true;
    }
    case 'P': {
      if (!readCString(body, pos, a) || !readCString(body, pos, b)) return false;
      statements_[std::string(a)] = std::string(b);
      pending_.push_back(Pending{.kind = Kind::kParse, .sql = std::string(b), .started_at_us = now_us});
      return true;
    }
    case 'B': {
      if (!readCString(body, pos, a) || !readCString(body, pos, b)) return false;
      auto it = statements_.find(std::string(b));
      std::optional<std::string> sql;
      if (it != statements_.end()) sql = it->second;
      portals_[std::string(a)] = sql;
      pending_.push_back(Pending{.kind = Kind::kBind, .sql = sql.value_or(std::string()), .started_at_us = now_us});
      return true;
    }
    case 'E': {
      if (!readCString(body, pos, a)) return false;
      auto it = portals_.find(std::string(a));
      const bool known = it != portals_.end() && it->second.has_value();
      Pending p{.kind = Kind::kExecute, .seq = ++seq_, .sql = known ? *it->second : std::string(),
                .started_at_us = now_us};
      p.sql_known = known;
      out.starts.push_back({p.seq, "extended", p.sql, now_us});
      pending_.push_back(std::move(p));
      return true;
    }
    case 'S':
      pending_.push_back(Pending{.kind = Kind::kSync});
      return true;
    case 'F':
      pending_.push_back(Pending{.kind = Kind::kFunctionCall});
      return true;
    case 'C': {
      if (body.empty()) return false;
      pos = 1;
      if (!readCString(body, pos, a)) return false;
      if (body[0] == 'S') statements_.erase(std::string(a));
      else if (body[0] == 'P') portals_.erase(std::string(a));
      else return false;
      return true;
    }
    default:
      return true;
  }
}

void StatementTracker::finish(Pending& p, int64_t now_us, TrackerOutput& out) {
  if (p.seq == 0) return;
  StatementEnd end{.seq = p.seq, .duration_us = now_us - p.started_at_us, .tag = p.tags, .sqlstate = p.sqlstate,
                   .error_message = p.error_message, .rows = p.rows};
  out.ends.push_back(std::move(end));
}

void StatementTracker::onDataRow() {
  for (auto& p : pending_) {
    if (p.kind == Kind::kQuery || p.kind == Kind::kExecute) {
      ++p.data_rows;
      return;
    }
    if (p.kind == Kind::kSync) return;
  }
}

bool StatementTracker::onBackend(char type, std::string_view body, int64_t now_us, TrackerOutput& out) {
  switch (type) {
    case '1':
    case '2': {
      const Kind expected = type == '1' ? Kind::kParse : Kind::kBind;
      if (pending_.empty() || pending_.front().kind != expected) return false;
      pending_.pop_front();
      return true;
    }
    case 'C':
    case 'I':
    case 's': {
      if (pending_.empty()) return false;
      auto& p = pending_.front();
      if (p.kind != Kind::kQuery && p.kind != Kind::kExecute) return false;
      std::string_view tag;
      if (type == 'C') {
        std::size_t pos = 0;
        if (!readCString(body, pos, tag)) return false;
      } else if (type == 's') {
        tag = "(portal suspended)";
      }
      const int64_t reported = rowsFromTag(tag);
      p.rows += reported >= 0 ? reported : p.data_rows;
      p.data_rows = 0;
      if (!tag.empty()) {
        if (!p.tags.empty()) p.tags += "; ";
        p.tags += tag;
      }
      if (p.kind == Kind::kExecute) {
        finish(p, now_us, out);
        pending_.pop_front();
      }
      return true;
    }
    case 'E': {
      if (pending_.empty()) return true;  // e.g. a FATAL at shutdown: nothing of ours to attribute it to
      auto& p = pending_.front();
      std::string sqlstate;
      std::string message;
      errorFields(body, sqlstate, message);
      switch (p.kind) {
        case Kind::kQuery:
          p.sqlstate = sqlstate;
          p.error_message = message;
          return true;  // the query ends at ReadyForQuery
        case Kind::kParse:
        case Kind::kBind:
          // A statement that failed before it ran is still recorded: someone tried it.
          p.seq = ++seq_;
          out.starts.push_back({p.seq, "extended", p.sql, p.started_at_us});
          [[fallthrough]];
        case Kind::kExecute:
          p.sqlstate = sqlstate;
          p.error_message = message;
          finish(p, now_us, out);
          pending_.pop_front();
          // The server now skips everything up to Sync; those are ended at ReadyForQuery.
          return true;
        case Kind::kSync:
        case Kind::kFunctionCall:
          return true;
      }
      return true;
    }
    case 'Z': {
      tx_status_ = body.empty() ? 'I' : body[0];
      while (!pending_.empty()) {
        Pending p = std::move(pending_.front());
        pending_.pop_front();
        if (p.kind == Kind::kQuery) {
          if (p.sqlstate.empty() && p.tags.empty() && p.data_rows > 0) p.rows = p.data_rows;
          finish(p, now_us, out);
          return true;
        }
        if (p.kind == Kind::kSync || p.kind == Kind::kFunctionCall) return true;
        if (p.kind == Kind::kExecute) {
          p.sqlstate = "";
          p.error_message = "not executed: an earlier message of the same pipeline failed";
          p.tags = "(skipped)";
          finish(p, now_us, out);
        }
      }
      return false;  // a ReadyForQuery nobody asked for
    }
    default:
      return true;
  }
}

bool StatementTracker::replaceErrorOfLast(std::string error) {
  if (pending_.empty()) return false;
  const auto kind = pending_.back().kind;
  if (kind != Kind::kQuery && kind != Kind::kParse && kind != Kind::kExecute) return false;
  pending_.back().error_replacement = std::move(error);
  return true;
}

const std::string* StatementTracker::sqlOfLastExecute() const {
  if (pending_.empty() || pending_.back().kind != Kind::kExecute || !pending_.back().sql_known) return nullptr;
  return &pending_.back().sql;
}

const std::string* StatementTracker::errorReplacement() const {
  if (pending_.empty() || pending_.front().error_replacement.empty()) return nullptr;
  return &pending_.front().error_replacement;
}

bool StatementTracker::dropLastQuery() {
  if (pending_.empty() || pending_.back().kind != Kind::kQuery || pending_.back().seq != seq_) return false;
  pending_.pop_back();
  --seq_;
  return true;
}

void StatementTracker::abandon(int64_t now_us, std::string_view reason, TrackerOutput& out) {
  for (auto& p : pending_) {
    if (p.seq == 0) continue;
    if (p.sqlstate.empty()) p.error_message = std::string(reason);
    finish(p, now_us, out);
  }
  pending_.clear();
}

}  // namespace gatehouse::gateway
