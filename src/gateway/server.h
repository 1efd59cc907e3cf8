// Server: the PostgreSQL listener and its worker threads. Thread per core: each worker runs its own io_context
// and its own acceptor on the same port (SO_REUSEPORT lets the kernel spread connections); a connection lives
// on the worker that accepted it, so the data path takes no locks.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "core/result.h"
#include "gateway/context.h"

namespace gatehouse::gateway {

class Server {
 public:
  explicit Server(GatewayContext& ctx);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listener (port 0 picks a free port) and starts one worker thread per event log in the context.
  Result<void> start();
  uint16_t port() const { return port_; }
  // Stops accepting, lets sessions finish for `grace`, then closes the rest (their records are still written).
  void stop(std::chrono::milliseconds grace);
  int activeSessions() const { return active_.load(); }

 private:
  struct Worker;
  GatewayContext& ctx_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<int> active_{0};
  uint16_t port_ = 0;
  bool stopped_ = false;
};

}  // namespace gatehouse::gateway
