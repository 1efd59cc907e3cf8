// StreamScanner: walks a relayed byte stream message by message without copying it. Messages the caller wants to
// inspect are returned whole (the caller keeps them buffered until complete); all others are passed through in
// pieces as they arrive, however large (a 500 MB DataRow is never buffered). This is what keeps the relay cheap:
// only the 5-byte header of an uninspected message is read (the idea of pgbouncer's sbuf).
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "protocols/postgres/messages.h"

namespace gatehouse::pg {

class StreamScanner {
 public:
  enum class Kind { kNeedMore, kMessage, kPassThrough, kError };
  struct Step {
    Kind kind = Kind::kNeedMore;
    char type = 0;           // kMessage, kPassThrough: the message type
    bool first = false;      // kPassThrough: this piece starts the message
    std::string_view body;   // kMessage: the body (valid until the buffer changes)
    std::size_t consumed = 0;
    std::size_t need = 0;    // kNeedMore: total bytes the buffer must hold to make progress (0: any)
    std::string error;
  };

  // `inspected` lists message types returned whole; others pass through. `pass_limit` bounds uninspected
  // messages (PostgreSQL's own limit is 1 GB), `limits.max_message` bounds inspected ones.
  StreamScanner(std::string_view inspected, Limits limits, std::size_t pass_limit = (1u << 30) + 64);

  // Looks at the unconsumed bytes `buf` and returns the next step; advance by step.consumed.
  Step next(std::string_view buf);

  bool midMessage() const { return pass_remaining_ != 0; }

 private:
  std::array<bool, 256> inspect_{};
  Limits limits_;
  std::size_t pass_limit_;
  std::size_t pass_remaining_ = 0;
  char pass_type_ = 0;
  bool failed_ = false;
};

}  // namespace gatehouse::pg
