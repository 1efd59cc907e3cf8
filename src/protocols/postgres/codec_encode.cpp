// Encoding of every message, both directions: the inverse of codec_decode.cpp and codec_stream.cpp.
// Each encoder appends one whole message, length word included, to the caller's buffer.
// Layouts: https://www.postgresql.org/docs/15/protocol-message-formats.html
#include <string>

#include "protocols/postgres/codec.h"
#include "protocols/postgres/wire_buffer.h"

namespace gatehouse::pg {
namespace {

using namespace wire;

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

void putFormats(std::string& out, const std::vector<int16_t>& formats) {
  putCount16(out, formats.size());
  for (int16_t f : formats) putI16(out, f);
}

void putValues(std::string& out, const std::vector<std::optional<std::string>>& values) {
  putCount16(out, values.size());
  for (const auto& v : values) putNullable(out, v);
}

void putOids(std::string& out, const std::vector<uint32_t>& oids) {
  putCount16(out, oids.size());
  for (uint32_t oid : oids) putU32(out, oid);
}

void putFields(std::string& out, const std::vector<std::pair<char, std::string>>& fields) {
  for (const auto& [code, value] : fields) {
    out.push_back(code);
    putCString(out, value);
  }
  out.push_back('\0');
}

// A message whose body is empty.
void putEmpty(std::string& out, char type) {
  finishMessage(out, beginMessage(out, type));
}

// Bodies shared by both directions.
void putCopyData(std::string& out, const CopyData& m) {
  const size_t at = beginMessage(out, 'd');
  out.append(m.data);
  finishMessage(out, at);
}

}  // namespace

void encode(const StartupPacket& packet, std::string& out) {
  const size_t at = beginMessage(out, 0);
  std::visit(Overloaded{
                 [&](const StartupMessage& m) {
                   putI32(out, m.protocol);
                   for (const auto& [key, value] : m.params) {
                     putCString(out, key);
                     putCString(out, value);
                   }
                   out.push_back('\0');
                 },
                 [&](const SslRequest&) { putI32(out, kSslRequestCode); },
                 [&](const GssEncRequest&) { putI32(out, kGssEncRequestCode); },
                 [&](const CancelRequest& m) {
                   putI32(out, kCancelRequestCode);
                   putI32(out, m.pid);
                   putI32(out, m.key);
                 },
             },
             packet);
  finishMessage(out, at);
}

void encode(const FrontendMessage& message, std::string& out) {
  std::visit(Overloaded{
                 [&](const Query& m) {
                   const size_t at = beginMessage(out, 'Q');
                   putCString(out, m.sql);
                   finishMessage(out, at);
                 },
                 [&](const Parse& m) {
                   const size_t at = beginMessage(out, 'P');
                   putCString(out, m.name);
                   putCString(out, m.query);
                   putOids(out, m.param_types);
                   finishMessage(out, at);
                 },
                 [&](const Bind& m) {
                   const size_t at = beginMessage(out, 'B');
                   putCString(out, m.portal);
                   putCString(out, m.statement);
                   putFormats(out, m.param_formats);
                   putValues(out, m.params);
                   putFormats(out, m.result_formats);
                   finishMessage(out, at);
                 },
                 [&](const Describe& m) {
                   const size_t at = beginMessage(out, 'D');
                   out.push_back(m.kind);
                   putCString(out, m.name);
                   finishMessage(out, at);
                 },
                 [&](const Execute& m) {
                   const size_t at = beginMessage(out, 'E');
                   putCString(out, m.portal);
                   putI32(out, m.max_rows);
                   finishMessage(out, at);
                 },
                 [&](const Close& m) {
                   const size_t at = beginMessage(out, 'C');
                   out.push_back(m.kind);
                   putCString(out, m.name);
                   finishMessage(out, at);
                 },
                 [&](const Flush&) { putEmpty(out, 'H'); },
                 [&](const Sync&) { putEmpty(out, 'S'); },
                 [&](const Terminate&) { putEmpty(out, 'X'); },
                 [&](const CopyData& m) { putCopyData(out, m); },
                 [&](const CopyDone&) { putEmpty(out, 'c'); },
                 [&](const CopyFail& m) {
                   const size_t at = beginMessage(out, 'f');
                   putCString(out, m.message);
                   finishMessage(out, at);
                 },
                 [&](const PasswordMessage& m) {
                   const size_t at = beginMessage(out, 'p');
                   out.append(m.data);
                   finishMessage(out, at);
                 },
                 [&](const FunctionCall& m) {
                   const size_t at = beginMessage(out, 'F');
                   putU32(out, m.function_oid);
                   putFormats(out, m.arg_formats);
                   putValues(out, m.args);
                   putI16(out, m.result_format);
                   finishMessage(out, at);
                 },
             },
             message);
}

void encode(const BackendMessage& message, std::string& out) {
  std::visit(Overloaded{
                 [&](const Authentication& m) {
                   const size_t at = beginMessage(out, 'R');
                   putI32(out, static_cast<int32_t>(m.code));
                   out.append(m.data);
                   finishMessage(out, at);
                 },
                 [&](const BackendKeyData& m) {
                   const size_t at = beginMessage(out, 'K');
                   putI32(out, m.pid);
                   putI32(out, m.key);
                   finishMessage(out, at);
                 },
                 [&](const ParameterStatus& m) {
                   const size_t at = beginMessage(out, 'S');
                   putCString(out, m.name);
                   putCString(out, m.value);
                   finishMessage(out, at);
                 },
                 [&](const ReadyForQuery& m) {
                   const size_t at = beginMessage(out, 'Z');
                   out.push_back(m.status);
                   finishMessage(out, at);
                 },
                 [&](const RowDescription& m) {
                   const size_t at = beginMessage(out, 'T');
                   putCount16(out, m.fields.size());
                   for (const FieldDescription& f : m.fields) {
                     putCString(out, f.name);
                     putU32(out, f.table_oid);
                     putI16(out, f.column);
                     putU32(out, f.type_oid);
                     putI16(out, f.type_size);
                     putI32(out, f.type_modifier);
                     putI16(out, f.format);
                   }
                   finishMessage(out, at);
                 },
                 [&](const DataRow& m) {
                   const size_t at = beginMessage(out, 'D');
                   putValues(out, m.values);
                   finishMessage(out, at);
                 },
                 [&](const CommandComplete& m) {
                   const size_t at = beginMessage(out, 'C');
                   putCString(out, m.tag);
                   finishMessage(out, at);
                 },
                 [&](const EmptyQueryResponse&) { putEmpty(out, 'I'); },
                 [&](const ErrorResponse& m) {
                   const size_t at = beginMessage(out, 'E');
                   putFields(out, m.fields);
                   finishMessage(out, at);
                 },
                 [&](const NoticeResponse& m) {
                   const size_t at = beginMessage(out, 'N');
                   putFields(out, m.fields);
                   finishMessage(out, at);
                 },
                 [&](const NotificationResponse& m) {
                   const size_t at = beginMessage(out, 'A');
                   putI32(out, m.pid);
                   putCString(out, m.channel);
                   putCString(out, m.payload);
                   finishMessage(out, at);
                 },
                 [&](const ParseComplete&) { putEmpty(out, '1'); },
                 [&](const BindComplete&) { putEmpty(out, '2'); },
                 [&](const CloseComplete&) { putEmpty(out, '3'); },
                 [&](const NoData&) { putEmpty(out, 'n'); },
                 [&](const ParameterDescription& m) {
                   const size_t at = beginMessage(out, 't');
                   putOids(out, m.types);
                   finishMessage(out, at);
                 },
                 [&](const PortalSuspended&) { putEmpty(out, 's'); },
                 [&](const CopyResponse& m) {
                   const size_t at = beginMessage(out, m.type);
                   putU8(out, static_cast<uint8_t>(m.format));
                   putFormats(out, m.column_formats);
                   finishMessage(out, at);
                 },
                 [&](const CopyData& m) { putCopyData(out, m); },
                 [&](const CopyDone&) { putEmpty(out, 'c'); },
                 [&](const NegotiateProtocolVersion& m) {
                   const size_t at = beginMessage(out, 'v');
                   putI32(out, m.newest_minor);
                   putI32(out, static_cast<int32_t>(m.options.size()));
                   for (const std::string& option : m.options) putCString(out, option);
                   finishMessage(out, at);
                 },
                 [&](const FunctionCallResponse& m) {
                   const size_t at = beginMessage(out, 'V');
                   putNullable(out, m.value);
                   finishMessage(out, at);
                 },
             },
             message);
}

void encode(const SaslInitialResponse& message, std::string& out) {
  const size_t at = beginMessage(out, 'p');
  putCString(out, message.mechanism);
  putNullable(out, message.data);
  finishMessage(out, at);
}

void encodePassword(std::string_view password, std::string& out) {
  const size_t at = beginMessage(out, 'p');
  putCString(out, password);
  finishMessage(out, at);
}

std::string errorResponse(std::string_view severity, std::string_view sqlstate, std::string_view message,
                          std::string_view detail, std::string_view hint) {
  ErrorResponse e;
  e.fields.emplace_back('S', severity);
  e.fields.emplace_back('V', severity);  // the gateway's messages are never localized
  e.fields.emplace_back('C', sqlstate);
  e.fields.emplace_back('M', message);
  if (!detail.empty()) e.fields.emplace_back('D', detail);
  if (!hint.empty()) e.fields.emplace_back('H', hint);
  std::string out;
  encode(BackendMessage{std::move(e)}, out);
  return out;
}

}  // namespace gatehouse::pg
