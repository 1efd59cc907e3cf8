// GroupWriter: one per worker thread. Sessions hand it the records that must reach the event log before they
// may go on; it writes everything handed in during one round of the worker's event loop with a single write(2)
// and then lets them all continue. With many sessions on a worker this turns two log writes per statement into
// one per round, without ever letting a result through before its record.
#pragma once

#include <boost/asio/any_completion_handler.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "net/asio.h"
#include "recording/event_log.h"

namespace gatehouse::gateway {

class GroupWriter {
 public:
  GroupWriter(net::asio::io_context& io, recording::EventLog& log) : io_(io), log_(log) {}
  GroupWriter(const GroupWriter&) = delete;
  GroupWriter& operator=(const GroupWriter&) = delete;

  // Appends `records` to the current group and completes once the group is written. Returns the write's error
  // message, empty on success. Call only from the worker's own thread.
  net::awaitable<std::string> write(std::string_view records);

  uint64_t groupsWritten() const { return groups_; }

 private:
  using Waiter = net::asio::any_completion_handler<void(std::string)>;
  void flush();

  net::asio::io_context& io_;
  recording::EventLog& log_;
  std::string pending_;
  std::vector<Waiter> waiters_;
  std::vector<Waiter> flushing_;
  bool scheduled_ = false;
  uint64_t groups_ = 0;
};

}  // namespace gatehouse::gateway
