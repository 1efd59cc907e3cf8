// libFuzzer target for the PostgreSQL codec: both stateful decoders over fragmented streams, and the
// encoders as their inverse.
// Input: byte 0 picks the direction (even: client stream into FrontendDecoder, odd: server stream into
// BackendDecoder); byte 1 is the fragment size (0: the whole rest at once); the rest is the stream.
// Every decoded message must re-encode to exactly the bytes it was decoded from (the layouts have one
// encoding each), and decoding that encoding again must give the same encoding back.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <variant>

#include "protocols/postgres/codec.h"

namespace gatehouse::pg {
namespace {

// Small enough for fuzz inputs to reach the limit checks, big enough for real captured traffic.
constexpr Limits kLimits{10000, 1u << 20};

[[noreturn]] void fail(const char* what, std::string_view original, std::string_view again) {
  std::fprintf(stderr, "pg_codec_fuzz: %s (original %zu bytes, re-encoded %zu bytes)\n", what,
               original.size(), again.size());
  __builtin_trap();
}

void check(bool ok, const char* what, std::string_view original, std::string_view again) {
  if (!ok) fail(what, original, again);
}

// 'p' carries a password or a SASL message; whichever meanings parse must round-trip too.
void checkPasswordMeanings(const PasswordMessage& p, std::string_view original) {
  if (auto password = decodePassword(p.data)) {
    std::string again;
    encodePassword(*password, again);
    check(again == original, "password does not round-trip", original, again);
  }
  if (auto sasl = decodeSaslInitialResponse(p.data)) {
    std::string again;
    encode(*sasl, again);
    check(again == original, "SASLInitialResponse does not round-trip", original, again);
  }
}

void checkFrontend(const FrontendDecoder::Item& item, std::string_view original) {
  std::string again;
  if (const auto* startup = std::get_if<StartupPacket>(&item)) {
    encode(*startup, again);
    check(again == original, "startup packet re-encodes differently", original, again);
    StartupResult r = decodeStartup(again, kLimits);
    check(r.status == DecodeStatus::kMessage && r.size == again.size(), "re-encoded startup packet fails",
          original, again);
    std::string twice;
    encode(r.packet, twice);
    check(twice == again, "startup packet differs after a second decode", original, twice);
    return;
  }
  const auto& message = std::get<FrontendMessage>(item);
  encode(message, again);
  check(again == original, "frontend message re-encodes differently", original, again);
  FrameResult f = peekFrame(again, kLimits);
  check(f.status == DecodeStatus::kMessage && f.frame.size == again.size(), "re-encoded frame is incomplete",
        original, again);
  auto decoded = decodeFrontend(f.frame.type, f.frame.body);
  check(decoded.ok(), "re-encoded frontend message fails to decode", original, again);
  std::string twice;
  encode(*decoded, twice);
  check(twice == again, "frontend message differs after a second decode", original, twice);
  if (const auto* p = std::get_if<PasswordMessage>(&message)) checkPasswordMeanings(*p, original);
}

void checkBackend(const BackendMessage& message, std::string_view original) {
  std::string again;
  encode(message, again);
  check(again == original, "backend message re-encodes differently", original, again);
  FrameResult f = peekFrame(again, kLimits);
  check(f.status == DecodeStatus::kMessage && f.frame.size == again.size(), "re-encoded frame is incomplete",
        original, again);
  auto decoded = decodeBackend(f.frame.type, f.frame.body);
  check(decoded.ok(), "re-encoded backend message fails to decode", original, again);
  std::string twice;
  encode(*decoded, twice);
  check(twice == again, "backend message differs after a second decode", original, twice);
  if (const auto* auth = std::get_if<Authentication>(&message)) (void)saslMechanisms(*auth);
}

// Feeds `stream` in fragments and checks each message against the bytes it came from. The bytes of a
// message are found from buffered(): what was fed minus what is still pending.
template <class Decoder, class Check>
void run(std::string_view stream, size_t chunk, Check checkMessage) {
  Decoder decoder(kLimits);
  size_t fed = 0;
  while (fed < stream.size()) {
    const size_t n = chunk == 0 ? stream.size() - fed : std::min(chunk, stream.size() - fed);
    decoder.feed(stream.substr(fed, n));
    fed += n;
    for (;;) {
      const size_t start = fed - decoder.buffered();
      auto next = decoder.next();
      if (next.status == DecodeStatus::kError) {
        check(!next.error.empty(), "error without a reason", stream, {});
        check(decoder.next().status == DecodeStatus::kError, "decoder left the error state", stream, {});
        return;
      }
      if (next.status == DecodeStatus::kNeedMore) break;
      const size_t end = fed - decoder.buffered();
      check(end > start && end <= fed, "decoder consumed nothing", stream, {});
      checkMessage(next.message, stream.substr(start, end - start));
    }
  }
}

}  // namespace
}  // namespace gatehouse::pg

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace gatehouse::pg;
  if (size < 2) return 0;
  const bool backend = (data[0] & 1) != 0;
  const size_t chunk = data[1];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (backend)
    run<BackendDecoder>(stream, chunk, checkBackend);
  else
    run<FrontendDecoder>(stream, chunk, checkFrontend);
  return 0;
}
