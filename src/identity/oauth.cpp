// OAuth 2.0 client helpers; see oauth.h.
#include "identity/oauth.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "identity/jws.h"

namespace gatehouse::identity::oauth {

namespace json = boost::json;

namespace {

std::string encoded(std::string_view s) { return boost::urls::encode(s, boost::urls::unreserved_chars); }

std::string stringAt(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

int64_t intAt(const json::object& o, std::string_view name, int64_t fallback) {
  const auto* v = o.if_contains(name);
  if (v && v->is_int64()) return v->as_int64();
  if (v && v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  return fallback;
}

Result<json::object> parseObject(std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return makeError("the answer is not a JSON object");
  return std::move(v.as_object());
}

}  // namespace

std::string randomToken(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) != 1)
    throw std::runtime_error("the random number generator failed");
  return jws::base64UrlEncode(raw);
}

std::string pkceChallenge(std::string_view verifier) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), digest.data());
  return jws::base64UrlEncode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

Pkce makePkce() {
  Pkce p;
  p.verifier = randomToken(32);
  p.challenge = pkceChallenge(p.verifier);
  return p;
}

std::string authorizationUrl(const AuthorizationRequest& r) {
  std::string scope;
  for (const auto& s : r.scopes) scope += (scope.empty() ? "" : " ") + s;
  std::string url = r.endpoint;
  url += r.endpoint.find('?') == std::string::npos ? '?' : '&';
  url += "response_type=code&client_id=" + encoded(r.client_id) + "&redirect_uri=" + encoded(r.redirect_uri) +
         "&scope=" + encoded(scope) + "&state=" + encoded(r.state) + "&nonce=" + encoded(r.nonce) +
         "&code_challenge=" + encoded(r.code_challenge) + "&code_challenge_method=S256";
  return url;
}

Result<Callback> parseCallback(std::string_view target) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return makeError("not a request target");
  Callback out;
  for (const auto& p : url->params()) {
    if (p.key == "code") out.code = p.value;
    else if (p.key == "state") out.state = p.value;
    else if (p.key == "error") out.error = p.value;
    else if (p.key == "error_description") out.error_description = p.value;
  }
  if (out.code.empty() && out.error.empty()) return makeError("the redirect carries neither a code nor an error");
  return out;
}

Result<TokenResponse> parseTokenResponse(int status, std::string_view body) {
  auto o = parseObject(body);
  if (!o) return makeError("invalid_response: HTTP " + std::to_string(status) + ", " + o.error().message);
  const auto error = stringAt(*o, "error");
  if (status != 200 || !error.empty()) {
    const auto code = error.empty() ? "http_" + std::to_string(status) : error;
    const auto description = stringAt(*o, "error_description");
    return makeError(description.empty() ? code : code + ": " + description);
  }
  TokenResponse out;
  out.id_token = stringAt(*o, "id_token");
  out.access_token = stringAt(*o, "access_token");
  out.refresh_token = stringAt(*o, "refresh_token");
  out.expires_in = intAt(*o, "expires_in", 0);
  if (out.id_token.empty()) return makeError("invalid_response: no id_token (was the openid scope granted?)");
  return out;
}

std::string_view errorCode(const Error& error) {
  std::string_view m = error.message;
  return m.substr(0, m.find(':'));
}

Result<DeviceAuthorization> parseDeviceAuthorization(int status, std::string_view body) {
  auto o = parseObject(body);
  if (!o) return makeError("HTTP " + std::to_string(status) + ": " + o.error().message);
  if (status != 200) {
    const auto description = stringAt(*o, "error_description");
    return makeError(stringAt(*o, "error") + (description.empty() ? "" : ": " + description));
  }
  DeviceAuthorization out;
  out.device_code = stringAt(*o, "device_code");
  out.user_code = stringAt(*o, "user_code");
  out.verification_uri = stringAt(*o, "verification_uri");
  out.verification_uri_complete = stringAt(*o, "verification_uri_complete");
  out.expires_in = intAt(*o, "expires_in", 0);
  out.interval = std::max<int64_t>(1, intAt(*o, "interval", 5));
  if (out.device_code.empty() || out.user_code.empty() || out.verification_uri.empty() || out.expires_in <= 0)
    return makeError("the device authorization answer lacks device_code, user_code, verification_uri or expires_in");
  return out;
}

Result<std::string> unverifiedNonce(std::string_view id_token) {
  auto parsed = jws::parse(id_token);
  if (!parsed) return parsed.error();
  return stringAt(parsed->claims, "nonce");
}

}  // namespace gatehouse::identity::oauth
