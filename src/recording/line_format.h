// The event log's line format, shared by its writer and its readers: one JSON object per line whose last member
// is `"crc":"xxxxxxxx"`, the CRC-32 of everything before `,"crc":`.
#pragma once

#include <charconv>
#include <cstdint>
#include <string_view>

#include <libdeflate.h>

#include "core/result.h"

namespace gatehouse::recording {

// `,"crc":"` + 8 hex digits + `"}`
inline constexpr std::string_view kCrcKey = ",\"crc\":\"";
inline constexpr std::size_t kCrcSuffixSize = kCrcKey.size() + 8 + 2;

// CRC-32 (the polynomial of zlib's and Boost.CRC's crc_32_type). It runs on the per-statement path, twice
// (writer and indexer): libdeflate's uses the CPU's carry-less multiply where there is one, about 8x faster than
// zlib's on a 300-byte line (bench/recording_benchmark).
inline uint32_t lineCrc32(std::string_view bytes) { return ::libdeflate_crc32(0, bytes.data(), bytes.size()); }

// Checks a line's checksum; on success, the part it covers (the line without its `,"crc":"…"}` suffix).
inline Result<std::string_view> checkedLineBody(std::string_view line) {
  if (line.size() < kCrcSuffixSize + 2 || !line.ends_with("\"}") ||
      line.substr(line.size() - kCrcSuffixSize, kCrcKey.size()) != kCrcKey) {
    return makeError("event line has no checksum (torn or not an event)");
  }
  const std::string_view body = line.substr(0, line.size() - kCrcSuffixSize);
  const std::string_view hex = line.substr(line.size() - 10, 8);
  uint32_t stated = 0;
  auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), stated, 16);
  if (ec != std::errc() || end != hex.data() + hex.size()) return makeError("event line has a malformed checksum");
  if (lineCrc32(body) != stated) return makeError("event line checksum mismatch (corrupt line)");
  return body;
}

}  // namespace gatehouse::recording
