// Decoding of typed message bodies (after the 5-byte header), both directions, and of the three
// meanings of a 'p' message. Every layout is checked before it is read; trailing bytes are errors.
// Layouts: https://www.postgresql.org/docs/15/protocol-message-formats.html
#include <string>
#include <utility>

#include "protocols/postgres/codec.h"
#include "protocols/postgres/wire_buffer.h"

namespace gatehouse::pg {
namespace {

using wire::Reader;

// Wire sizes of the smallest possible element, used to bound counts before reserving.
constexpr size_t kInt16Size = 2;
constexpr size_t kInt32Size = 4;
constexpr size_t kFieldDescriptionMinSize = 1 + 4 + 2 + 4 + 2 + 4 + 2;  // empty name, then fixed fields

std::string typeName(char type) {
  const auto u = static_cast<unsigned char>(type);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + type + "'";
  return "0x" + std::string(1, "0123456789abcdef"[u >> 4]) + "0123456789abcdef"[u & 15];
}

template <class Out>
Result<Out> emptyBody(Out message, std::string_view name, std::string_view body) {
  Reader r(name, body);
  if (!r.end()) return r.error();
  return message;
}

bool readFormats(Reader& r, std::vector<int16_t>& out, std::string_view count_field, std::string_view field) {
  size_t n = 0;
  if (!r.count16(n, kInt16Size, count_field)) return false;
  out.resize(n);
  for (size_t i = 0; i < n; ++i)
    if (!r.i16(out[i], field, static_cast<int>(i))) return false;
  return true;
}

bool readValues(Reader& r, std::vector<std::optional<std::string>>& out, std::string_view count_field,
                std::string_view field) {
  size_t n = 0;
  if (!r.count16(n, kInt32Size, count_field)) return false;
  out.resize(n);
  for (size_t i = 0; i < n; ++i)
    if (!r.nullable(out[i], field, static_cast<int>(i))) return false;
  return true;
}

bool readOids(Reader& r, std::vector<uint32_t>& out, std::string_view count_field, std::string_view field) {
  size_t n = 0;
  if (!r.count16(n, kInt32Size, count_field)) return false;
  out.resize(n);
  for (size_t i = 0; i < n; ++i)
    if (!r.u32(out[i], field, static_cast<int>(i))) return false;
  return true;
}

// Error and notice fields: (code byte, NUL-terminated value)* then a 0 byte.
bool readFields(Reader& r, std::vector<std::pair<char, std::string>>& out) {
  for (;;) {
    char code = 0;
    if (!r.byte(code, "field code (or the final 0 byte)")) return false;
    if (code == 0) return r.end();
    std::string value;
    if (!r.cstring(value, "field", static_cast<int>(out.size()))) return false;
    out.emplace_back(code, std::move(value));
  }
}

bool kindIsValid(char kind) {
  return kind == 'S' || kind == 'P';
}

// ---- Frontend ----

Result<FrontendMessage> decodeParse(std::string_view body) {
  Reader r("Parse", body);
  Parse m;
  if (!r.cstring(m.name, "statement name") || !r.cstring(m.query, "query") ||
      !readOids(r, m.param_types, "parameter type count", "parameter type") || !r.end())
    return r.error();
  return FrontendMessage{std::move(m)};
}

Result<FrontendMessage> decodeBind(std::string_view body) {
  Reader r("Bind", body);
  Bind m;
  if (!r.cstring(m.portal, "portal name") || !r.cstring(m.statement, "statement name") ||
      !readFormats(r, m.param_formats, "parameter format count", "parameter format") ||
      !readValues(r, m.params, "parameter count", "parameter") ||
      !readFormats(r, m.result_formats, "result format count", "result format") || !r.end())
    return r.error();
  return FrontendMessage{std::move(m)};
}

template <class Target>
Result<FrontendMessage> decodeKindAndName(std::string_view name, std::string_view body) {
  Reader r(name, body);
  Target m;
  if (!r.byte(m.kind, "kind")) return r.error();
  if (!kindIsValid(m.kind)) {
    r.fail("kind", -1, "must be 'S' or 'P', not " + typeName(m.kind));
    return r.error();
  }
  if (!r.cstring(m.name, "name") || !r.end()) return r.error();
  return FrontendMessage{std::move(m)};
}

Result<FrontendMessage> decodeFunctionCall(std::string_view body) {
  Reader r("FunctionCall", body);
  FunctionCall m;
  if (!r.u32(m.function_oid, "function OID") ||
      !readFormats(r, m.arg_formats, "argument format count", "argument format") ||
      !readValues(r, m.args, "argument count", "argument") || !r.i16(m.result_format, "result format") ||
      !r.end())
    return r.error();
  return FrontendMessage{std::move(m)};
}

template <class Target>
Result<FrontendMessage> decodeOneString(std::string_view name, std::string_view field, std::string_view body,
                                        std::string Target::*member) {
  Reader r(name, body);
  Target m;
  if (!r.cstring(m.*member, field) || !r.end()) return r.error();
  return FrontendMessage{std::move(m)};
}

// ---- Backend ----

// AuthenticationSASL's data: one or more NUL-terminated mechanism names, then an empty one.
bool checkMechanismList(Reader& r) {
  for (int i = 0;; ++i) {
    std::string name;
    if (!r.cstring(name, "SASL mechanism", i)) return false;
    if (name.empty()) return i > 0 || r.fail("SASL mechanism list", -1, "is empty");
  }
}

Result<BackendMessage> decodeAuthentication(std::string_view body) {
  Reader r("Authentication", body);
  Authentication m;
  int32_t code = 0;
  if (!r.i32(code, "code")) return r.error();
  m.code = static_cast<AuthCode>(code);
  switch (m.code) {
    case AuthCode::kOk:
    case AuthCode::kKerberosV5:
    case AuthCode::kCleartextPassword:
    case AuthCode::kGss:
    case AuthCode::kSspi:
      if (!r.end()) return r.error();
      break;
    case AuthCode::kMd5Password:
      if (!r.bytes(4, m.data, "salt") || !r.end()) return r.error();
      break;
    case AuthCode::kSasl: {
      const std::string_view list = body.substr(kInt32Size);
      if (!checkMechanismList(r) || !r.end()) return r.error();
      m.data.assign(list);
      break;
    }
    case AuthCode::kGssContinue:
    case AuthCode::kSaslContinue:
    case AuthCode::kSaslFinal:
      r.rest(m.data);
      break;
    default:
      r.fail("code", -1, std::to_string(code) + " is not a known authentication request");
      return r.error();
  }
  return BackendMessage{std::move(m)};
}

Result<BackendMessage> decodeRowDescription(std::string_view body) {
  Reader r("RowDescription", body);
  RowDescription m;
  size_t n = 0;
  if (!r.count16(n, kFieldDescriptionMinSize, "field count")) return r.error();
  m.fields.resize(n);
  for (size_t i = 0; i < n; ++i) {
    FieldDescription& f = m.fields[i];
    const int idx = static_cast<int>(i);
    if (!r.cstring(f.name, "name of field", idx) || !r.u32(f.table_oid, "table OID of field", idx) ||
        !r.i16(f.column, "column of field", idx) || !r.u32(f.type_oid, "type OID of field", idx) ||
        !r.i16(f.type_size, "type size of field", idx) ||
        !r.i32(f.type_modifier, "type modifier of field", idx) || !r.i16(f.format, "format of field", idx))
      return r.error();
  }
  if (!r.end()) return r.error();
  return BackendMessage{std::move(m)};
}

Result<BackendMessage> decodeDataRow(std::string_view body) {
  Reader r("DataRow", body);
  DataRow m;
  if (!readValues(r, m.values, "column count", "column") || !r.end()) return r.error();
  return BackendMessage{std::move(m)};
}

template <class Target>
Result<BackendMessage> decodeFields(std::string_view name, std::string_view body) {
  Reader r(name, body);
  Target m;
  if (!readFields(r, m.fields)) return r.error();
  return BackendMessage{std::move(m)};
}

Result<BackendMessage> decodeReadyForQuery(std::string_view body) {
  Reader r("ReadyForQuery", body);
  ReadyForQuery m;
  if (!r.byte(m.status, "transaction status")) return r.error();
  if (m.status != 'I' && m.status != 'T' && m.status != 'E') {
    r.fail("transaction status", -1, "must be 'I', 'T' or 'E', not " + typeName(m.status));
    return r.error();
  }
  if (!r.end()) return r.error();
  return BackendMessage{m};
}

Result<BackendMessage> decodeCopyResponse(char type, std::string_view body) {
  Reader r(type == 'G' ? "CopyInResponse" : type == 'H' ? "CopyOutResponse" : "CopyBothResponse", body);
  CopyResponse m;
  m.type = type;
  if (!r.i8(m.format, "format") || !readFormats(r, m.column_formats, "column count", "column format") ||
      !r.end())
    return r.error();
  return BackendMessage{std::move(m)};
}

Result<BackendMessage> decodeNegotiateProtocolVersion(std::string_view body) {
  Reader r("NegotiateProtocolVersion", body);
  NegotiateProtocolVersion m;
  size_t n = 0;
  if (!r.i32(m.newest_minor, "newest minor version") || !r.count32(n, 1, "option count")) return r.error();
  m.options.resize(n);
  for (size_t i = 0; i < n; ++i)
    if (!r.cstring(m.options[i], "option", static_cast<int>(i))) return r.error();
  if (!r.end()) return r.error();
  return BackendMessage{std::move(m)};
}

}  // namespace

Result<FrontendMessage> decodeFrontend(char type, std::string_view body) {
  switch (type) {
    case 'Q':
      return decodeOneString<Query>("Query", "query", body, &Query::sql);
    case 'P':
      return decodeParse(body);
    case 'B':
      return decodeBind(body);
    case 'D':
      return decodeKindAndName<Describe>("Describe", body);
    case 'E': {
      Reader r("Execute", body);
      Execute m;
      if (!r.cstring(m.portal, "portal name") || !r.i32(m.max_rows, "row limit") || !r.end())
        return r.error();
      return FrontendMessage{std::move(m)};
    }
    case 'C':
      return decodeKindAndName<Close>("Close", body);
    case 'H':
      return emptyBody<FrontendMessage>(Flush{}, "Flush", body);
    case 'S':
      return emptyBody<FrontendMessage>(Sync{}, "Sync", body);
    case 'X':
      return emptyBody<FrontendMessage>(Terminate{}, "Terminate", body);
    case 'd':
      return FrontendMessage{CopyData{std::string(body)}};
    case 'c':
      return emptyBody<FrontendMessage>(CopyDone{}, "CopyDone", body);
    case 'f':
      return decodeOneString<CopyFail>("CopyFail", "message", body, &CopyFail::message);
    // Password, SASLInitialResponse or SASLResponse: only the session knows which, so keep the bytes.
    case 'p':
      return FrontendMessage{PasswordMessage{std::string(body)}};
    case 'F':
      return decodeFunctionCall(body);
    default:
      return makeError("unknown frontend message type " + typeName(type));
  }
}

Result<BackendMessage> decodeBackend(char type, std::string_view body) {
  switch (type) {
    case 'R':
      return decodeAuthentication(body);
    case 'K': {
      Reader r("BackendKeyData", body);
      BackendKeyData m;
      if (!r.i32(m.pid, "process id") || !r.i32(m.key, "secret key") || !r.end()) return r.error();
      return BackendMessage{m};
    }
    case 'S': {
      Reader r("ParameterStatus", body);
      ParameterStatus m;
      if (!r.cstring(m.name, "name") || !r.cstring(m.value, "value") || !r.end()) return r.error();
      return BackendMessage{std::move(m)};
    }
    case 'Z':
      return decodeReadyForQuery(body);
    case 'T':
      return decodeRowDescription(body);
    case 'D':
      return decodeDataRow(body);
    case 'C': {
      Reader r("CommandComplete", body);
      CommandComplete m;
      if (!r.cstring(m.tag, "command tag") || !r.end()) return r.error();
      return BackendMessage{std::move(m)};
    }
    case 'I':
      return emptyBody<BackendMessage>(EmptyQueryResponse{}, "EmptyQueryResponse", body);
    case 'E':
      return decodeFields<ErrorResponse>("ErrorResponse", body);
    case 'N':
      return decodeFields<NoticeResponse>("NoticeResponse", body);
    case 'A': {
      Reader r("NotificationResponse", body);
      NotificationResponse m;
      if (!r.i32(m.pid, "process id") || !r.cstring(m.channel, "channel") ||
          !r.cstring(m.payload, "payload") || !r.end())
        return r.error();
      return BackendMessage{std::move(m)};
    }
    case '1':
      return emptyBody<BackendMessage>(ParseComplete{}, "ParseComplete", body);
    case '2':
      return emptyBody<BackendMessage>(BindComplete{}, "BindComplete", body);
    case '3':
      return emptyBody<BackendMessage>(CloseComplete{}, "CloseComplete", body);
    case 'n':
      return emptyBody<BackendMessage>(NoData{}, "NoData", body);
    case 't': {
      Reader r("ParameterDescription", body);
      ParameterDescription m;
      if (!readOids(r, m.types, "parameter count", "parameter type") || !r.end()) return r.error();
      return BackendMessage{std::move(m)};
    }
    case 's':
      return emptyBody<BackendMessage>(PortalSuspended{}, "PortalSuspended", body);
    case 'G':
    case 'H':
    case 'W':
      return decodeCopyResponse(type, body);
    case 'd':
      return BackendMessage{CopyData{std::string(body)}};
    case 'c':
      return emptyBody<BackendMessage>(CopyDone{}, "CopyDone", body);
    case 'v':
      return decodeNegotiateProtocolVersion(body);
    case 'V': {
      Reader r("FunctionCallResponse", body);
      FunctionCallResponse m;
      if (!r.nullable(m.value, "result") || !r.end()) return r.error();
      return BackendMessage{std::move(m)};
    }
    default:
      return makeError("unknown backend message type " + typeName(type));
  }
}

Result<std::string> decodePassword(std::string_view body) {
  Reader r("PasswordMessage", body);
  std::string password;
  if (!r.cstring(password, "password") || !r.end()) return r.error();
  return password;
}

Result<SaslInitialResponse> decodeSaslInitialResponse(std::string_view body) {
  Reader r("SASLInitialResponse", body);
  SaslInitialResponse m;
  if (!r.cstring(m.mechanism, "mechanism") || !r.nullable(m.data, "initial response") || !r.end())
    return r.error();
  return m;
}

std::vector<std::string> saslMechanisms(const Authentication& auth) {
  std::vector<std::string> names;
  if (auth.code != AuthCode::kSasl) return names;
  Reader r("AuthenticationSASL", auth.data);
  std::string name;
  while (r.cstring(name, "SASL mechanism") && !name.empty()) names.push_back(name);
  return names;
}

}  // namespace gatehouse::pg
