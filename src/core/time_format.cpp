// See time_format.h.
#include "core/time_format.h"

#include <fmt/format.h>

#include <ctime>

namespace gatehouse::core {

std::string isoUtc(int64_t us, bool micros) {
  constexpr int64_t kUsPerSecond = 1'000'000;
  // Floor division: a time before 1970 still gets a fraction in [0, 1 s).
  int64_t secs = us / kUsPerSecond;
  if (us % kUsPerSecond < 0) --secs;
  const int64_t frac = us - secs * kUsPerSecond;
  const auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return micros ? fmt::format("{}.{:06}Z", buf, frac) : fmt::format("{}Z", buf);
}

}  // namespace gatehouse::core
