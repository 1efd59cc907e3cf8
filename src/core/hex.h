// Bytes as lower-case hexadecimal (digests, random ids).
#pragma once

#include <cstddef>
#include <string>

namespace gatehouse::core {

inline std::string toHex(const unsigned char* data, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 0xF];
  }
  return out;
}

}  // namespace gatehouse::core
