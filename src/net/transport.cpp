// Transport: plain TCP or TLS over it, behind one read/write interface.
#include "net/transport.h"

#include <boost/asio/read.hpp>

namespace gatehouse::net {

tcp::socket& Transport::socket() {
  if (auto* s = std::get_if<tcp::socket>(&stream_)) return *s;
  return std::get<1>(stream_)->next_layer();
}

void Transport::noteRemote() {
  error_code ec;
  auto ep = socket().remote_endpoint(ec);
  if (ec) return;
  remote_ = ep.address().to_string();
  loopback_ = ep.address().is_loopback();
}

awaitable<void> Transport::handshakeServer(ssl::context& ctx) {
  auto tls = std::make_unique<TlsStream>(std::move(std::get<tcp::socket>(stream_)), ctx);
  stream_ = std::move(tls);
  co_await std::get<1>(stream_)->async_handshake(ssl::stream_base::server, use_awaitable);
}

awaitable<void> Transport::handshakeClient(ssl::context& ctx, const std::string& server_name, bool verify) {
  auto tls = std::make_unique<TlsStream>(std::move(std::get<tcp::socket>(stream_)), ctx);
  // SNI, and hostname checking when verifying (RFC 6125 rules, as OpenSSL implements them).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"  // OpenSSL's macro casts
  SSL_set_tlsext_host_name(tls->native_handle(), server_name.c_str());
#pragma GCC diagnostic pop
  if (verify) {
    tls->set_verify_mode(ssl::verify_peer);
    tls->set_verify_callback(ssl::host_name_verification(server_name));
  } else {
    tls->set_verify_mode(ssl::verify_none);
  }
  stream_ = std::move(tls);
  co_await std::get<1>(stream_)->async_handshake(ssl::stream_base::client, use_awaitable);
}

awaitable<std::size_t> Transport::readSome(asio::mutable_buffer buffer) {
  error_code ec;
  std::size_t n = 0;
  if (auto* s = std::get_if<tcp::socket>(&stream_))
    n = co_await s->async_read_some(buffer, asio::redirect_error(use_awaitable, ec));
  else
    n = co_await std::get<1>(stream_)->async_read_some(buffer, asio::redirect_error(use_awaitable, ec));
  if (ec == asio::error::eof || ec == ssl::error::stream_truncated) co_return 0;
  if (ec) throw boost::system::system_error(ec);
  co_return n;
}

awaitable<void> Transport::readExactly(asio::mutable_buffer buffer) {
  if (auto* s = std::get_if<tcp::socket>(&stream_))
    co_await asio::async_read(*s, buffer, use_awaitable);
  else
    co_await asio::async_read(*std::get<1>(stream_), buffer, use_awaitable);
}

awaitable<void> Transport::writeAll(asio::const_buffer buffer) {
  if (auto* s = std::get_if<tcp::socket>(&stream_)) {
    // A message to a peer that keeps up fits in the socket's send buffer: one non-blocking send(2) finishes it
    // here, without the async write's operation object, its trip through the scheduler's queue and the
    // coroutine's suspension (about a quarter of the data path's instructions per statement). What is left, if
    // the peer is slow, is written asynchronously as usual.
    if (!s->native_non_blocking()) s->native_non_blocking(true);
    error_code ec;
    const std::size_t sent = s->send(buffer, 0, ec);
    if (ec && ec != asio::error::would_block) throw boost::system::system_error(ec);
    buffer += sent;
    if (buffer.size() != 0) co_await asio::async_write(*s, buffer, use_awaitable);
  } else
    co_await asio::async_write(*std::get<1>(stream_), buffer, use_awaitable);
}

void Transport::close() {
  error_code ec;
  auto& s = socket();
  if (s.is_open()) {
    s.shutdown(tcp::socket::shutdown_both, ec);
    s.close(ec);
  }
}

Deadline::Deadline(asio::any_io_executor ex, std::chrono::milliseconds timeout, Transport& transport)
    : timer_(std::make_shared<asio::steady_timer>(ex, timeout)), expired_(std::make_shared<bool>(false)) {
  timer_->async_wait([expired = expired_, &transport](error_code ec) {
    if (ec) return;  // disarmed
    *expired = true;
    transport.close();
  });
}

Deadline::~Deadline() { timer_->cancel(); }

}  // namespace gatehouse::net
