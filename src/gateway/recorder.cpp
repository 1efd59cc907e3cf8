// Recorder: appends to the worker's event log; group sync when recording.fsync is on.
#include "gateway/recorder.h"

#include <boost/asio/post.hpp>

namespace gatehouse::gateway {

namespace asio = net::asio;

std::string Recorder::append(std::string_view lines) {
  auto appended = log_.append(lines);
  return appended ? std::string() : appended.error().message;
}

net::awaitable<std::string> Recorder::sync() {
  if (!scheduled_) {
    scheduled_ = true;
    // Posted, so it runs after the handlers that are already ready in this round: their records join the group.
    asio::post(io_, [this] { syncGroup(); });
  }
  co_return co_await asio::async_initiate<decltype(net::use_awaitable), void(std::string)>(
      [this](auto handler) { waiters_.emplace_back(std::move(handler)); }, net::use_awaitable);
}

void Recorder::syncGroup() {
  scheduled_ = false;
  auto synced = log_.sync();
  std::string error = synced ? std::string() : synced.error().message;
  syncing_.swap(waiters_);
  // Each waiter resumes here until its next wait (typically the socket write it was holding back).
  for (auto& waiter : syncing_) std::move(waiter)(error);
  syncing_.clear();
}

}  // namespace gatehouse::gateway
