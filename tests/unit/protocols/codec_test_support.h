// Shared by the codec tests: equality for the message structs (kept out of messages.h, which has no need
// for them), a sample of every message type in both directions, and small byte-building helpers.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "protocols/postgres/codec.h"
#include "protocols/postgres/messages.h"

namespace gatehouse::pg {

// C++20 only defaults comparisons declared inside the class, so these are spelled out.
inline bool operator==(const StartupMessage& a, const StartupMessage& b) {
  return a.protocol == b.protocol && a.params == b.params;
}
inline bool operator==(const SslRequest&, const SslRequest&) {
  return true;
}
inline bool operator==(const GssEncRequest&, const GssEncRequest&) {
  return true;
}
inline bool operator==(const CancelRequest& a, const CancelRequest& b) {
  return a.pid == b.pid && a.key == b.key;
}
inline bool operator==(const Query& a, const Query& b) {
  return a.sql == b.sql;
}
inline bool operator==(const Parse& a, const Parse& b) {
  return std::tie(a.name, a.query, a.param_types) == std::tie(b.name, b.query, b.param_types);
}
inline bool operator==(const Bind& a, const Bind& b) {
  return std::tie(a.portal, a.statement, a.param_formats, a.params, a.result_formats) ==
         std::tie(b.portal, b.statement, b.param_formats, b.params, b.result_formats);
}
inline bool operator==(const Describe& a, const Describe& b) {
  return a.kind == b.kind && a.name == b.name;
}
inline bool operator==(const Execute& a, const Execute& b) {
  return a.portal == b.portal && a.max_rows == b.max_rows;
}
inline bool operator==(const Close& a, const Close& b) {
  return a.kind == b.kind && a.name == b.name;
}
inline bool operator==(const Flush&, const Flush&) {
  return true;
}
inline bool operator==(const Sync&, const Sync&) {
  return true;
}
inline bool operator==(const Terminate&, const Terminate&) {
  return true;
}
inline bool operator==(const CopyData& a, const CopyData& b) {
  return a.data == b.data;
}
inline bool operator==(const CopyDone&, const CopyDone&) {
  return true;
}
inline bool operator==(const CopyFail& a, const CopyFail& b) {
  return a.message == b.message;
}
inline bool operator==(const PasswordMessage& a, const PasswordMessage& b) {
  return a.data == b.data;
}
inline bool operator==(const FunctionCall& a, const FunctionCall& b) {
  return std::tie(a.function_oid, a.arg_formats, a.args, a.result_format) ==
         std::tie(b.function_oid, b.arg_formats, b.args, b.result_format);
}
inline bool operator==(const SaslInitialResponse& a, const SaslInitialResponse& b) {
  return a.mechanism == b.mechanism && a.data == b.data;
}
inline bool operator==(const Authentication& a, const Authentication& b) {
  return a.code == b.code && a.data == b.data;
}
inline bool operator==(const BackendKeyData& a, const BackendKeyData& b) {
  return a.pid == b.pid && a.key == b.key;
}
inline bool operator==(const ParameterStatus& a, const ParameterStatus& b) {
  return a.name == b.name && a.value == b.value;
}
inline bool operator==(const ReadyForQuery& a, const ReadyForQuery& b) {
  return a.status == b.status;
}
inline bool operator==(const FieldDescription& a, const FieldDescription& b) {
  return std::tie(a.name, a.table_oid, a.column, a.type_oid, a.type_size, a.type_modifier, a.format) ==
         std::tie(b.name, b.table_oid, b.column, b.type_oid, b.type_size, b.type_modifier, b.format);
}
inline bool operator==(const RowDescription& a, const RowDescription& b) {
  return a.fields == b.fields;
}
inline bool operator==(const DataRow& a, const DataRow& b) {
  return a.values == b.values;
}
inline bool operator==(const CommandComplete& a, const CommandComplete& b) {
  return a.tag == b.tag;
}
inline bool operator==(const EmptyQueryResponse&, const EmptyQueryResponse&) {
  return true;
}
inline bool operator==(const ErrorResponse& a, const ErrorResponse& b) {
  return a.fields == b.fields;
}
inline bool operator==(const NoticeResponse& a, const NoticeResponse& b) {
  return a.fields == b.fields;
}
inline bool operator==(const NotificationResponse& a, const NotificationResponse& b) {
  return std::tie(a.pid, a.channel, a.payload) == std::tie(b.pid, b.channel, b.payload);
}
inline bool operator==(const ParseComplete&, const ParseComplete&) {
  return true;
}
inline bool operator==(const BindComplete&, const BindComplete&) {
  return true;
}
inline bool operator==(const CloseComplete&, const CloseComplete&) {
  return true;
}
inline bool operator==(const NoData&, const NoData&) {
  return true;
}
inline bool operator==(const ParameterDescription& a, const ParameterDescription& b) {
  return a.types == b.types;
}
inline bool operator==(const PortalSuspended&, const PortalSuspended&) {
  return true;
}
inline bool operator==(const CopyResponse& a, const CopyResponse& b) {
  return std::tie(a.type, a.format, a.column_formats) == std::tie(b.type, b.format, b.column_formats);
}
inline bool operator==(const NegotiateProtocolVersion& a, const NegotiateProtocolVersion& b) {
  return a.newest_minor == b.newest_minor && a.options == b.options;
}
inline bool operator==(const FunctionCallResponse& a, const FunctionCallResponse& b) {
  return a.value == b.value;
}

}  // namespace gatehouse::pg

