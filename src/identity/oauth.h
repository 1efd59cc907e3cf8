// The client side of OAuth 2.0 / OpenID Connect sign-in, as `gatehouse login` and the web sign-in do it: the
// authorization code flow with PKCE (RFC 7636, S256 only) and the device authorization grant (RFC 8628). Pure
// functions: building requests and reading answers. Sending them is the caller's (net/http_client).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace gatehouse::identity::oauth {

// `bytes` random bytes from the CSPRNG, base64url: state, nonce, PKCE verifier.
std::string randomToken(std::size_t bytes = 32);

struct Pkce {
  std::string verifier;   // 43 characters of base64url (32 random bytes)
  std::string challenge;  // base64url(SHA-256(verifier))
};
Pkce makePkce();
std::string pkceChallenge(std::string_view verifier);

struct AuthorizationRequest {
  std::string endpoint;  // the provider's authorization_endpoint
  std::string client_id;
  std::string redirect_uri;
  std::vector<std::string> scopes;
  std::string state;
  std::string nonce;
  std::string code_challenge;  // S256
};
// endpoint?response_type=code&client_id=…&redirect_uri=…&scope=…&state=…&nonce=…&code_challenge=…&
// code_challenge_method=S256 (appended with & when the endpoint already has a query).
std::string authorizationUrl(const AuthorizationRequest& request);

// The redirect back to the client: code and state, or error and error_description.
struct Callback {
  std::string code;
  std::string state;
  std::string error;
  std::string error_description;
};
// From a request target such as "/callback?code=…&state=…". Error when it carries neither a code nor an error.
Result<Callback> parseCallback(std::string_view target);

struct TokenResponse {
  std::string id_token;
  std::string access_token;
  std::string refresh_token;
  int64_t expires_in = 0;
};
// A token endpoint's answer (RFC 6749 §5.1/§5.2). An error answer's `error` code is the start of the Error's
// message ("authorization_pending", "slow_down", "expired_token", "access_denied", "invalid_grant" ...), then
// ": " and the description when there is one.
Result<TokenResponse> parseTokenResponse(int status, std::string_view body);
// The error code an Error from parseTokenResponse starts with.
std::string_view errorCode(const Error& error);

struct DeviceAuthorization {
  std::string device_code;
  std::string user_code;
  std::string verification_uri;
  std::string verification_uri_complete;  // may be empty
  int64_t expires_in = 0;
  int64_t interval = 5;  // seconds between polls (RFC 8628 §3.2 default)
};
Result<DeviceAuthorization> parseDeviceAuthorization(int status, std::string_view body);

// The ID token's nonce, read without verifying the signature (the gateway verifies it): a client checks that the
// token answers its own request before handing it on.
Result<std::string> unverifiedNonce(std::string_view id_token);

}  // namespace gatehouse::identity::oauth
