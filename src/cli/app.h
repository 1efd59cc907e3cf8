// The gatehouse command line: `serve`, `demo`, and the client commands.
#pragma once

namespace gatehouse::cli {

int run(int argc, char** argv);

}  // namespace gatehouse::cli
