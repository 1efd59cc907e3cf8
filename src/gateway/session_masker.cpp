// Data masking for one session; see session_masker.h.
#include "gateway/session_masker.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "protocols/postgres/codec.h"

namespace gatehouse::gateway {

namespace {

using inspect::sql::ColumnSource;
using inspect::sql::Kind;
using inspect::sql::StatementFacts;

// Big-endian readers over a message body; a short body reads as "malformed" (the caller refuses the result).
struct Reader {
  std::string_view s;
  std::size_t pos = 0;
  bool ok = true;
  uint32_t u32() {
    if (pos + 4 > s.size()) return ok = false, 0;
    const auto* p = reinterpret_cast<const unsigned char*>(s.data() + pos);
    pos += 4;
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  }
  int16_t i16() {
    if (pos + 2 > s.size()) return ok = false, 0;
    const auto* p = reinterpret_cast<const unsigned char*>(s.data() + pos);
    pos += 2;
    return static_cast<int16_t>((p[0] << 8) | p[1]);
  }
  std::string_view bytes(std::size_t n) {
    if (pos + n > s.size()) return ok = false, std::string_view();
    auto out = s.substr(pos, n);
    pos += n;
    return out;
  }
  std::string_view cstr() {
    const auto end = s.find('\0', pos);
    if (end == std::string_view::npos) return ok = false, std::string_view();
    auto out = s.substr(pos, end - pos);
    pos = end + 1;
    return out;
  }
};

void put32(std::string& out, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  out.append(b, 4);
}
void put16(std::string& out, int16_t v) {
  const char b[2] = {static_cast<char>(static_cast<uint16_t>(v) >> 8), static_cast<char>(v)};
  out.append(b, 2);
}
// Writes the 4-byte length of the message started at `start` (its type byte).
void patchLength(std::string& out, std::size_t start) {
  const auto len = static_cast<uint32_t>(out.size() - start - 1);
  out[start + 1] = static_cast<char>(len >> 24);
  out[start + 2] = static_cast<char>(len >> 16);
  out[start + 3] = static_cast<char>(len >> 8);
  out[start + 4] = static_cast<char>(len);
}

// Types whose binary form is their text (PostgreSQL's textsend): text, varchar, bpchar, name, "char", json,
// xml, unknown. jsonb's binary form is a version byte and the text. RowDescription reports a domain's base type.
constexpr uint32_t kJson = 114, kJsonb = 3802;
bool textLike(uint32_t type) {
  switch (type) {
    case 25: case 1043: case 1042: case 19: case 18: case kJson: case 142: case 705: case kJsonb: return true;
    default: return false;
  }
}

std::string refused(std::string_view message, std::string_view hint = {}) {
  return pg::errorResponse("ERROR", pg::sqlstate::kInsufficientPrivilege, fmt::format("gatehouse: {}", message), {},
                           hint);
}

void appendJsonString(std::string_view v, std::string& out) {
  out += '"';
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') (out += '\\') += static_cast<char>(c);
    else if (c < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += static_cast<char>(c);
  }
  out += '"';
}

// Replaces the values in a detail such as `Key (email)=(a@b.c) already exists.` or `Failing row contains (...)`:
// PostgreSQL quotes row contents there, whatever the columns' policy.
std::string maskDetailValues(std::string_view d) {
  std::string out(d);
  auto blank = [&](std::size_t open) {
    // From `open` (a '('), to its matching ')', counting nesting.
    int depth = 0;
    for (std::size_t i = open; i < out.size(); ++i) {
      if (out[i] == '(') ++depth;
      else if (out[i] == ')' && --depth == 0) {
        out.replace(open + 1, i - open - 1, "****");
        return;
      }
    }
    out.replace(open + 1, out.size() - open - 1, "****");
  };
  // Every key: an exclusion violation quotes two (`Key (c)=(v) conflicts with existing key (c)=(w).`), a row no
  // partition accepts writes `Partition key of the failing row contains (c) = (v).`
  for (auto k = out.find(")=("); k != std::string::npos; k = out.find(")=(", k + 3)) blank(k + 2);
  for (auto k = out.find(") = ("); k != std::string::npos; k = out.find(") = (", k + 5)) blank(k + 4);
  if (const auto f = out.find("Failing row contains ("); f != std::string::npos) blank(f + 21);
  return out;
}

// Replaces double-quoted parts of an error message: PostgreSQL quotes the offending input there
// (`invalid input syntax for type integer: "alice@example.com"`).
std::string maskQuoted(std::string_view m) {
  std::string out;
  std::size_t i = 0;
  while (i < m.size()) {
    const auto open = m.find('"', i);
    if (open == std::string_view::npos) break;
    const auto close = m.find('"', open + 1);
    if (close == std::string_view::npos) break;
    out.append(m.substr(i, open - i));
    out += "\"****\"";
    i = close + 1;
  }
  out.append(m.substr(i));
  return out;
}

}  // namespace

SessionMasker::SessionMasker(std::shared_ptr<const masking::Policy> policy, std::vector<bool> active,
                             masking::ProtectedColumns columns)
    : policy_(std::move(policy)), active_(std::move(active)), columns_(std::move(columns)) {
  const auto& rules = policy_->rules();
  if (const auto* d = policy_->detectors()) detector_rule_.assign(d->size(), -1);
  for (std::size_t r = 0; r < rules.size(); ++r) {
    if (!active_[r]) continue;
    any_rule_ = true;
    column_rules_ = column_rules_ || !rules[r].columns.empty();
    for (auto d : rules[r].detectors) {
      if (detector_rule_[d] < 0) detector_rule_[d] = static_cast<int>(r);
      detectors_ = true;
    }
  }
}

std::optional<uint16_t> SessionMasker::stronger(std::optional<uint16_t> a, std::optional<uint16_t> b) const {
  return masking::stricterRule(*policy_, a, b);
}

const StatementFacts* SessionMasker::effective(const StatementFacts& f) const {
  if (f.performs(Kind::kExecute) && !f.prepared_name.empty()) {
    auto it = prepared_.find(f.prepared_name);
    return it == prepared_.end() ? nullptr : &it->second;
  }
  if (f.performs(Kind::kCursor) && !f.cursor_name.empty() && f.outputs.empty()) {
    auto it = cursors_.find(f.cursor_name);
    return it == cursors_.end() ? nullptr : &it->second;
  }
  return &f;
}

std::optional<uint16_t> SessionMasker::ruleOfSources(const std::vector<ColumnSource>& sources,
                                                     std::string_view field_name) const {
  std::optional<uint16_t> rule;
  for (const auto& s : sources) {
    // A star's (relation, "*") stands for the relation's column of the output's own name; unnamed, for any.
    const std::string_view column = s.column == "*" && !field_name.empty() ? field_name : std::string_view(s.column);
    rule = stronger(rule, columns_.byName(s.relation, column));
  }
  return rule;
}

std::string SessionMasker::refusalFor(const inspect::sql::FactsList& facts) {
  for (const auto& f : facts)
    if (auto r = refusalFor(f); !r.empty()) return r;
  return {};
}

std::string SessionMasker::refusalFor(const StatementFacts& f) {
  if (column_rules_) {
    for (const auto& s : f.writes_from)
      if (auto rule = columns_.byName(s.relation, s.column))
        return refused(fmt::format("masking: this statement would copy protected data ({}.{}, rule \"{}\") somewhere "
                                   "other than a masked result",
                                   s.relation, s.column, policy_->rules()[*rule].name));
    // Renaming a protected column, its table or its schema would hide it from the rules by name for the rest of
    // the session (the catalog is read at login).
    for (const auto& op : f.operations) {
      if (op.kind != Kind::kAlter) continue;
      bool protected_relation = op.object == "schema";
      for (const auto& rel : op.relations) protected_relation = protected_relation || columns_.byName(rel, "*");
      if (protected_relation)
        return refused("masking: altering a relation that holds protected columns (or a schema) is refused in a "
                       "masked session");
    }
    if (f.performs(Kind::kProcedural))
      return refused("masking: procedural code (DO, functions, procedures) can read protected columns where the "
                     "gateway cannot follow them, so it is refused in a masked session");
  }
  if (f.copy && !f.copy->from && f.copy->format == inspect::sql::CopyFormat::kBinary) {
    bool covered = detectors_;
    for (const auto& o : f.outputs) covered = covered || ruleOfSources(o.sources, {});
    if (covered)
      return refused("masking: binary COPY output cannot be masked", "Use COPY in text or csv format.");
  }
  if (f.copy && !f.copy->from && column_rules_) {
    for (const auto& o : f.outputs) {
      if (!o.star) continue;
      for (const auto& s : o.sources) {
        if (s.column != "*" || !columns_.byName(s.relation, "*")) continue;
        // A table with no column a rule can name: its CopyOutResponse tells whether it still has its columns.
        if (columns_.plainColumns(s.relation)) continue;
        if (columns_.columnsOf(s.relation).size() != 1)
          return refused(fmt::format("masking: cannot tell which columns of {} this COPY writes", s.relation),
                         "Name the columns, or qualify the table with its schema.");
      }
    }
  }
  return {};
}

std::string SessionMasker::expectStatement(Pending p, std::string_view sql) {
  auto facts = inspect::sql::FactsCache::forThisThread().analyze(sql);
  std::string refusal;
  if (!facts) {
    // Without its parse tree, what the statement returns cannot be told: it does not run (fail closed).
    refusal = pg::errorResponse("ERROR", pg::sqlstate::kSyntaxError,
                                "gatehouse: masking needs to understand the statement, and it does not parse: " +
                                    facts.error().message);
  } else {
    p.facts = *facts;
    p.reads_protected = column_rules_ && readsProtected(**facts);
    refusal = refusalFor(**facts);
  }
  pending_.push_back(std::move(p));
  return refusal;
}

std::string SessionMasker::onFrontend(char type, std::string_view body) {
  Reader r{body};
  switch (type) {
    case 'Q': return expectStatement(Pending{Expect::kQuery, {}, {}, nullptr, {}, 0}, body.substr(0, body.find('\0')));
    case 'P': {
      const auto name = r.cstr();
      return expectStatement(Pending{Expect::kParse, std::string(name), {}, nullptr, {}, 0}, r.cstr());
    }
    case 'B': {
      Pending p{Expect::kBind, std::string(r.cstr()), std::string(r.cstr()), nullptr, {}, 0};
      const int16_t nformats = r.i16();
      for (int i = 0; i < nformats && r.ok; ++i) r.i16();
      const int16_t nparams = r.i16();
      for (int i = 0; i < nparams && r.ok; ++i) {
        const auto len = static_cast<int32_t>(r.u32());
        if (len > 0) r.bytes(static_cast<std::size_t>(len));
      }
      const int16_t nresult = r.i16();
      for (int i = 0; i < nresult && r.ok; ++i) p.formats.push_back(r.i16());
      pending_.push_back(std::move(p));
      return {};
    }
    case 'D': {
      const char kind = body.empty() ? 'S' : body[0];
      const auto name = body.empty() ? std::string_view() : body.substr(1);
      pending_.push_back(Pending{kind == 'P' ? Expect::kDescribePortal : Expect::kDescribeStatement,
                                 std::string(name.substr(0, name.find('\0'))), {}, nullptr, {}, 0});
      return {};
    }
    case 'E': {
      Pending p{Expect::kExecute, std::string(r.cstr()), {}, nullptr, {}, 0};
      // The portal's statement: bound in this pipeline (pending) or before.
      std::shared_ptr<const inspect::sql::FactsList> facts;
      for (auto it = pending_.rbegin(); it != pending_.rend() && !facts; ++it) {
        if (it->kind != Expect::kBind || it->name != p.name) continue;
        for (auto jt = it; jt != pending_.rend(); ++jt)
          if (jt->kind == Expect::kParse && jt->name == it->other) {
            facts = jt->facts;
            break;
          }
        if (!facts)
          if (auto s = statements_.find(it->other); s != statements_.end()) facts = s->second.facts;
        break;
      }
      if (!facts)
        if (auto pt = portals_.find(p.name); pt != portals_.end()) facts = pt->second.facts;
      p.reads_protected = facts && column_rules_ && readsProtected(*facts);
      pending_.push_back(std::move(p));
      if (facts)
        for (const auto& f : *facts)
          if (auto refusal = refusalFor(f); !refusal.empty()) return refusal;
      return {};
    }
    case 'C': {
      const char kind = body.empty() ? 'S' : body[0];
      const auto name = body.empty() ? std::string_view() : body.substr(1);
      pending_.push_back(Pending{Expect::kClose, std::string(name.substr(0, name.find('\0'))),
                                 std::string(1, kind), nullptr, {}, 0});
      return {};
    }
    case 'S': pending_.push_back(Pending{Expect::kSync, {}, {}, nullptr, {}, 0}); return {};
    case 'F': pending_.push_back(Pending{Expect::kFunctionCall, {}, {}, nullptr, {}, 0}); return {};
    default: return {};
  }
}

void SessionMasker::popUntilSync() {
  while (!pending_.empty() && pending_.front().kind != Expect::kSync && pending_.front().kind != Expect::kQuery &&
         pending_.front().kind != Expect::kFunctionCall)
    pending_.pop_front();
}

const StatementFacts* SessionMasker::currentFacts(bool* unknown) const {
  if (unknown) *unknown = false;
  if (pending_.empty()) return nullptr;
  const auto& p = pending_.front();
  const StatementFacts* f = nullptr;
  if (p.kind == Expect::kQuery && p.facts && p.index < p.facts->size()) f = &(*p.facts)[p.index];
  if (p.kind == Expect::kExecute) {
    auto it = portals_.find(p.name);
    // A portal of a statement the masker never saw made: what it returns cannot be told.
    if ((it == portals_.end() || !it->second.facts) && unknown) *unknown = true;
    if (it != portals_.end() && it->second.facts && it->second.facts->size() == 1) f = &it->second.facts->front();
  }
  if (!f) return nullptr;
  const StatementFacts* e = effective(*f);
  if (!e && unknown) *unknown = true;
  return e;
}

bool SessionMasker::readsProtected(const inspect::sql::FactsList& facts) const {
  for (const auto& f : facts)
    for (const auto& s : f.reads)
      if (columns_.byName(s.relation, s.column)) return true;
  return false;
}

SessionMasker::ResultPlan SessionMasker::planRows(const StatementFacts* f,
                                                  const std::vector<pg::FieldDescription>& fields,
                                                  const std::vector<int16_t>* formats) const {
  ResultPlan plan;
  const std::size_t n = fields.size();
  plan.columns.resize(n);
  // Which output of the statement each result column is (see OutputColumn: one unexpanded star may stand for
  // several columns; anything else that does not line up is treated as "any column may be any output").
  std::vector<const inspect::sql::OutputColumn*> output_of(n, nullptr);
  bool ambiguous = f && f->outputs_ambiguous;
  if (f && !ambiguous && !f->outputs.empty()) {
    const auto& outs = f->outputs;
    const auto stars = std::count_if(outs.begin(), outs.end(), [](const auto& o) { return o.star; });
    if (stars == 0 && outs.size() == n) {
      for (std::size_t j = 0; j < n; ++j) output_of[j] = &outs[j];
    } else if (stars == 1 && outs.size() - 1 <= n) {
      const std::size_t s = static_cast<std::size_t>(
          std::find_if(outs.begin(), outs.end(), [](const auto& o) { return o.star; }) - outs.begin());
      const std::size_t span = n - (outs.size() - 1);
      for (std::size_t j = 0; j < n; ++j)
        output_of[j] = j < s ? &outs[j] : j < s + span ? &outs[s] : &outs[j - span + 1];
    } else {
      ambiguous = true;
    }
  }
  for (std::size_t j = 0; j < n; ++j) {
    const auto& fd = fields[j];
    auto& c = plan.columns[j];
    c.name = fd.name;
    int16_t format = fd.format;
    if (formats) format = formats->empty() ? 0 : formats->size() == 1 ? (*formats)[0] : j < formats->size() ? (*formats)[j] : 1;
    const bool binary = format != 0;
    std::optional<uint16_t> rule = columns_.byOid(fd.table_oid, fd.column);
    if (f && ambiguous) {
      for (const auto& o : f->outputs) rule = stronger(rule, ruleOfSources(o.sources, o.star ? fd.name : ""));
    } else if (output_of[j]) {
      rule = stronger(rule, ruleOfSources(output_of[j]->sources, output_of[j]->star ? fd.name : ""));
    }
    c.rule = rule;
    c.json = fd.type_oid == kJson || fd.type_oid == kJsonb;
    c.jsonb_binary = binary && fd.type_oid == kJsonb;
    c.scan = detectors_ && (!binary || textLike(fd.type_oid));
    if (rule && binary && !textLike(fd.type_oid)) {
      c.refuse = true;
      plan.refuse = true;
      plan.refusal = refused(
          fmt::format("masking: column \"{}\" is protected (rule \"{}\") and its binary format cannot be masked",
                      fd.name, policy_->rules()[*rule].name),
          "Ask for it in text format.");
    }
    plan.any = plan.any || rule || c.scan;
  }
  return plan;
}

SessionMasker::ResultPlan SessionMasker::planCopy(const StatementFacts* f, const pg::CopyResponse& h) const {
  ResultPlan plan;
  if (h.format != 0) {
    if (detectors_ || column_rules_) {
      plan.refuse = true;
      plan.refusal = refused("masking: binary COPY output cannot be masked", "Use COPY in text or csv format.");
    }
    return plan;
  }
  // Column names: a COPY of a table writes its columns in order; COPY (query) the query's outputs.
  std::vector<pg::FieldDescription> fields(h.column_formats.size());
  bool plain = false;  // a table that had no column a rule can name, with as many columns as at login
  if (f && f->outputs.size() == 1 && f->outputs[0].star) {
    for (const auto& s : f->outputs[0].sources) {
      if (s.column != "*") continue;
      if (const auto n = columns_.plainColumns(s.relation)) {
        if (static_cast<std::size_t>(*n) == fields.size()) {
          plain = true;
          continue;
        }
        // A column was added or dropped since the catalog was read: it may be one a rule names.
        if (columns_.byName(s.relation, "*")) {
          plan.refuse = true;
          plan.refusal = refused(fmt::format("masking: {} has changed since this session began, so the gateway "
                                             "cannot tell which of its columns this COPY writes",
                                             s.relation),
                                 "Name the columns, or reconnect.");
          return plan;
        }
      }
      const auto lists = columns_.columnsOf(s.relation);
      if (lists.size() == 1 && lists[0]->size() == fields.size())
        for (std::size_t j = 0; j < fields.size(); ++j) fields[j].name = (*lists[0])[j];
    }
  } else if (f && f->outputs.size() == fields.size()) {
    for (std::size_t j = 0; j < fields.size(); ++j)
      if (f->outputs[j].sources.size() == 1) fields[j].name = f->outputs[j].sources[0].column;
  }
  // A plain table's values are scanned by the detectors; no column rule applies to them.
  plan = planRows(plain ? nullptr : f, fields, nullptr);
  masking::CopyTextFormat format;
  if (f && f->copy) {
    format.csv = f->copy->format == inspect::sql::CopyFormat::kCsv;
    format.delimiter = f->copy->delimiter;
    format.null_string = f->copy->null_string;
    format.quote = f->copy->quote;
    format.escape = f->copy->escape;
    plan.copy_header_pending = f->copy->header;
  } else if (plan.any) {
    plan.refuse = true;
    plan.refusal = refused("masking: cannot tell the format of this COPY output");
  }
  plan.copy = format;
  return plan;
}

bool SessionMasker::onBackend(char type, std::string_view body, std::string& replacement, std::string_view following) {
  static const std::string kUnknownSource =
      refused("masking: these rows come from a prepared statement or cursor the gateway did not see created, so it "
              "cannot tell what they hold",
              "Prepare the statement, or declare the cursor, in this session through the gateway.");
  replacement.clear();
  if (type != 'D') batch_.clear();
  if (discarding_ && type != 'A') {
    // A refused result: what the server still sends for it is dropped, up to the ReadyForQuery that ends it.
    // Notifications are not part of it (asynchronous): they go on, scanned as usual.
    if (type != 'Z') return true;
    discarding_ = false;
  }
  auto front = [&]() -> Pending* { return pending_.empty() ? nullptr : &pending_.front(); };
  auto refuseResult = [&](const std::string& refusal) {
    replacement = refusal;
    discarding_ = true;
    endResult();
    popUntilSync();
    return true;
  };
  switch (type) {
    case '1':
      if (auto* p = front(); p && p->kind == Expect::kParse) {
        statements_[p->name] = Statement{p->facts, std::nullopt};
        pending_.pop_front();
      }
      return false;
    case '2':
      if (auto* p = front(); p && p->kind == Expect::kBind) {
        Portal portal;
        if (auto s = statements_.find(p->other); s != statements_.end()) {
          portal.facts = s->second.facts;
          portal.fields = s->second.fields;
        }
        portal.formats = std::move(p->formats);
        // A statement's description has no formats yet: they are the Bind's.
        if (portal.fields) {
          const auto& fm = portal.formats;
          for (std::size_t j = 0; j < portal.fields->size(); ++j)
            (*portal.fields)[j].format = fm.empty() ? 0 : fm.size() == 1 ? fm[0] : j < fm.size() ? fm[j] : 1;
        }
        portals_[p->name] = std::move(portal);
        pending_.pop_front();
      }
      return false;
    case '3':
      if (auto* p = front(); p && p->kind == Expect::kClose) {
        if (p->other == "S") statements_.erase(p->name);
        else portals_.erase(p->name);
        pending_.pop_front();
      }
      return false;
    case 'n':
      if (auto* p = front(); p && (p->kind == Expect::kDescribeStatement || p->kind == Expect::kDescribePortal))
        pending_.pop_front();
      return false;
    case 'T': {
      auto* p = front();
      if (!p) return false;
      auto decoded = pg::decodeBackend('T', body);
      if (!decoded) return refuseResult(refused("masking: a malformed row description from the database"));
      auto& fields = std::get<pg::RowDescription>(*decoded).fields;
      if (p->kind == Expect::kDescribeStatement) {
        if (auto s = statements_.find(p->name); s != statements_.end()) s->second.fields = std::move(fields);
        pending_.pop_front();
        return false;
      }
      if (p->kind == Expect::kDescribePortal) {
        const StatementFacts* f = nullptr;
        auto it = portals_.find(p->name);
        if (it != portals_.end() && it->second.facts && it->second.facts->size() == 1)
          f = effective(it->second.facts->front());
        auto plan = planRows(f, fields, nullptr);
        if (it != portals_.end()) it->second.fields = std::move(fields);
        pending_.pop_front();
        if (plan.refuse) return refuseResult(plan.refusal);
        return false;
      }
      if (p->kind == Expect::kQuery) {
        bool unknown = false;
        const auto* f = currentFacts(&unknown);
        if (unknown && column_rules_) return refuseResult(kUnknownSource);
        current_ = planRows(f, fields, nullptr);
        if (current_->refuse) return refuseResult(current_->refusal);
      }
      return false;
    }
    case 'D': {
      if (!current_) {
        // An Execute's first row: the plan from the portal's description (or its statement's, with the Bind's
        // formats). Without any description the column types are unknown: lineage and detectors only.
        auto* p = front();
        if (p && p->kind == Expect::kExecute) {
          auto it = portals_.find(p->name);
          std::vector<pg::FieldDescription> fields;
          const std::vector<int16_t>* formats = nullptr;
          if (it != portals_.end() && it->second.fields) {
            fields = *it->second.fields;
          } else {
            Reader r{body};
            fields.resize(static_cast<std::size_t>(std::max<int16_t>(0, r.i16())));
            if (it != portals_.end()) formats = &it->second.formats;
            for (auto& fd : fields) fd.type_oid = 0;
          }
          bool unknown = false;
          const auto* f = currentFacts(&unknown);
          if (unknown && column_rules_) return refuseResult(kUnknownSource);
          current_ = planRows(f, fields, formats);
          // Binary values of unknown type cannot be scanned: refuse them when anything is to be masked.
          if (!(it != portals_.end() && it->second.fields))
            for (std::size_t j = 0; j < fields.size(); ++j) {
              const bool binary = formats && !formats->empty() &&
                                  (formats->size() == 1 ? (*formats)[0] : j < formats->size() ? (*formats)[j] : 1) != 0;
              if (binary && (current_->columns[j].rule || detectors_))
                return refuseResult(refused("masking: binary results of undescribed statements cannot be masked",
                                            "Describe the statement or portal first, as drivers do."));
            }
        } else {
          current_ = planRows(nullptr, {}, nullptr);
        }
        if (current_->refuse) return refuseResult(current_->refusal);
      }
      if (!current_->any) return false;
      return maskDataRow(body, following, replacement) || discarding_;
    }
    case 'H': {
      auto decoded = pg::decodeBackend('H', body);
      if (!decoded) return refuseResult(refused("masking: a malformed COPY response from the database"));
      bool unknown = false;
      const auto* f = currentFacts(&unknown);
      if (unknown && column_rules_) return refuseResult(kUnknownSource);
      current_ = planCopy(f, std::get<pg::CopyResponse>(*decoded));
      if (current_->refuse) return refuseResult(current_->refusal);
      return false;
    }
    case 'd':
      if (!current_ || !current_->copy || !current_->any) return false;
      if (current_->copy_header_pending) {
        current_->copy_header_pending = false;
        return false;
      }
      return maskCopyData(body, replacement) || discarding_;
    case 'C':
    case 'I':
    case 's': {
      endResult();
      auto* p = front();
      if (!p) return false;
      const StatementFacts* f = nullptr;
      if (p->kind == Expect::kQuery && p->facts && p->index < p->facts->size()) f = &(*p->facts)[p->index];
      if (p->kind == Expect::kExecute)
        if (auto it = portals_.find(p->name); it != portals_.end() && it->second.facts && it->second.facts->size() == 1)
          f = &it->second.facts->front();
      if (f && type == 'C') {
        // SQL-level names take effect once the server has made them.
        // SQL PREPARE shares its namespace with protocol-level statements: a Bind may name either.
        if (f->performs(Kind::kPrepare) && !f->prepared_name.empty()) {
          prepared_[f->prepared_name] = *f;
          statements_[f->prepared_name] = Statement{std::make_shared<const inspect::sql::FactsList>(1, *f), std::nullopt};
        }
        if (f->performs(Kind::kDeallocate) || f->forgets_all_prepared) {
          if (f->forgets_all_prepared) {
            prepared_.clear();
            statements_.clear();
          } else {
            prepared_.erase(f->prepared_name);
            statements_.erase(f->prepared_name);
          }
        }
        if (f->performs(Kind::kCursor) && !f->cursor_name.empty() && !f->outputs.empty())
          cursors_[f->cursor_name] = *f;
      }
      if (p->kind == Expect::kQuery) ++p->index;
      else if (p->kind == Expect::kExecute) pending_.pop_front();
      return false;
    }
    case 'E': {
      endResult();
      quote_values_ = front() && front()->reads_protected;
      replacement = maskFields('E', body);
      quote_values_ = false;
      if (auto* p = front(); p && p->kind != Expect::kQuery && p->kind != Expect::kFunctionCall) popUntilSync();
      return true;
    }
    case 'N':
      quote_values_ = front() && front()->reads_protected;
      replacement = maskFields('N', body);
      quote_values_ = false;
      return true;
    case 'A': {
      Reader r{body};
      const uint32_t pid = r.u32();
      const auto channel = r.cstr();
      const auto payload = r.cstr();
      if (!r.ok || !detectors_) return false;
      std::string masked;
      if (!maskContent(payload, "notification", masked)) return false;
      replacement += 'A';
      put32(replacement, 0);
      put32(replacement, pid);
      (replacement += channel) += '\0';
      (replacement += masked) += '\0';
      patchLength(replacement, 0);
      return true;
    }
    case 'V': {
      Reader r{body};
      const auto len = static_cast<int32_t>(r.u32());
      if (!r.ok || len <= 0 || !detectors_) return false;
      std::string masked;
      if (!maskContent(r.bytes(static_cast<std::size_t>(len)), "function result", masked)) return false;
      replacement += 'V';
      put32(replacement, 0);
      put32(replacement, static_cast<uint32_t>(masked.size()));
      replacement += masked;
      patchLength(replacement, 0);
      return true;
    }
    case 'Z':
      endResult();
      if (auto* p = front(); p && (p->kind == Expect::kSync || p->kind == Expect::kQuery || p->kind == Expect::kFunctionCall))
        pending_.pop_front();
      return false;
    default: return false;
  }
}

void SessionMasker::endResult() {
  if (current_)
    for (const auto& c : current_->columns)
      for (std::size_t rule = 0; rule < c.masked.size(); ++rule)
        if (c.masked[rule] > 0) counts_[{static_cast<uint16_t>(rule), c.name}] += c.masked[rule];
  current_.reset();
  batch_.clear();
}

void SessionMasker::count(uint16_t rule, std::string_view column, uint64_t n) {
  counts_[{rule, std::string(column)}] += n;
}

std::vector<MaskCount> SessionMasker::takeCounts() {
  std::vector<MaskCount> out;
  for (const auto& [k, n] : counts_) out.push_back(MaskCount{policy_->rules()[k.first].name, k.second, n});
  counts_.clear();
  return out;
}

bool SessionMasker::maskContent(std::string_view text, std::string_view column, std::string& out) {
  const auto* d = policy_->detectors();
  if (!d || text.empty()) return false;
  auto matches = d->scan(text);
  if (!matches) {
    // Cannot scan: the value does not pass (fail closed).
    out += "****";
    return true;
  }
  bool changed = false;
  std::size_t at = 0;
  for (const auto& m : *matches) {
    const int rule = detector_rule_[m.detector];
    if (rule < 0) continue;
    out.append(text.substr(at, m.begin - at));
    const auto& spec = policy_->rules()[static_cast<std::size_t>(rule)].style;
    // Inside a larger text, a "null" match is written as the rule's replacement.
    if (spec.style == masking::Style::kNull) out += spec.replacement;
    else masking::appendMasked(spec, text.substr(m.begin, m.end - m.begin), policy_->tokenKey(), out);
    at = m.end;
    changed = true;
    count(static_cast<uint16_t>(rule), column);
  }
  if (!changed) return false;
  out.append(text.substr(at));
  return true;
}

bool SessionMasker::maskValue(ColumnPlan& c, std::string_view value, std::string& out) {
  if (c.rule) {
    const auto& spec = policy_->rules()[*c.rule].style;
    bump(c, *c.rule);
    if (spec.style == masking::Style::kNull) return false;
    std::string_view text = value;
    if (c.jsonb_binary) {
      out += '\x01';
      if (!text.empty()) text.remove_prefix(1);
    }
    if (c.json) {
      std::string masked;
      masking::appendMasked(spec, text, policy_->tokenKey(), masked);
      appendJsonString(masked, out);
    } else {
      masking::appendMasked(spec, text, policy_->tokenKey(), out);
    }
    return true;
  }
  std::string_view text = value;
  if (c.jsonb_binary && !text.empty()) {
    out += text[0];
    text.remove_prefix(1);
  }
  if (!maskContent(text, c.name, out)) out.append(text);
  return true;
}

bool SessionMasker::appendDataRow(std::string_view body, std::string_view following, std::string& out) {
  return maskDataRow(body, following, out) || discarding_;
}

bool SessionMasker::batchRow(std::string_view body) {
  Reader r{body};
  const int16_t n = r.i16();
  if (!r.ok || n < 0 || static_cast<std::size_t>(n) != current_->columns.size()) return false;
  RowBatch::Row row{.body = body,
                    .first_field = static_cast<uint32_t>(batch_.fields.size()),
                    .first_scanned = static_cast<uint32_t>(batch_.scanned.size())};
  for (int16_t j = 0; j < n; ++j) {
    const auto len = static_cast<int32_t>(r.u32());
    if (!r.ok || len < -1) return false;
    const std::string_view value = len > 0 ? r.bytes(static_cast<std::size_t>(len)) : std::string_view();
    if (!r.ok) return false;
    batch_.fields.push_back(RowBatch::Field{len, value});
    const auto& c = current_->columns[static_cast<std::size_t>(j)];
    if (len < 0) continue;
    if (c.rule) {
      row.any_rule = true;
    } else if (c.scan && !value.empty()) {
      batch_.scanned.push_back(c.jsonb_binary ? value.substr(1) : value);
      batch_.scanned_column.push_back(static_cast<uint32_t>(j));
    }
  }
  if (r.pos != body.size()) return false;
  row.scanned = static_cast<uint32_t>(batch_.scanned.size()) - row.first_scanned;
  batch_.rows.push_back(row);
  return true;
}

bool SessionMasker::readAhead(std::string_view body, std::string_view following) {
  // Enough rows that Hyperscan's fixed cost per scan (about 150 ns) is spread thin; few enough that the joined
  // text stays in cache.
  constexpr std::size_t kMaxRows = 256;
  constexpr std::size_t kMaxBytes = 256 * 1024;
  batch_.clear();
  if (!batchRow(body)) return false;
  const bool scanning = std::any_of(current_->columns.begin(), current_->columns.end(),
                                    [](const ColumnPlan& c) { return c.scan; });
  std::size_t bytes = body.size();
  for (std::size_t at = 0; scanning && batch_.rows.size() < kMaxRows && bytes < kMaxBytes;) {
    if (following.size() - at < 5 || following[at] != 'D') break;
    const uint32_t len = (static_cast<uint32_t>(static_cast<unsigned char>(following[at + 1])) << 24) |
                         (static_cast<uint32_t>(static_cast<unsigned char>(following[at + 2])) << 16) |
                         (static_cast<uint32_t>(static_cast<unsigned char>(following[at + 3])) << 8) |
                         static_cast<uint32_t>(static_cast<unsigned char>(following[at + 4]));
    if (len < 4 || len - 4 > following.size() - at - 5) break;
    const auto fields = batch_.fields.size();
    const auto scanned = batch_.scanned.size();
    if (!batchRow(following.substr(at + 5, len - 4))) {
      // Left for its own turn, where it is withheld.
      batch_.fields.resize(fields);
      batch_.scanned.resize(scanned);
      batch_.scanned_column.resize(scanned);
      break;
    }
    at += 1 + len;
    bytes += len;
  }
  if (!batch_.scanned.empty()) {
    if (!policy_->detectors()->scanFields(batch_.scanned, batch_.matches)) return false;
    std::erase_if(batch_.matches, [&](const masking::FieldMatch& m) { return detector_rule_[m.detector] < 0; });
  }
  return true;
}

void SessionMasker::bump(ColumnPlan& c, uint16_t rule) {
  if (c.masked.size() <= rule) c.masked.resize(static_cast<std::size_t>(rule) + 1);
  ++c.masked[rule];
}

bool SessionMasker::maskDataRow(std::string_view body, std::string_view following, std::string& out) {
  const std::size_t start = out.size();
  auto withhold = [&] {
    out += refused("masking: a data row does not match its description, so it is withheld");
    discarding_ = true;
    endResult();
    popUntilSync();
    return true;
  };
  // Read ahead unless this row is the next one of the batch (the same bytes).
  if (batch_.next >= batch_.rows.size() || batch_.rows[batch_.next].body.data() != body.data() ||
      batch_.rows[batch_.next].body.size() != body.size())
    if (!readAhead(body, following)) return withhold();
  const auto& row = batch_.rows[batch_.next++];
  const auto first_match = batch_.next_match;
  while (batch_.next_match < batch_.matches.size() &&
         batch_.matches[batch_.next_match].field < row.first_scanned + row.scanned)
    ++batch_.next_match;
  if (!row.any_rule && first_match == batch_.next_match) return false;  // the common case: forwarded as it is

  const auto n = current_->columns.size();
  out += 'D';
  put32(out, 0);
  put16(out, static_cast<int16_t>(n));
  std::size_t next_match = first_match;
  std::size_t next_scanned = row.first_scanned;
  for (std::size_t j = 0; j < n; ++j) {
    auto& c = current_->columns[j];
    const auto& f = batch_.fields[row.first_field + j];
    const bool is_scanned = next_scanned < row.first_scanned + row.scanned && batch_.scanned_column[next_scanned] == j;
    const std::size_t scan_index = next_scanned;
    if (is_scanned) ++next_scanned;
    if (f.len < 0 ||
        (!c.rule && !(is_scanned && next_match < batch_.next_match && batch_.matches[next_match].field == scan_index))) {
      put32(out, static_cast<uint32_t>(f.len));
      out.append(f.value);
      continue;
    }
    const std::size_t length_at = out.size();
    put32(out, 0);
    if (c.rule) {
      if (!maskValue(c, f.value, out)) {
        out.resize(length_at);
        put32(out, static_cast<uint32_t>(-1));
        continue;
      }
    } else {
      // Content matches of this value, in order: each replaced by its rule's style.
      std::string_view text = f.value;
      if (c.jsonb_binary) {
        out += text.front();
        text.remove_prefix(1);
      }
      std::size_t at = 0;
      for (; next_match < batch_.next_match && batch_.matches[next_match].field == scan_index; ++next_match) {
        const auto& m = batch_.matches[next_match];
        const auto rule = static_cast<uint16_t>(detector_rule_[m.detector]);
        const auto& spec = policy_->rules()[rule].style;
        out.append(text.substr(at, m.begin - at));
        if (spec.style == masking::Style::kNull) out += spec.replacement;
        else masking::appendMasked(spec, text.substr(m.begin, m.end - m.begin), policy_->tokenKey(), out);
        at = m.end;
        bump(c, rule);
      }
      out.append(text.substr(at));
    }
    const auto len = static_cast<uint32_t>(out.size() - length_at - 4);
    out[length_at] = static_cast<char>(len >> 24);
    out[length_at + 1] = static_cast<char>(len >> 16);
    out[length_at + 2] = static_cast<char>(len >> 8);
    out[length_at + 3] = static_cast<char>(len);
  }
  patchLength(out, start);
  return true;
}

bool SessionMasker::maskCopyData(std::string_view body, std::string& out) {
  auto fields = masking::splitCopyRow(body, *current_->copy);
  if (!fields || fields->size() != current_->columns.size()) {
    out = refused("masking: a COPY row could not be read, so the rest of the output is withheld");
    discarding_ = true;
    endResult();
    popUntilSync();
    return true;
  }
  bool changed = false;
  std::string value;
  for (std::size_t j = 0; j < fields->size(); ++j) {
    auto& f = (*fields)[j];
    auto& c = current_->columns[j];
    if (!f || (!c.rule && !c.scan)) continue;
    value.clear();
    if (!maskValue(c, *f, value)) {
      f.reset();
      changed = true;
    } else if (value != *f) {
      *f = value;
      changed = true;
    }
  }
  if (!changed) return false;
  std::string row;
  masking::joinCopyRow(*fields, *current_->copy, row);
  out += 'd';
  put32(out, 0);
  out += row;
  patchLength(out, 0);
  return true;
}

std::string SessionMasker::maskFields(char type, std::string_view body) {
  // Code byte, NUL-terminated text, ..., a final NUL. Values can leak through M (the message: quoted input),
  // D (detail: key values, a failing row), H (hint), W (context, e.g. a PL/pgSQL RAISE), q (internal query).
  std::string out;
  out += type;
  put32(out, 0);
  Reader r{body};
  while (r.ok && r.pos < body.size() && body[r.pos] != '\0') {
    const char code = body[r.pos++];
    std::string value(r.cstr());
    if (!r.ok) break;
    if (column_rules_ && code == 'D') value = maskDetailValues(value);
    // Quoted input in a message (`invalid input syntax for type integer: "..."`) may be a protected value when
    // the statement reads a protected column.
    if (quote_values_ && (code == 'M' || code == 'W')) value = maskQuoted(value);
    if (detectors_ && (code == 'M' || code == 'D' || code == 'H' || code == 'W' || code == 'q')) {
      std::string masked;
      if (maskContent(value, "error message", masked)) value = std::move(masked);
    }
    out += code;
    (out += value) += '\0';
  }
  out += '\0';
  patchLength(out, 0);
  return out;
}

}  // namespace gatehouse::gateway
