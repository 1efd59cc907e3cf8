// Raw TCP, PostgreSQL framing and a minimal HTTP GET for the tests. Hand-written on purpose: the point is to
// send what real client libraries refuse to send, and to see exactly what the gateway answers.
#include "support/raw_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace gatehouse::testing {
using namespace std::chrono_literals;

namespace {

std::string errnoText(const std::string& what, int err) { return what + ": " + std::strerror(err); }

int msLeft(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

}  // namespace

Result<RawSocket> RawSocket::connect(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return makeError("not an IPv4 address: " + host);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return makeError(errnoText("socket", errno));
  RawSocket s(fd, true);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) return makeError(errnoText("connect " + host + ":" + std::to_string(port), errno));
    pollfd pfd{fd, POLLOUT, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) != 1) return makeError("connect timed out");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return makeError(errnoText("connect " + host + ":" + std::to_string(port), err));
  }
  return s;
}

RawSocket RawSocket::borrow(int fd) { return RawSocket(fd, false); }

RawSocket::RawSocket(RawSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), owned_(other.owned_), reset_(other.reset_) {}

RawSocket& RawSocket::operator=(RawSocket&& other) noexcept {
  if (this != &other) {
    if (owned_ && fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    owned_ = other.owned_;
    reset_ = other.reset_;
  }
  return *this;
}

RawSocket::~RawSocket() {
  if (owned_ && fd_ >= 0) ::close(fd_);
}

Result<void> RawSocket::sendAll(std::string_view bytes) {
  size_t sent = 0;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      pollfd pfd{fd_, POLLOUT, 0};
      if (::poll(&pfd, 1, msLeft(deadline)) == 0) return makeError("send timed out");
      continue;
    }
    return makeError(errnoText("send", errno));
  }
  return {};
}

Result<std::string> RawSocket::readSome(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) return std::string(buf, static_cast<size_t>(n));
    if (n == 0) return std::string();
    if (errno == ECONNRESET) {
      reset_ = true;
      return std::string();
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return makeError(errnoText("recv", errno));
    pollfd pfd{fd_, POLLIN, 0};
    int left = msLeft(deadline);
    if (left == 0 || ::poll(&pfd, 1, left) == 0) {
      return makeError("no data within " + std::to_string(timeout.count()) + " ms");
    }
  }
}

bool RawSocket::waitClosed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int left = msLeft(deadline);
    if (left == 0) return false;
    auto chunk = readSome(std::chrono::milliseconds(left));
    if (!chunk) return false;
    if (chunk->empty()) return true;
  }
}

void RawSocket::abort() {
  if (fd_ < 0) return;
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  if (owned_) {
    ::close(fd_);
    fd_ = -1;
  } else {
    ::shutdown(fd_, SHUT_RDWR);
  }
}

Result<BackendMessage> readBackendMessage(RawSocket& socket, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // recv may return more than one message; read the header and body with exact-size reads so that nothing
  // past the message is consumed.
  auto readN = [&](size_t n) -> Result<std::string> {
    std::string out;
    char buf[8192];
    while (out.size() < n) {
      size_t want = std::min(sizeof buf, n - out.size());
      ssize_t got = ::recv(socket.fd(), buf, want, MSG_DONTWAIT);
      if (got > 0) {
        out.append(buf, static_cast<size_t>(got));
        continue;
      }
      if (got == 0) return makeError("connection closed");
      if (errno == ECONNRESET) return makeError("connection reset");
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return makeError(errnoText("recv", errno));
      pollfd pfd{socket.fd(), POLLIN, 0};
      int left = msLeft(deadline);
      if (left == 0 || ::poll(&pfd, 1, left) == 0) return makeError("timed out waiting for a backend message");
    }
    return out;
  };
  auto header = readN(5);
  if (!header) return header.error();
  uint32_t len = (static_cast<uint32_t>(static_cast<unsigned char>((*header)[1])) << 24) |
                 (static_cast<uint32_t>(static_cast<unsigned char>((*header)[2])) << 16) |
                 (static_cast<uint32_t>(static_cast<unsigned char>((*header)[3])) << 8) |
                 static_cast<uint32_t>(static_cast<unsigned char>((*header)[4]));
  if (len < 4 || len > (64u << 20)) return makeError("implausible backend message length " + std::to_string(len));
  auto body = readN(len - 4);
  if (!body) return body.error();
  return BackendMessage{(*header)[0], std::move(*body)};
}