namespace gatehouse::pg::fixtures {

// Bytes from a list of values 0..255, for hand-written wire fixtures.
inline std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out.push_back(static_cast<char>(v));
  return out;
}

inline std::string be32(uint32_t v) {
  return bytes({static_cast<int>(v >> 24 & 0xff), static_cast<int>(v >> 16 & 0xff),
                static_cast<int>(v >> 8 & 0xff), static_cast<int>(v & 0xff)});
}
inline std::string be16(uint16_t v) {
  return bytes({v >> 8, v & 0xff});
}

// A typed message from a type and a body, with the length word computed.
inline std::string frame(char type, const std::string& body) {
  return std::string(1, type) + be32(static_cast<uint32_t>(body.size() + 4)) + body;
}

inline std::string encoded(const StartupPacket& p) {
  std::string out;
  encode(p, out);
  return out;
}
inline std::string encoded(const FrontendMessage& m) {
  std::string out;
  encode(m, out);
  return out;
}
inline std::string encoded(const BackendMessage& m) {
  std::string out;
  encode(m, out);
  return out;
}

// A string with every byte value, NUL included, for fields that carry raw bytes.
inline std::string allBytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

inline std::vector<StartupPacket> startupSamples() {
  return {
      StartupMessage{kProtocolV3,
                     {{"user", "alice@example.com"}, {"database", "pg-prod"}, {"application_name", ""}}},
      StartupMessage{kProtocolV3 | 2, {}},  // protocol 3.2, no parameters
      SslRequest{},
      GssEncRequest{},
      CancelRequest{4242, -123456789},
  };
}

inline std::vector<FrontendMessage> frontendSamples() {
  std::vector<std::optional<std::string>> many(40000);  // above 32767: counts are unsigned 16-bit
  return {
      Query{"SELECT 1; SELECT 'é'"},
      Query{""},
      Parse{"s1", "SELECT $1::int, $2", {23, 0xffffffffu}},
      Parse{"", "", {}},
      Bind{"p1", "s1", {0, 1}, {std::string("42"), std::nullopt, allBytes(), std::string()}, {1, -1}},
      Bind{"", "", {}, many, {}},
      Describe{'S', "s1"},
      Describe{'P', ""},
      Execute{"p1", 0},
      Execute{"", -1},
      Close{'S', "s1"},
      Close{'P', "p1"},
      Flush{},
      Sync{},
      Terminate{},
      CopyData{allBytes()},
      CopyData{""},
      CopyDone{},
      CopyFail{"client gave up"},
      PasswordMessage{std::string("n,,n=,r=abc") + '\0' + "x"},
      FunctionCall{1598, {1}, {std::string("ab"), std::nullopt}, 1},
  };
}

inline std::vector<BackendMessage> backendSamples() {
  return {
      Authentication{AuthCode::kOk, ""},
      Authentication{AuthCode::kCleartextPassword, ""},
      Authentication{AuthCode::kGss, ""},
      Authentication{AuthCode::kMd5Password, bytes({0, 0xff, 'a', 0})},
      Authentication{AuthCode::kSasl, std::string("SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0", 34)},
      Authentication{AuthCode::kSaslContinue, "r=abc,s=c2FsdA==,i=4096"},
      Authentication{AuthCode::kSaslFinal, "v=c2lnbmF0dXJl"},
      Authentication{AuthCode::kGssContinue, allBytes()},
      BackendKeyData{12345, -6789},
      ParameterStatus{"server_version", "15.6"},
      ReadyForQuery{'I'},
      ReadyForQuery{'T'},
      ReadyForQuery{'E'},
      RowDescription{{{"id", 16384, 1, 23, 4, -1, 0}, {"", 0, 0, 0xfffffff0u, -1, 0x7fffffff, 1}}},
      RowDescription{},
      DataRow{{std::string("1"), std::nullopt, std::string(), allBytes()}},
      DataRow{},
      CommandComplete{"INSERT 0 1"},
      EmptyQueryResponse{},
      ErrorResponse{{{'S', "ERROR"},
                     {'V', "ERROR"},
                     {'C', "42P01"},
                     {'M', "relation \"nope\" does not exist"},
                     {'P', "15"}}},
      ErrorResponse{},
      NoticeResponse{{{'S', "NOTICE"}, {'M', "hello"}}},
      NotificationResponse{77, "jobs", "{\"id\": 1}"},
      ParseComplete{},
      BindComplete{},
      CloseComplete{},
      NoData{},
      ParameterDescription{{23, 25, 0xffffffffu}},
      PortalSuspended{},
      CopyResponse{'G', 0, {0, 0}},
      CopyResponse{'H', 1, {1}},
      CopyResponse{'W', -1, {}},
      CopyData{allBytes()},
      CopyDone{},
      NegotiateProtocolVersion{0, {"_pq_.compression", ""}},
      FunctionCallResponse{std::string("x")},
      FunctionCallResponse{std::nullopt},
  };
}

template <class Variant>
std::set<size_t> alternativesOf(const std::vector<Variant>& samples) {
  std::set<size_t> seen;
  for (const auto& s : samples) seen.insert(s.index());
  return seen;
}

}  // namespace gatehouse::pg::fixtures
