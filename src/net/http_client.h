// A small blocking HTTP/1.1 client for the gateway's outbound calls that are not on the data path: an OpenID
// provider's discovery document, keys and token endpoint, webhooks, and the CLI's calls to a gateway's API. Each
// call runs its own io_context on the calling thread, so callers keep it off the gateway's workers (a background
// thread, the API's pool, the CLI). HTTPS verifies the peer's certificate and host name; a CA file may replace the
// system's trust store (a gateway with a self-signed certificate).
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace gatehouse::net {

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // http:// or https://
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{5000};  // the whole exchange
  std::size_t max_body = std::size_t{1} << 20;
  std::filesystem::path ca_file;  // https: trust this PEM bundle instead of the system's
};

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string location;
  std::vector<std::string> set_cookies;  // each Set-Cookie header
  std::string body;
};

Result<HttpResponse> httpRequest(const HttpRequest& request);

// GET url: the body of a 200 answer, or an error naming the status.
Result<std::string> httpGetBody(const std::string& url, std::chrono::milliseconds timeout);

// application/x-www-form-urlencoded, each name and value percent-encoded.
std::string formEncode(const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace gatehouse::net
