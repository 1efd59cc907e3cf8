// Child processes for the developer tools and the tests: spawn a program with its own argv, environment,
// working directory, output redirection and (when running as root) an unprivileged user; wait with a
// deadline; signal; collect output. Used to run initdb/postgres, psql/pgbench and the gatehouse binary.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"

namespace gatehouse::devtools {

// An OS account to run a child as (resolved before fork: getpwnam/getgrouplist are not async-signal-safe).
struct RunAs {
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};
Result<RunAs> lookupUser(const std::string& name);

// Where a child's stdout or stderr goes.
struct Redirect {
  enum class Kind { kInherit, kNull, kFile, kAppendFile, kPipe };
  Kind kind = Kind::kInherit;
  std::filesystem::path path;

  static Redirect inherit() { return {}; }
  static Redirect null() { return {Kind::kNull, {}}; }
  static Redirect file(std::filesystem::path p) { return {Kind::kFile, std::move(p)}; }
  static Redirect appendFile(std::filesystem::path p) { return {Kind::kAppendFile, std::move(p)}; }
  static Redirect pipe() { return {Kind::kPipe, {}}; }
};

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0]: a path, or a name looked up in PATH
  std::vector<std::pair<std::string, std::string>> env;  // added to (or overriding) the parent's environment
  std::filesystem::path working_dir;                      // empty: the parent's
  std::optional<RunAs> run_as;                            // switch user (needs root)
  Redirect stdout_to;
  Redirect stderr_to;
  // Give the parent a stream to the child's stdin (a socket: write with send(MSG_NOSIGNAL)); else /dev/null.
  bool stdin_pipe = false;
  // Deliver `parent_death_signal` to the child when the thread that spawned it dies (PR_SET_PDEATHSIG),
  // so a crashed test does not leave servers behind. Spawn from a long-lived thread when using this.
  int parent_death_signal = 0;
};

// How a child ended.
struct ExitStatus {
  int code = -1;    // exit code when it exited
  int signal = 0;   // signal number when a signal ended it
  bool exited() const { return signal == 0 && code >= 0; }
  bool success() const { return signal == 0 && code == 0; }
  std::string describe() const;
};

// A running child. Move-only; destroying a Process whose child still runs kills it (SIGKILL) and reaps it,
// so that no test leaves zombies or stray servers behind.
class Process {
 public:
  static Result<Process> spawn(const SpawnOptions& options);

  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  const std::string& program() const { return program_; }
  // True until the child has been reaped; reaps it if it has exited.
  bool running();
  // The exit status once reaped.
  const std::optional<ExitStatus>& status() const { return status_; }

  // Waits up to `timeout` for the child to end. Error on timeout (the child keeps running).
  Result<ExitStatus> wait(std::chrono::milliseconds timeout);
  Result<void> signal(int sig);
  // Sends `sig`, waits up to `grace`, then SIGKILL and waits again.
  Result<ExitStatus> stop(int sig, std::chrono::milliseconds grace);

  // Pipe ends (-1 unless the matching Redirect/stdin_pipe asked for a pipe). The Process owns them.
  int stdoutFd() const { return stdout_fd_; }
  int stderrFd() const { return stderr_fd_; }
  int stdinFd() const { return stdin_fd_; }
  void closeStdin();
  // Lets the child run on after this object is gone (a browser the CLI opened for the user), unkilled.
  void detach();

 private:
  Process() = default;
  void release();

  pid_t pid_ = -1;
  std::string program_;
  std::optional<ExitStatus> status_;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  int stdin_fd_ = -1;
};

// Output of a program run to completion.
struct RunResult {
  ExitStatus status;
  std::string out;
  std::string err;
};

// Runs a program to completion, feeding `input` to its stdin and capturing stdout and stderr (the
// Redirects in `options` are overridden with pipes). On timeout the child is killed and an Error returned.
Result<RunResult> run(SpawnOptions options, std::chrono::milliseconds timeout, const std::string& input = {});

// Finds `name` in PATH (or returns it unchanged when it contains a slash). Error if not executable.
Result<std::filesystem::path> findExecutable(const std::string& name);

// Reads a whole file (logs, pid files); empty on error.
std::string readFileOrEmpty(const std::filesystem::path& path);

}  // namespace gatehouse::devtools
