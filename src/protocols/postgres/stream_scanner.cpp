// StreamScanner: header-only framing of a relayed PostgreSQL message stream.
#include "protocols/postgres/stream_scanner.h"

#include <algorithm>

#include <fmt/format.h>

namespace gatehouse::pg {

StreamScanner::StreamScanner(std::string_view inspected, Limits limits, std::size_t pass_limit)
    : limits_(limits), pass_limit_(pass_limit) {
  for (char c : inspected) inspect_[static_cast<unsigned char>(c)] = true;
}

StreamScanner::Step StreamScanner::next(std::string_view buf) {
  Step step;
  if (failed_) {
    step.kind = Kind::kError;
    step.error = "stream out of sync";
    return step;
  }
  if (pass_remaining_ != 0) {
    if (buf.empty()) return step;
    step.kind = Kind::kPassThrough;
    step.type = pass_type_;
    step.consumed = std::min(pass_remaining_, buf.size());
    pass_remaining_ -= step.consumed;
    return step;
  }
  if (buf.size() < 5) {
    step.need = 5;
    return step;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(buf.data());
  const char type = buf[0];
  const uint32_t length = (uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 8) | uint32_t{p[4]};
  const bool inspected = inspect_[static_cast<unsigned char>(type)];
  const std::size_t limit = inspected ? limits_.max_message : pass_limit_;
  if (length < 4 || length > limit) {
    failed_ = true;
    step.kind = Kind::kError;
    step.error = length < 4 ? fmt::format("message '{}' has an invalid length {}", type, length)
                            : fmt::format("message '{}' of {} bytes exceeds the limit of {} bytes", type, length, limit);
    return step;
  }
  const std::size_t total = std::size_t{length} + 1;
  if (inspected) {
    if (buf.size() < total) {
      step.need = total;
      return step;
    }
    step.kind = Kind::kMessage;
    step.type = type;
    step.body = buf.substr(5, length - 4);
    step.consumed = total;
    return step;
  }
  step.kind = Kind::kPassThrough;
  step.type = type;
  step.first = true;
  step.consumed = std::min(total, buf.size());
  pass_remaining_ = total - step.consumed;
  pass_type_ = type;
  return step;
}

}  // namespace gatehouse::pg
