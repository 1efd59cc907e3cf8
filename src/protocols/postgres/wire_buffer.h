// Big-endian readers and writers for PostgreSQL message bodies (internal to the codec).
// The Reader checks every field against the bytes left before it reads, and remembers what went wrong so
// that a decoder can say which field of which message is malformed.
// Hand-written rather than Boost.Endian plus a stream: the checks and the error wording are the point.
#pragma once

#include <cassert>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace gatehouse::pg::wire {

class Reader {
 public:
  // `message` names the message in errors ("Bind"); `body` is what follows the length word.
  Reader(std::string_view message, std::string_view body) : message_(message), body_(body) {}

  size_t remaining() const { return body_.size() - pos_; }

  bool u8(uint8_t& v, std::string_view field) {
    if (!need(1, field)) return false;
    v = static_cast<uint8_t>(body_[pos_++]);
    return true;
  }
  bool i8(int8_t& v, std::string_view field) {
    uint8_t u = 0;
    if (!u8(u, field)) return false;
    v = static_cast<int8_t>(u);
    return true;
  }
  bool byte(char& v, std::string_view field) {
    uint8_t u = 0;
    if (!u8(u, field)) return false;
    v = static_cast<char>(u);
    return true;
  }
  bool u16(uint16_t& v, std::string_view field, int index = -1) {
    if (!need(2, field, index)) return false;
    v = static_cast<uint16_t>(at(0) << 8 | at(1));
    pos_ += 2;
    return true;
  }
  bool i16(int16_t& v, std::string_view field, int index = -1) {
    uint16_t u = 0;
    if (!u16(u, field, index)) return false;
    v = static_cast<int16_t>(u);
    return true;
  }
  bool u32(uint32_t& v, std::string_view field, int index = -1) {
    if (!need(4, field, index)) return false;
    v = at(0) << 24 | at(1) << 16 | at(2) << 8 | at(3);
    pos_ += 4;
    return true;
  }
  bool i32(int32_t& v, std::string_view field, int index = -1) {
    uint32_t u = 0;
    if (!u32(u, field, index)) return false;
    v = static_cast<int32_t>(u);
    return true;
  }

  // A NUL-terminated string; the NUL is consumed, not stored.
  bool cstring(std::string& out, std::string_view field, int index = -1) {
    const size_t nul = body_.find('\0', pos_);
    if (nul == std::string_view::npos) return fail(field, index, "has no NUL terminator");
    out.assign(body_.substr(pos_, nul - pos_));
    pos_ = nul + 1;
    return true;
  }

  bool bytes(size_t n, std::string& out, std::string_view field, int index = -1) {
    if (!need(n, field, index)) return false;
    out.assign(body_.substr(pos_, n));
    pos_ += n;
    return true;
  }

  void rest(std::string& out) {
    out.assign(body_.substr(pos_));
    pos_ = body_.size();
  }

  // A 16-bit element count. PostgreSQL and libpq read these counts unsigned (up to 65535 parameters), so a
  // count is never "negative" here; it must only fit: `count * min_element_size` bytes must remain. Checking
  // that before reserving keeps a forged count from causing a large allocation.
  bool count16(size_t& n, size_t min_element_size, std::string_view field) {
    uint16_t c = 0;
    if (!u16(c, field)) return false;
    return fits(c, min_element_size, field, n);
  }
  // A 32-bit element count (NegotiateProtocolVersion): negative is an error.
  bool count32(size_t& n, size_t min_element_size, std::string_view field) {
    int32_t c = 0;
    if (!i32(c, field)) return false;
    if (c < 0) return fail(field, -1, "is negative (" + std::to_string(c) + ")");
    return fits(static_cast<size_t>(c), min_element_size, field, n);
  }

  // An int32 length followed by that many bytes; -1 means NULL. Other negative lengths are errors.
  bool nullable(std::optional<std::string>& out, std::string_view field, int index = -1) {
    int32_t len = 0;
    if (!i32(len, field, index)) return false;
    if (len == -1) {
      out.reset();
      return true;
    }
    if (len < 0) return fail(field, index, "has a negative length (" + std::to_string(len) + ")");
    if (static_cast<size_t>(len) > remaining())
      return fail(field, index, "length runs past the end of the message");
    out.emplace(body_.substr(pos_, static_cast<size_t>(len)));
    pos_ += static_cast<size_t>(len);
    return true;
  }

  // True when every byte was read; otherwise records a "trailing bytes" error.
  bool end() {
    if (pos_ == body_.size()) return true;
    error_ = std::string(message_) + ": " + std::to_string(remaining()) +
             " unexpected byte(s) after the last field";
    return false;
  }

  // Records an error about the message as a whole or about a field's value (not its layout).
  bool fail(std::string_view field, int index, std::string_view problem) {
    error_ = std::string(message_) + ": " + std::string(field);
    if (index >= 0) error_ += " " + std::to_string(index + 1);
    error_ += " ";
    error_ += problem;
    return false;
  }

  Error error() const {
    assert(!error_.empty());
    return makeError(error_);
  }

 private:
  uint32_t at(size_t i) const { return static_cast<uint8_t>(body_[pos_ + i]); }

  bool need(size_t n, std::string_view field, int index = -1) {
    if (n <= remaining()) return true;
    return fail(field, index, "runs past the end of the message");
  }

  bool fits(size_t count, size_t min_element_size, std::string_view field, size_t& n) {
    if (count > remaining() / (min_element_size == 0 ? 1 : min_element_size))
      return fail(field, -1, std::to_string(count) + " runs past the end of the message");
    n = count;
    return true;
  }

  std::string_view message_;
  std::string_view body_;
  size_t pos_ = 0;
  std::string error_;
};

// ---- Writers: append big-endian values to a message under construction ----

inline void putU8(std::string& out, uint8_t v) {
  out.push_back(static_cast<char>(v));
}
inline void putU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}
inline void putI16(std::string& out, int16_t v) {
  putU16(out, static_cast<uint16_t>(v));
}
inline void putU32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}
inline void putI32(std::string& out, int32_t v) {
  putU32(out, static_cast<uint32_t>(v));
}
inline void putCString(std::string& out, std::string_view s) {
  out.append(s);
  out.push_back('\0');
}
// Element counts are 16-bit on the wire; a message built with more elements is a programming error.
inline void putCount16(std::string& out, size_t n) {
  assert(n <= std::numeric_limits<uint16_t>::max());
  putU16(out, static_cast<uint16_t>(n));
}
inline void putNullable(std::string& out, const std::optional<std::string>& v) {
  if (!v) {
    putI32(out, -1);
    return;
  }
  assert(v->size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  putI32(out, static_cast<int32_t>(v->size()));
  out.append(*v);
}

// Starts a message: the type byte (none for startup packets) and a length word patched by finish().
inline size_t beginMessage(std::string& out, char type) {
  if (type != 0) out.push_back(type);
  const size_t length_at = out.size();
  putU32(out, 0);
  return length_at;
}
inline void finishMessage(std::string& out, size_t length_at) {
  const size_t len = out.size() - length_at;  // the length counts itself but not the type byte
  assert(len <= static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  for (int i = 0; i < 4; ++i)
    out[length_at + static_cast<size_t>(i)] = static_cast<char>(len >> (24 - 8 * i));
}

}  // namespace gatehouse::pg::wire
