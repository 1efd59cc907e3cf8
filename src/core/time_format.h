// Times as the project prints them: ISO 8601, UTC.
#pragma once

#include <cstdint>
#include <string>

namespace gatehouse::core {

// 2024-05-01T12:34:56.123456Z (micros = true) or 2024-05-01T12:34:56Z, from microseconds since the Unix epoch.
std::string isoUtc(int64_t us, bool micros);

}  // namespace gatehouse::core
