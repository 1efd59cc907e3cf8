// gatehouse: one binary that serves (gateway, API, metrics) and is the client CLI.
#include "cli/app.h"

int main(int argc, char** argv) { return gatehouse::cli::run(argc, argv); }
