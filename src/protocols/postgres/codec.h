// Sans-I/O codec for the PostgreSQL wire protocol: bytes in, typed messages out, and back.
// Nothing here touches a socket; the gateway session decides what to do with each message.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.h"
#include "protocols/postgres/messages.h"

namespace gatehouse::pg {

enum class DecodeStatus { kNeedMore, kMessage, kError };

// One typed message located in a buffer: 1-byte type, int32 length (counting itself), body. Nothing copied.
struct Frame {
  char type = 0;
  std::string_view body;
  size_t size = 0;  // 5 + body.size(): bytes to consume
};

struct FrameResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  Frame frame;
  std::string error;  // kError: why (bad length, over the limit)
};

// Looks for one whole typed message at the start of `buf`. kNeedMore until it is all there;
// kError as soon as the header shows a length below 4 or above limits.max_message.
FrameResult peekFrame(std::string_view buf, const Limits& limits);

// Reads only the 5-byte header: type and total size (5 + body). For relaying big messages without buffering.
struct FrameHeader {
  DecodeStatus status = DecodeStatus::kNeedMore;
  char type = 0;
  size_t size = 0;
  std::string error;
};
FrameHeader peekHeader(std::string_view buf, const Limits& limits);

// Startup phase packets (no type byte): StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.
struct StartupResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  StartupPacket packet;
  size_t size = 0;
  std::string error;
};
StartupResult decodeStartup(std::string_view buf, const Limits& limits);

// Typed bodies. An error names what is wrong ("Bind: parameter 3 length runs past the message").
Result<FrontendMessage> decodeFrontend(char type, std::string_view body);
Result<BackendMessage> decodeBackend(char type, std::string_view body);
Result<std::string> decodePassword(std::string_view body);  // 'p' as a cleartext password
Result<SaslInitialResponse> decodeSaslInitialResponse(std::string_view body);
std::vector<std::string> saslMechanisms(const Authentication& auth);  // from an AuthenticationSASL

// Encoders append one whole message (header included) to `out`.
void encode(const StartupPacket& packet, std::string& out);
void encode(const FrontendMessage& message, std::string& out);
void encode(const BackendMessage& message, std::string& out);
void encode(const SaslInitialResponse& message, std::string& out);  // as 'p'
void encodePassword(std::string_view password, std::string& out);    // 'p', NUL-terminated

// An ErrorResponse ready to send. severity: "ERROR" or "FATAL". Also sets V (non-localized severity).
std::string errorResponse(std::string_view severity, std::string_view sqlstate, std::string_view message,
                          std::string_view detail = {}, std::string_view hint = {});

// Stateful decoders over a byte stream fed in fragments of any size.
// FrontendDecoder starts in the startup phase; after a StartupMessage it decodes typed messages.
// After kError the decoder stays in error: the stream is out of sync and must be closed.
class FrontendDecoder {
 public:
  using Item = std::variant<StartupPacket, FrontendMessage>;
  struct Next {
    DecodeStatus status = DecodeStatus::kNeedMore;
    Item message;
    std::string error;
  };
  explicit FrontendDecoder(Limits limits = {}) : limits_(limits) {}
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  Next next();
  size_t buffered() const { return buffer_.size() - pos_; }

 private:
  Limits limits_;
  std::string buffer_;
  size_t pos_ = 0;
  bool typed_ = false;
  bool failed_ = false;
  bool ended_ = false;  // a CancelRequest was decoded: the client may send nothing more on this stream
};

class BackendDecoder {
 public:
  struct Next {
    DecodeStatus status = DecodeStatus::kNeedMore;
    BackendMessage message;
    std::string error;
  };
  explicit BackendDecoder(Limits limits = {}) : limits_(limits) {}
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  Next next();
  size_t buffered() const { return buffer_.size() - pos_; }

 private:
  Limits limits_;
  std::string buffer_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// SQLSTATEs the gateway itself raises. https://www.postgresql.org/docs/15/errcodes-appendix.html
namespace sqlstate {
inline constexpr std::string_view kProtocolViolation = "08P01";
inline constexpr std::string_view kConnectionFailure = "08006";
inline constexpr std::string_view kUnableToConnect = "08001";
inline constexpr std::string_view kInvalidPassword = "28P01";
inline constexpr std::string_view kInvalidAuthorization = "28000";
inline constexpr std::string_view kInsufficientPrivilege = "42501";
inline constexpr std::string_view kSyntaxError = "42601";
inline constexpr std::string_view kInvalidCatalogName = "3D000";
inline constexpr std::string_view kFeatureNotSupported = "0A000";
inline constexpr std::string_view kProgramLimitExceeded = "54000";
inline constexpr std::string_view kIoError = "58030";
inline constexpr std::string_view kAdminShutdown = "57P01";
inline constexpr std::string_view kQueryCanceled = "57014";
inline constexpr std::string_view kInternalError = "XX000";
}  // namespace sqlstate

}  // namespace gatehouse::pg
