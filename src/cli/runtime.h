// Runtime: a running gateway assembled from a config: store, event log and indexer, TLS, upstream credentials,
// the PostgreSQL listener with its workers, and the HTTP listener. Used by `serve` and by `demo`.
#pragma once

#include <memory>

#include "core/config.h"
#include "core/result.h"

namespace gatehouse::cli {

class Runtime {
 public:
  static Result<std::unique_ptr<Runtime>> start(const core::Config& config);
  virtual ~Runtime() = default;
  virtual uint16_t postgresPort() const = 0;
  virtual uint16_t httpPort() const = 0;
  virtual void stop() = 0;
};

// Blocks SIGINT and SIGTERM in this thread (and the threads it starts later), so that waitForStopSignal can
// take them synchronously. Call before starting any thread.
void blockStopSignals();
int waitForStopSignal();

// Sets the log level from GATEHOUSE_LOG (trace, debug, info, warn, error) or the given default.
void setupLogging(const std::string& level);

}  // namespace gatehouse::cli
