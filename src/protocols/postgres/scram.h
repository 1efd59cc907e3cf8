// The gateway's side of password authentication TO an upstream PostgreSQL: a SCRAM-SHA-256 client
// (RFC 5802, RFC 7677, as PostgreSQL uses it: https://www.postgresql.org/docs/15/sasl-authentication.html)
// and the legacy md5 response. Sans-I/O: strings in, strings out; the session carries them in
// SASLInitialResponse / SASLResponse / PasswordMessage.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace gatehouse::pg {

// Iteration counts above this are refused: PBKDF2 runs on a worker thread that also serves other
// sessions, and 1M rounds of HMAC-SHA-256 already take a few hundred milliseconds. PostgreSQL's default is 4096.
inline constexpr uint32_t kMaxScramIterations = 1'000'000;

// One SCRAM-SHA-256 exchange without channel binding (gs2 header "n,,"). Use once:
//   clientFirstMessage() -> SASLInitialResponse("SCRAM-SHA-256", ...)
//   handleServerFirst(AuthenticationSASLContinue data) -> SASLResponse
//   verifyServerFinal(AuthenticationSASLFinal data) -> ok only if the server proved it knows the password too.
class ScramClient {
 public:
  // `client_nonce` empty: 18 random bytes, base64 (as libpq does). A given nonce must be printable ASCII
  // without ','; it exists for test vectors. `user` is empty for PostgreSQL, which takes the user from the
  // startup packet ("n=,"); a non-empty one is only for the RFC test vector.
  explicit ScramClient(std::string password, std::string client_nonce = {}, std::string user = {});
  ~ScramClient();
  ScramClient(const ScramClient&) = delete;
  ScramClient& operator=(const ScramClient&) = delete;

  std::string clientFirstMessage() const;

  // Validates the server-first-message and returns the client-final-message (with the proof).
  Result<std::string> handleServerFirst(std::string_view server_first);

  // Checks the server signature (constant time). "e=..." becomes an Error carrying the server's reason.
  Result<void> verifyServerFinal(std::string_view server_final);

 private:
  enum class State { kInitial, kSentFinal, kDone, kFailed };

  std::string password_;
  std::string client_nonce_;
  std::string client_first_bare_;
  std::array<unsigned char, 32> server_signature_{};
  State state_ = State::kInitial;
  bool nonce_ok_ = true;  // false when the random nonce could not be generated: the exchange fails closed
};

// The response to AuthenticationMD5Password: "md5" + hex(md5(hex(md5(password + user)) + salt)).
// `salt` is the 4 bytes from the server. Fails only when MD5 is unavailable (an OpenSSL FIPS configuration).
Result<std::string> md5Password(std::string_view user, std::string_view password, std::string_view salt);

}  // namespace gatehouse::pg
