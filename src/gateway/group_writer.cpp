// GroupWriter: group commit of event records per worker.
#include "gateway/group_writer.h"

#include <boost/asio/post.hpp>

namespace gatehouse::gateway {

namespace asio = net::asio;

net::awaitable<std::string> GroupWriter::write(std::string_view records) {
  pending_.append(records);
  if (!scheduled_) {
    scheduled_ = true;
    // Posted, so it runs after the handlers that are already ready in this round: their records join the group.
    asio::post(io_, [this] { flush(); });
  }
  co_return co_await asio::async_initiate<decltype(net::use_awaitable), void(std::string)>(
      [this](auto handler) { waiters_.emplace_back(std::move(handler)); }, net::use_awaitable);
}

void GroupWriter::flush() {
  scheduled_ = false;
  auto written = log_.write(pending_);
  pending_.clear();
  ++groups_;
  std::string error = written ? std::string() : written.error().message;
  flushing_.swap(waiters_);
  // Each waiter resumes here until its next wait (typically the socket write it was holding back).
  for (auto& waiter : flushing_) std::move(waiter)(error);
  flushing_.clear();
}

}  // namespace gatehouse::gateway
