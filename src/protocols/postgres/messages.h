// Typed PostgreSQL wire-protocol messages (protocol 3.0), frontend and backend.
// Layouts: https://www.postgresql.org/docs/15/protocol-message-formats.html
// Bodies are bytes; std::string holds them (it may contain NULs). No I/O here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace gatehouse::pg {

constexpr int32_t kProtocolV3 = 196608;          // 3 << 16
constexpr int32_t kSslRequestCode = 80877103;    // 1234 << 16 | 5679
constexpr int32_t kGssEncRequestCode = 80877104; // 1234 << 16 | 5680
constexpr int32_t kCancelRequestCode = 80877102; // 1234 << 16 | 5678

// Limits on what a peer may send. A message over its limit is a protocol error, never a big allocation.
struct Limits {
  uint32_t max_startup = 10000;          // PostgreSQL's own limit for startup packets
  uint32_t max_message = 64u << 20;      // any typed message (PostgreSQL accepts up to 1 GB; we are stricter)
};

// ---- Startup phase (untyped packets: int32 length, int32 code, payload) ----
struct StartupMessage {
  int32_t protocol = kProtocolV3;
  std::vector<std::pair<std::string, std::string>> params;  // user, database, application_name, options, ...
  const std::string* find(std::string_view key) const {
    for (const auto& [k, v] : params)
      if (k == key) return &v;
    return nullptr;
  }
};
struct SslRequest {};
struct GssEncRequest {};
struct CancelRequest {
  int32_t pid = 0;
  int32_t key = 0;
};
using StartupPacket = std::variant<StartupMessage, SslRequest, GssEncRequest, CancelRequest>;

// ---- Frontend (client -> server) typed messages ----
struct Query { std::string sql; };                                             // 'Q'
struct Parse {                                                                 // 'P'
  std::string name;
  std::string query;
  std::vector<uint32_t> param_types;
};
struct Bind {                                                                  // 'B'
  std::string portal;
  std::string statement;
  std::vector<int16_t> param_formats;
  std::vector<std::optional<std::string>> params;  // nullopt = SQL NULL
  std::vector<int16_t> result_formats;
};
struct Describe { char kind = 'S'; std::string name; };                        // 'D' kind 'S' or 'P'
struct Execute { std::string portal; int32_t max_rows = 0; };                 // 'E'
struct Close { char kind = 'S'; std::string name; };                           // 'C'
struct Flush {};                                                               // 'H'
struct Sync {};                                                                // 'S'
struct Terminate {};                                                           // 'X'
struct CopyData { std::string data; };                                         // 'd' (both directions)
struct CopyDone {};                                                            // 'c' (both directions)
struct CopyFail { std::string message; };                                      // 'f'
struct PasswordMessage { std::string data; };  // 'p': password, SASLInitialResponse or SASLResponse (by context)
struct FunctionCall {                                                          // 'F'
  uint32_t function_oid = 0;
  std::vector<int16_t> arg_formats;
  std::vector<std::optional<std::string>> args;
  int16_t result_format = 0;
};
using FrontendMessage = std::variant<Query, Parse, Bind, Describe, Execute, Close, Flush, Sync, Terminate, CopyData,
                                     CopyDone, CopyFail, PasswordMessage, FunctionCall>;

// The three meanings of a 'p' message, decoded once the context is known.
struct SaslInitialResponse { std::string mechanism; std::optional<std::string> data; };
struct SaslResponse { std::string data; };

// ---- Backend (server -> client) typed messages ----
enum class AuthCode : int32_t {
  kOk = 0, kKerberosV5 = 2, kCleartextPassword = 3, kMd5Password = 5, kGss = 7, kGssContinue = 8, kSspi = 9,
  kSasl = 10, kSaslContinue = 11, kSaslFinal = 12,
};
struct Authentication {                                                        // 'R'
  AuthCode code = AuthCode::kOk;
  std::string data;  // md5: 4-byte salt; SASL: NUL-terminated mechanism list; continue/final: SASL data
};
struct BackendKeyData { int32_t pid = 0; int32_t key = 0; };                  // 'K'
struct ParameterStatus { std::string name; std::string value; };               // 'S'
struct ReadyForQuery { char status = 'I'; };                                   // 'Z' 'I' idle, 'T' in tx, 'E' failed tx
struct FieldDescription {
  std::string name;
  uint32_t table_oid = 0;
  int16_t column = 0;
  uint32_t type_oid = 0;
  int16_t type_size = 0;
  int32_t type_modifier = 0;
  int16_t format = 0;
};
struct RowDescription { std::vector<FieldDescription> fields; };               // 'T'
struct DataRow { std::vector<std::optional<std::string>> values; };            // 'D'
struct CommandComplete { std::string tag; };                                   // 'C'
struct EmptyQueryResponse {};                                                  // 'I'
// Error and notice fields: https://www.postgresql.org/docs/15/protocol-error-fields.html
struct ErrorResponse {                                                         // 'E'
  std::vector<std::pair<char, std::string>> fields;
  const std::string* find(char code) const {
    for (const auto& [c, v] : fields)
      if (c == code) return &v;
    return nullptr;
  }
};
struct NoticeResponse { std::vector<std::pair<char, std::string>> fields; };   // 'N'
struct NotificationResponse { int32_t pid = 0; std::string channel; std::string payload; };  // 'A'
struct ParseComplete {};                                                       // '1'
struct BindComplete {};                                                        // '2'
struct CloseComplete {};                                                       // '3'
struct NoData {};                                                              // 'n'
struct ParameterDescription { std::vector<uint32_t> types; };                  // 't'
struct PortalSuspended {};                                                     // 's'
struct CopyResponse {                      // 'G' CopyInResponse, 'H' CopyOutResponse, 'W' CopyBothResponse
  char type = 'G';
  int8_t format = 0;
  std::vector<int16_t> column_formats;
};
struct NegotiateProtocolVersion { int32_t newest_minor = 0; std::vector<std::string> options; };  // 'v'
struct FunctionCallResponse { std::optional<std::string> value; };             // 'V'

using BackendMessage =
    std::variant<Authentication, BackendKeyData, ParameterStatus, ReadyForQuery, RowDescription, DataRow,
                 CommandComplete, EmptyQueryResponse, ErrorResponse, NoticeResponse, NotificationResponse,
                 ParseComplete, BindComplete, CloseComplete, NoData, ParameterDescription, PortalSuspended,
                 CopyResponse, CopyData, CopyDone, NegotiateProtocolVersion, FunctionCallResponse>;

}  // namespace gatehouse::pg
