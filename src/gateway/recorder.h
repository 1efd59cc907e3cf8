// Recorder: one per worker thread, in front of that worker's event log. Appending a session's records is a copy
// into the log's mapped segment and needs no wait. With recording.fsync, the records must also be durable before
// the session goes on: sessions then wait for a group sync, one msync for everything appended during one round
// of the worker's event loop, so that many sessions share each sync.
#pragma once

#include <boost/asio/any_completion_handler.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "net/asio.h"
#include "recording/event_log.h"

namespace gatehouse::gateway {

class Recorder {
 public:
  Recorder(net::asio::io_context& io, recording::EventLog& log) : io_(io), log_(log) {}
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Appends whole event lines. Returns the error message, empty on success. Worker thread only.
  std::string append(std::string_view lines);
  // Whether appended records must wait for sync() before the session may go on.
  bool mustSync() const { return log_.fsync(); }
  // Completes once everything appended so far is durable. Returns the error message, empty on success.
  net::awaitable<std::string> sync();


 private:
  using Waiter = net::asio::any_completion_handler<void(std::string)>;
  void syncGroup();

  net::asio::io_context& io_;
  recording::EventLog& log_;
  std::vector<Waiter> waiters_;
  std::vector<Waiter> syncing_;
  bool scheduled_ = false;
};

}  // namespace gatehouse::gateway
