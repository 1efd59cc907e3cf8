// CancelRegistry: maps the cancel key the gateway gave a client to the backend's own key, so that a
// CancelRequest works whichever worker thread receives it. Touched at connection open/close and on cancel only.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace gatehouse::gateway {

struct CancelTarget {
  std::string host;
  uint16_t port = 0;
  int32_t backend_pid = 0;
  int32_t backend_key = 0;
  // Set by a CancelRequest: a statement the gateway holds (waiting for a review) is given up.
  std::shared_ptr<std::atomic<bool>> cancel_requested;
};

class CancelRegistry {
 public:
  // Registers a target and returns the (pid, key) pair to give the client. Random, so not guessable.
  std::pair<int32_t, int32_t> add(CancelTarget target);
  void remove(int32_t pid, int32_t key);
  std::optional<CancelTarget> find(int32_t pid, int32_t key) const;

 private:
  static uint64_t id(int32_t pid, int32_t key) {
    return (uint64_t{static_cast<uint32_t>(pid)} << 32) | static_cast<uint32_t>(key);
  }
  mutable std::mutex mutex_;
  std::unordered_map<uint64_t, CancelTarget> targets_;
};

}  // namespace gatehouse::gateway
