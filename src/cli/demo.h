// `gatehouse demo`: a throw-away PostgreSQL with a sample schema, and a gateway in front of it.
#pragma once

#include <cstdint>

namespace gatehouse::cli {

struct DemoOptions {
  uint16_t port = 15432;
  uint16_t http_port = 18080;
};

int runDemo(const DemoOptions& options);

}  // namespace gatehouse::cli