std::map<char, std::string> parseErrorFields(std::string_view body) {
  std::map<char, std::string> fields;
  size_t i = 0;
  while (i < body.size() && body[i] != '\0') {
    char code = body[i++];
    size_t end = body.find('\0', i);
    if (end == std::string_view::npos) break;
    fields[code] = std::string(body.substr(i, end - i));
    i = end + 1;
  }
  return fields;
}

std::string int32be(uint32_t v) {
  std::string out(4, '\0');
  out[0] = static_cast<char>(v >> 24);
  out[1] = static_cast<char>(v >> 16);
  out[2] = static_cast<char>(v >> 8);
  out[3] = static_cast<char>(v);
  return out;
}

std::string startupMessage(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string body = int32be(196608);  // protocol 3.0
  for (const auto& [k, v] : params) {
    body += k;
    body += '\0';
    body += v;
    body += '\0';
  }
  body += '\0';
  return int32be(static_cast<uint32_t>(body.size() + 4)) + body;
}

std::string sslRequest() { return int32be(8) + int32be(80877103); }

std::string passwordMessage(const std::string& password) {
  std::string body = password + '\0';
  return "p" + int32be(static_cast<uint32_t>(body.size() + 4)) + body;
}

std::string queryMessage(const std::string& sql) {
  std::string body = sql + '\0';
  return "Q" + int32be(static_cast<uint32_t>(body.size() + 4)) + body;
}

Result<HttpResponse> httpGet(const std::string& host, uint16_t port, const std::string& target,
                             std::chrono::milliseconds timeout) {
  return httpRequest(host, port, "GET", target, {}, {}, timeout);
}

Result<HttpResponse> httpRequest(const std::string& host, uint16_t port, const std::string& method,
                                 const std::string& target, const std::vector<std::string>& headers,
                                 const std::string& body, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto sock = RawSocket::connect(host, port, timeout);
  if (!sock) return sock.error();
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: " + host + ":" + std::to_string(port) +
                        "\r\nConnection: close\r\nAccept: */*\r\n";
  for (const auto& h : headers) request += h + "\r\n";
  if (!body.empty() || method == "POST") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  if (auto r = sock->sendAll(request); !r) return r.error();
  std::string raw;
  for (;;) {
    auto chunk = sock->readSome(std::chrono::milliseconds(std::max(1, msLeft(deadline))));
    if (!chunk) return makeError("HTTP " + method + " " + target + ": " + chunk.error().message);
    if (chunk->empty()) break;
    raw += *chunk;
  }
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) {
    return makeError("malformed HTTP response: " + raw.substr(0, 200));
  }
  HttpResponse resp;
  resp.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  size_t pos = raw.find("\r\n") + 2;
  while (pos < head_end) {
    size_t eol = raw.find("\r\n", pos);
    std::string line = raw.substr(pos, eol - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      size_t v = line.find_first_not_of(' ', colon + 1);
      resp.headers[name] = v == std::string::npos ? "" : line.substr(v);
    }
    pos = eol + 2;
  }
  std::string payload = raw.substr(head_end + 4);
  if (resp.headers["transfer-encoding"] == "chunked") {
    std::string decoded;
    size_t p = 0;
    while (p < payload.size()) {
      size_t eol = payload.find("\r\n", p);
      if (eol == std::string::npos) break;
      size_t n = std::stoul(payload.substr(p, eol - p), nullptr, 16);
      if (n == 0) break;
      decoded += payload.substr(eol + 2, n);
      p = eol + 2 + n + 2;
    }
    payload = decoded;
  }
  resp.body = std::move(payload);
  return resp;
}

bool tcpAccepts(const std::string& host, uint16_t port) {
  auto s = RawSocket::connect(host, port, 1s);
  return s.ok();
}

}  // namespace gatehouse::testing
