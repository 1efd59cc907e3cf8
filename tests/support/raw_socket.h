// A plain TCP client for the tests that must say what no well-behaved client says: malformed or oversized
// PostgreSQL messages, abrupt disconnects. Also a minimal HTTP/1.1 GET for /healthz and /metrics.
// The PostgreSQL framing follows https://www.postgresql.org/docs/15/protocol-message-formats.html
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace gatehouse::testing {

class RawSocket {
 public:
  static Result<RawSocket> connect(const std::string& host, uint16_t port,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Wraps a descriptor someone else owns (e.g. PQsocket): never closes it.
  static RawSocket borrow(int fd);

  RawSocket(RawSocket&& other) noexcept;
  RawSocket& operator=(RawSocket&& other) noexcept;
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  ~RawSocket();

  int fd() const { return fd_; }
  Result<void> sendAll(std::string_view bytes);
  // Reads at least one byte, or returns an empty string at EOF; Error on timeout or a socket error
  // (a reset by the peer is reported as EOF with `reset()` true).
  Result<std::string> readSome(std::chrono::milliseconds timeout);
  // True once the peer closed (EOF or reset) within `timeout`; bytes that arrive meanwhile are discarded.
  bool waitClosed(std::chrono::milliseconds timeout);
  bool reset() const { return reset_; }
  // Closes with SO_LINGER 0: the peer sees a reset, as when a client machine vanishes.
  void abort();

 private:
  explicit RawSocket(int fd, bool owned) : fd_(fd), owned_(owned) {}
  int fd_ = -1;
  bool owned_ = true;
  bool reset_ = false;
};

// A backend message: type byte and body (without the length).
struct BackendMessage {
  char type = 0;
  std::string body;
};
// Reads one backend message (type + int32 length + body). Error on EOF, timeout or an absurd length.
Result<BackendMessage> readBackendMessage(RawSocket& socket, std::chrono::milliseconds timeout);

// ErrorResponse/NoticeResponse fields by their one-letter code ('C' SQLSTATE, 'M' message, 'S' severity).
std::map<char, std::string> parseErrorFields(std::string_view body);

// Frontend messages.
std::string int32be(uint32_t v);
std::string startupMessage(const std::vector<std::pair<std::string, std::string>>& params);  // protocol 3.0
std::string sslRequest();
std::string passwordMessage(const std::string& password);
std::string queryMessage(const std::string& sql);

// HTTP/1.1 GET with Connection: close.
struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};
// One HTTP/1.1 request (Connection: close) with extra header lines ("Name: value") and a body.
Result<HttpResponse> httpRequest(const std::string& host, uint16_t port, const std::string& method,
                                 const std::string& target, const std::vector<std::string>& headers,
                                 const std::string& body,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(10));
Result<HttpResponse> httpGet(const std::string& host, uint16_t port, const std::string& target,
                             std::chrono::milliseconds timeout = std::chrono::seconds(5));

// True if something accepts TCP connections on host:port.
bool tcpAccepts(const std::string& host, uint16_t port);

}  // namespace gatehouse::testing
