// CancelRegistry: random client-facing cancel keys mapped to backend keys.
#include "gateway/cancel_registry.h"

#include <openssl/rand.h>

#include <stdexcept>

namespace gatehouse::gateway {

std::pair<int32_t, int32_t> CancelRegistry::add(CancelTarget target) {
  std::lock_guard lock(mutex_);
  for (;;) {
    uint32_t r[2];
    if (RAND_bytes(reinterpret_cast<unsigned char*>(r), sizeof r) != 1)
      throw std::runtime_error("no randomness for a cancel key");
    const auto pid = static_cast<int32_t>(r[0] & 0x7fffffff);  // positive, as a PID is
    const auto key = static_cast<int32_t>(r[1]);
    if (pid == 0 || targets_.contains(id(pid, key))) continue;
    targets_.emplace(id(pid, key), std::move(target));
    return {pid, key};
  }
}

void CancelRegistry::remove(int32_t pid, int32_t key) {
  std::lock_guard lock(mutex_);
  targets_.erase(id(pid, key));
}

std::optional<CancelTarget> CancelRegistry::find(int32_t pid, int32_t key) const {
  std::lock_guard lock(mutex_);
  auto it = targets_.find(id(pid, key));
  if (it == targets_.end()) return std::nullopt;
  return it->second;
}

}  // namespace gatehouse::gateway
