// A byte stream that is plain TCP until a TLS handshake upgrades it (PostgreSQL negotiates TLS in-band with
// SSLRequest, so the same connection starts plain and may become TLS).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <variant>

#include "net/asio.h"

namespace gatehouse::net {

class Transport {
 public:
  explicit Transport(tcp::socket socket) : stream_(std::move(socket)) {}
  Transport(Transport&&) = default;
  Transport& operator=(Transport&&) = default;

  // Upgrades to TLS as the server (after answering 'S' to SSLRequest).
  awaitable<void> handshakeServer(ssl::context& ctx);
  // Upgrades to TLS as the client. verify: check the chain and `server_name` (also sent as SNI).
  awaitable<void> handshakeClient(ssl::context& ctx, const std::string& server_name, bool verify);

  // Reads what is available (at least one byte); throws on error, returns 0 at a clean EOF.
  awaitable<std::size_t> readSome(asio::mutable_buffer buffer);
  // Reads exactly buffer.size() bytes; throws on EOF or error.
  awaitable<void> readExactly(asio::mutable_buffer buffer);
  awaitable<void> writeAll(asio::const_buffer buffer);

  bool tls() const { return stream_.index() == 1; }
  tcp::socket& socket();
  // Closing is safe at any time; pending operations complete with operation_aborted.
  void close();
  std::string remoteAddress() const { return remote_; }
  bool remoteIsLoopback() const { return loopback_; }
  void noteRemote();

 private:
  using TlsStream = ssl::stream<tcp::socket>;
  std::variant<tcp::socket, std::unique_ptr<TlsStream>> stream_;
  std::string remote_;
  bool loopback_ = false;
};

// Closes a transport when a deadline passes, so that any pending read or write on it fails. Destroying the
// Deadline (or calling cancel) disarms it. Used for every wait on a peer that must not last forever.
class Deadline {
 public:
  Deadline(asio::any_io_executor ex, std::chrono::milliseconds timeout, Transport& transport);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  bool expired() const { return *expired_; }

 private:
  std::shared_ptr<asio::steady_timer> timer_;
  std::shared_ptr<bool> expired_;
};

}  // namespace gatehouse::net
