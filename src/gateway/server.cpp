// Server: acceptors and worker threads for PostgreSQL clients.
#include "gateway/server.h"

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <pthread.h>

#include <unordered_set>

#include "gateway/pg_session.h"

namespace gatehouse::gateway {

namespace asio = net::asio;
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

struct Server::Worker {
  explicit Worker(recording::EventLog& log) : recorder(io, log) {}
  // One thread runs this context and only it touches the worker's sockets (other threads only post to it), so
  // the reactor's per-socket locking is turned off; posting stays thread-safe.
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  Recorder recorder;
  std::unique_ptr<net::tcp::acceptor> acceptor;
  std::unordered_set<std::shared_ptr<PgSession>> sessions;  // touched only on this worker's thread
  std::thread thread;
};

Server::Server(GatewayContext& ctx) : ctx_(ctx) {}

Server::~Server() { stop(std::chrono::milliseconds(0)); }

Result<void> Server::start() {
  if (ctx_.logs.empty()) return makeError("no event log to record into");
  const auto& l = ctx_.config->postgres_listener;
  net::error_code ec;
  const auto address = asio::ip::make_address(l.address, ec);
  if (ec) return makeError(fmt::format("listeners.postgres.address: '{}' is not an IP address", l.address));
  uint16_t port = l.port;
  for (auto* log : ctx_.logs) {
    auto w = std::make_unique<Worker>(*log);
    w->acceptor = std::make_unique<net::tcp::acceptor>(w->io);
    const net::tcp::endpoint ep(address, port);
    w->acceptor->open(ep.protocol(), ec);
    if (!ec) w->acceptor->set_option(net::tcp::acceptor::reuse_address(true), ec);
    if (!ec) w->acceptor->set_option(ReusePort(true), ec);
    if (!ec) w->acceptor->bind(ep, ec);
    if (!ec) w->acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return makeError(fmt::format("cannot listen on {}:{}: {}", l.address, port, ec.message()));
    port = w->acceptor->local_endpoint().port();  // the others share the port the first one got
    workers_.push_back(std::move(w));
  }
  port_ = port;

  for (std::size_t index = 0; index < workers_.size(); ++index) {
    Worker* w = workers_[index].get();
    asio::co_spawn(
        w->io,
        [this, w]() -> net::awaitable<void> {
          for (;;) {
            net::error_code aec;
            auto socket = co_await w->acceptor->async_accept(asio::redirect_error(net::use_awaitable, aec));
            if (aec == asio::error::operation_aborted || !w->acceptor->is_open()) co_return;
            if (aec) {
              // e.g. EMFILE: keep serving the connections we have; try again shortly.
              spdlog::warn("accept failed: {}", aec.message());
              asio::steady_timer t(w->io, std::chrono::milliseconds(50));
              co_await t.async_wait(asio::redirect_error(net::use_awaitable, aec));
              continue;
            }
            auto session = std::make_shared<PgSession>(ctx_, w->recorder, std::move(socket));
            w->sessions.insert(session);
            ++active_;
            asio::co_spawn(
                w->io,
                [this, w, session]() -> net::awaitable<void> {
                  co_await session->run();
                  w->sessions.erase(session);
                  --active_;
                },
                asio::detached);
          }
        },
        asio::detached);
    w->thread = std::thread([w, name = fmt::format("gh-worker-{}", index)] {
      ::pthread_setname_np(::pthread_self(), name.c_str());  // 15 characters at most; shown by top -H, perf
      try {
        w->io.run();
      } catch (const std::exception& e) {
        spdlog::critical("worker stopped by an unexpected error: {}", e.what());
      }
    });
  }
  return {};
}

void Server::stop(std::chrono::milliseconds grace) {
  if (stopped_ || workers_.empty()) return;
  stopped_ = true;
  ctx_.shutting_down = true;
  for (auto& w : workers_)
    asio::post(w->io, [w = w.get()] {
      net::error_code ec;
      w->acceptor->close(ec);
    });
  const auto wait = [this](std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (active_.load() > 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  };
  wait(grace);
  for (auto& w : workers_)
    asio::post(w->io, [w = w.get()] {
      for (auto& s : w->sessions) s->shutdown();
    });
  wait(std::chrono::milliseconds(3000));
  for (auto& w : workers_) w->io.stop();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  if (active_.load() > 0) spdlog::warn("{} sessions did not end in time", active_.load());
}

}  // namespace gatehouse::gateway
