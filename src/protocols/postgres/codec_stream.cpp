// Framing of a byte stream: message headers, startup packets, and the two stateful decoders that turn
// fragments of any size into whole messages. Limits are applied from the header alone, so an oversized
// message is refused before its body is waited for.
// Startup packets: https://www.postgresql.org/docs/15/protocol-flow.html#PROTOCOL-FLOW-START-UP
#include <string>
#include <utility>

#include "protocols/postgres/codec.h"
#include "protocols/postgres/wire_buffer.h"

namespace gatehouse::pg {
namespace {

constexpr size_t kHeaderSize = 5;         // type byte + int32 length
constexpr int32_t kMinStartupLength = 8;  // int32 length + int32 code
constexpr int32_t kRequestLength = 8;     // SSLRequest, GSSENCRequest
constexpr int32_t kCancelLength = 16;     // + pid + key
// Consumed bytes are dropped once they are at least this many and at least half the buffer, so that a
// long-lived stream costs O(1) amortized per byte and never holds more than about twice what is pending.
constexpr size_t kCompactThreshold = 4096;

int32_t readInt32(std::string_view buf, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<uint8_t>(buf[at + i]);
  return static_cast<int32_t>(v);
}

std::string versionText(int32_t code) {
  const auto u = static_cast<uint32_t>(code);
  return std::to_string(u >> 16) + "." + std::to_string(u & 0xffff);
}

Result<StartupMessage> decodeStartupParams(int32_t protocol, std::string_view payload) {
  wire::Reader r("StartupMessage", payload);
  StartupMessage m;
  m.protocol = protocol;
  for (int i = 0;; ++i) {
    std::string key;
    if (!r.cstring(key, "parameter name", i)) return r.error();
    if (key.empty()) break;  // the final empty name ends the list
    std::string value;
    if (!r.cstring(value, "value of parameter", i)) return r.error();
    m.params.emplace_back(std::move(key), std::move(value));
  }
  if (!r.end()) return r.error();
  return m;
}

// Drops consumed bytes; see kCompactThreshold.
void compact(std::string& buffer, size_t& pos) {
  if (pos == buffer.size()) {
    buffer.clear();  // keeps the capacity for the next read
    pos = 0;
  } else if (pos >= kCompactThreshold && pos * 2 >= buffer.size()) {
    buffer.erase(0, pos);
    pos = 0;
  }
}

}  // namespace

FrameHeader peekHeader(std::string_view buf, const Limits& limits) {
  FrameHeader h;
  if (buf.size() < kHeaderSize) return h;
  h.type = buf[0];
  const int32_t len = readInt32(buf, 1);
  if (len < 4) {
    h.status = DecodeStatus::kError;
    h.error = "message length " + std::to_string(len) + " is below the minimum of 4";
    return h;
  }
  if (static_cast<uint32_t>(len) > limits.max_message) {
    h.status = DecodeStatus::kError;
    h.error = "message length " + std::to_string(len) + " exceeds the limit of " +
              std::to_string(limits.max_message);
    return h;
  }
  h.status = DecodeStatus::kMessage;
  h.size = 1 + static_cast<size_t>(len);
  return h;
}

FrameResult peekFrame(std::string_view buf, const Limits& limits) {
  FrameResult r;
  FrameHeader h = peekHeader(buf, limits);
  if (h.status == DecodeStatus::kError) {
    r.status = DecodeStatus::kError;
    r.error = std::move(h.error);
    return r;
  }
  if (h.status == DecodeStatus::kNeedMore || buf.size() < h.size) return r;
  r.status = DecodeStatus::kMessage;
  r.frame = Frame{h.type, buf.substr(kHeaderSize, h.size - kHeaderSize), h.size};
  return r;
}

StartupResult decodeStartup(std::string_view buf, const Limits& limits) {
  StartupResult r;
  auto fail = [&r](std::string error) {
    r.status = DecodeStatus::kError;
    r.error = std::move(error);
    return r;
  };
  if (buf.size() < 4) return r;
  const int32_t len = readInt32(buf, 0);
  if (len < kMinStartupLength)
    return fail("startup packet length " + std::to_string(len) + " is below the minimum of 8");
  if (static_cast<uint32_t>(len) > limits.max_startup)
    return fail("startup packet length " + std::to_string(len) + " exceeds the limit of " +
                std::to_string(limits.max_startup));
  if (buf.size() < static_cast<size_t>(len)) return r;

  const int32_t code = readInt32(buf, 4);
  switch (code) {
    case kSslRequestCode:
    case kGssEncRequestCode:
      if (len != kRequestLength)
        return fail(std::string(code == kSslRequestCode ? "SSLRequest" : "GSSENCRequest") + ": length " +
                    std::to_string(len) + " is not 8");
      r.packet = code == kSslRequestCode ? StartupPacket{SslRequest{}} : StartupPacket{GssEncRequest{}};
      break;
    case kCancelRequestCode:
      if (len != kCancelLength) return fail("CancelRequest: length " + std::to_string(len) + " is not 16");
      r.packet = CancelRequest{readInt32(buf, 8), readInt32(buf, 12)};
      break;
    default: {
      if (static_cast<uint32_t>(code) >> 16 != 3)
        return fail("unsupported frontend protocol " + versionText(code) + ": only 3.x is supported");
      auto m = decodeStartupParams(
          code, buf.substr(kMinStartupLength, static_cast<size_t>(len) - kMinStartupLength));
      if (!m) return fail(m.error().message);
      r.packet = std::move(*m);
    }
  }
  r.status = DecodeStatus::kMessage;
  r.size = static_cast<size_t>(len);
  return r;
}

FrontendDecoder::Next FrontendDecoder::next() {
  Next out;
  auto fail = [this, &out](std::string error) {
    failed_ = true;
    out.status = DecodeStatus::kError;
    out.error = std::move(error);
    return out;
  };
  if (failed_) return fail("the client stream is out of sync after an earlier error");
  compact(buffer_, pos_);
  const std::string_view pending = std::string_view(buffer_).substr(pos_);
  if (ended_) {
    if (pending.empty()) return out;
    return fail("unexpected bytes after a CancelRequest");
  }

  if (!typed_) {
    StartupResult s = decodeStartup(pending, limits_);
    if (s.status == DecodeStatus::kError) return fail(std::move(s.error));
    if (s.status == DecodeStatus::kNeedMore) return out;
    pos_ += s.size;
    // SSLRequest and GSSENCRequest are answered and followed by another startup packet.
    if (std::holds_alternative<StartupMessage>(s.packet)) typed_ = true;
    if (std::holds_alternative<CancelRequest>(s.packet)) ended_ = true;
    out.status = DecodeStatus::kMessage;
    out.message = std::move(s.packet);
    return out;
  }

  FrameResult f = peekFrame(pending, limits_);
  if (f.status == DecodeStatus::kError) return fail(std::move(f.error));
  if (f.status == DecodeStatus::kNeedMore) return out;
  auto m = decodeFrontend(f.frame.type, f.frame.body);
  if (!m) return fail(m.error().message);
  pos_ += f.frame.size;
  out.status = DecodeStatus::kMessage;
  out.message = std::move(*m);
  return out;
}

BackendDecoder::Next BackendDecoder::next() {
  Next out;
  auto fail = [this, &out](std::string error) {
    failed_ = true;
    out.status = DecodeStatus::kError;
    out.error = std::move(error);
    return out;
  };
  if (failed_) return fail("the server stream is out of sync after an earlier error");
  compact(buffer_, pos_);
  FrameResult f = peekFrame(std::string_view(buffer_).substr(pos_), limits_);
  if (f.status == DecodeStatus::kError) return fail(std::move(f.error));
  if (f.status == DecodeStatus::kNeedMore) return out;
  auto m = decodeBackend(f.frame.type, f.frame.body);
  if (!m) return fail(m.error().message);
  pos_ += f.frame.size;
  out.status = DecodeStatus::kMessage;
  out.message = std::move(*m);
  return out;
}

}  // namespace gatehouse::pg
