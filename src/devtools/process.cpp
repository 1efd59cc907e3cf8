// fork/exec with everything the child needs prepared before fork: in a multithreaded parent (the tests run
// cancel threads and load threads) the child may only call async-signal-safe functions until execve.
// posix_spawn cannot switch users, which running PostgreSQL as root requires, hence fork.
#include "devtools/process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace gatehouse::devtools {
namespace {

std::string errnoText(const std::string& what, int err) { return what + ": " + std::strerror(err); }

// What the child reports through the exec-status pipe when it fails before execve.
struct ChildFailure {
  int stage;
  int err;
};

enum ChildStage : int { kStageRedirect = 1, kStageChdir, kStageSetgroups, kStageSetgid, kStageSetuid, kStageExec };

const char* stageName(int stage) {
  switch (stage) {
    case kStageRedirect: return "redirecting output";
    case kStageChdir: return "changing directory";
    case kStageSetgroups: return "setgroups";
    case kStageSetgid: return "setgid";
    case kStageSetuid: return "setuid";
    case kStageExec: return "execve";
    default: return "starting";
  }
}

[[noreturn]] void childFail(int fd, int stage) {
  ChildFailure failure{stage, errno};
  // Nothing useful can be done if this write fails; the parent then sees a child that exited with 127.
  [[maybe_unused]] ssize_t n = ::write(fd, &failure, sizeof failure);
  ::_exit(127);
}

// Opens the parent-side description of a Redirect; returns the fd the child should dup2, or -1 to inherit.
Result<int> openRedirect(const Redirect& r, int* parent_end) {
  switch (r.kind) {
    case Redirect::Kind::kInherit:
      return -1;
    case Redirect::Kind::kNull: {
      int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      if (fd < 0) return makeError(errnoText("open /dev/null", errno));
      return fd;
    }
    case Redirect::Kind::kFile:
    case Redirect::Kind::kAppendFile: {
      int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (r.kind == Redirect::Kind::kFile ? O_TRUNC : O_APPEND);
      int fd = ::open(r.path.c_str(), flags, 0644);
      if (fd < 0) return makeError(errnoText("open " + r.path.string(), errno));
      return fd;
    }
    case Redirect::Kind::kPipe: {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) return makeError(errnoText("pipe2", errno));
      *parent_end = fds[0];
      return fds[1];
    }
  }
  return -1;
}

void closeFd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

}  // namespace

std::string ExitStatus::describe() const {
  if (signal != 0) return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  return "exited with code " + std::to_string(code);
}

Result<RunAs> lookupUser(const std::string& name) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0) return makeError(errnoText("getpwnam " + name, rc));
  if (found == nullptr) return makeError("no such user: " + name);
  RunAs who{name, pw.pw_uid, pw.pw_gid, {}};
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  while (::getgrouplist(name.c_str(), pw.pw_gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count) + 16);
    count = static_cast<int>(groups.size());
  }
  groups.resize(static_cast<size_t>(count));
  who.groups = std::move(groups);
  return who;
}

Result<std::filesystem::path> findExecutable(const std::string& name) {
  if (name.empty()) return makeError("empty program name");
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) != 0) return makeError(errnoText("not executable: " + name, errno));
    return std::filesystem::path(name);
  }
  const char* path_env = std::getenv("PATH");
  std::string path = path_env != nullptr ? path_env : "/usr/local/bin:/usr/bin:/bin";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) dir = ".";
    std::filesystem::path candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return makeError("program not found in PATH: " + name);
}

std::string readFileOrEmpty(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<Process> Process::spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return makeError("spawn: empty argv");
  auto exe = findExecutable(options.argv[0]);
  if (!exe) return exe.error();

  // Everything the child touches is built here, before fork.
  std::vector<std::string> env_storage;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    std::string_view key = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& [k, v] : options.env) overridden = overridden || k == key;
    if (!overridden) env_storage.emplace_back(entry);
  }
  for (const auto& [k, v] : options.env) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_storage) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_storage = options.argv;
  std::vector<char*> argv;
  for (auto& s : argv_storage) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::string exe_path = exe->string();
  std::string workdir = options.working_dir.string();

  Process p;
  p.program_ = options.argv[0];
  int child_out = -1;
  int child_err = -1;
  int child_in = -1;
  auto cleanup = [&] {
    closeFd(child_out);
    closeFd(child_err);
    closeFd(child_in);
  };
  auto out = openRedirect(options.stdout_to, &p.stdout_fd_);
  if (!out) return out.error();
  child_out = *out;
  auto err = openRedirect(options.stderr_to, &p.stderr_fd_);
  if (!err) {
    cleanup();
    return err.error();
  }
  child_err = *err;
  if (options.stdin_pipe) {
    // A socket pair rather than a pipe: send(MSG_NOSIGNAL) lets the parent survive a child that exits
    // without reading its input, without touching the process-wide SIGPIPE disposition.
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
      cleanup();
      return makeError(errnoText("socketpair", errno));
    }
    ::shutdown(fds[0], SHUT_WR);
    ::shutdown(fds[1], SHUT_RD);
    child_in = fds[0];
    p.stdin_fd_ = fds[1];
  } else {
    child_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) {
    cleanup();
    return makeError(errnoText("pipe2", errno));
  }

  const pid_t parent = ::getpid();
  const std::optional<RunAs>& run_as = options.run_as;
  const int death_signal = options.parent_death_signal;
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    cleanup();
    ::close(status_pipe[0]);
    ::close(status_pipe[1]);
    return makeError(errnoText("fork", e));
  }
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    int report = status_pipe[1];
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGCHLD}) ::signal(s, SIG_DFL);
    if (child_in >= 0 && ::dup2(child_in, STDIN_FILENO) < 0) childFail(report, kStageRedirect);
    if (child_out >= 0 && ::dup2(child_out, STDOUT_FILENO) < 0) childFail(report, kStageRedirect);
    if (child_err >= 0 && ::dup2(child_err, STDERR_FILENO) < 0) childFail(report, kStageRedirect);
    if (!workdir.empty() && ::chdir(workdir.c_str()) != 0) childFail(report, kStageChdir);
    if (run_as) {
      if (::setgroups(run_as->groups.size(), run_as->groups.data()) != 0) childFail(report, kStageSetgroups);
      if (::setgid(run_as->gid) != 0) childFail(report, kStageSetgid);
      if (::setuid(run_as->uid) != 0) childFail(report, kStageSetuid);
    }
    // After the credential change: changing credentials clears the parent-death signal.
    if (death_signal != 0) {
      ::prctl(PR_SET_PDEATHSIG, death_signal);
      if (::getppid() != parent) ::_exit(126);  // the parent died before prctl took effect
    }
    // Descriptors the parent holds (listening sockets, client connections) must not leak into servers.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execve(exe_path.c_str(), argv.data(), envp.data());
    childFail(report, kStageExec);
  }

  // Parent.
  p.pid_ = pid;
  cleanup();
  ::close(status_pipe[1]);
  ChildFailure failure{};
  ssize_t n;
  do {
    n = ::read(status_pipe[0], &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  ::close(status_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    int st = 0;
    ::waitpid(pid, &st, 0);
    p.pid_ = -1;
    return makeError("cannot start " + exe_path + ": " + stageName(failure.stage) + ": " +
                     std::strerror(failure.err));
  }
  return p;
}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      program_(std::move(other.program_)),
      status_(std::move(other.status_)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      stderr_fd_(std::exchange(other.stderr_fd_, -1)),
      stdin_fd_(std::exchange(other.stdin_fd_, -1)) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    release();
    pid_ = std::exchange(other.pid_, -1);
    program_ = std::move(other.program_);
    status_ = std::move(other.status_);
    stdout_fd_ = std::exchange(other.stdout_fd_, -1);
    stderr_fd_ = std::exchange(other.stderr_fd_, -1);
    stdin_fd_ = std::exchange(other.stdin_fd_, -1);
  }
  return *this;
}

Process::~Process() { release(); }

void Process::release() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
  closeFd(stdout_fd_);
  closeFd(stderr_fd_);
  closeFd(stdin_fd_);
}

void Process::detach() {
  pid_ = -1;  // no longer ours to kill; it is reaped by init once this process exits
  closeFd(stdout_fd_);
  closeFd(stderr_fd_);
  closeFd(stdin_fd_);
}

void Process::closeStdin() { closeFd(stdin_fd_); }

bool Process::running() {
  if (pid_ <= 0 || status_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == 0) return true;
  if (r == pid_) {
    ExitStatus s;
    if (WIFEXITED(st)) s.code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) s.signal = WTERMSIG(st);
    status_ = s;
    return false;
  }
  // ECHILD: someone else reaped it (should not happen); treat as gone.
  status_ = ExitStatus{};
  return false;
}

Result<ExitStatus> Process::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return makeError("wait: no child process");
  // Polling waitpid keeps this free of SIGCHLD handlers, which a test binary cannot own; the sleep grows
  // so that short-lived programs are noticed quickly and long waits cost little.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto nap = std::chrono::milliseconds(1);
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return makeError(program_ + " (pid " + std::to_string(pid_) + ") still running after " +
                       std::to_string(timeout.count()) + " ms");
    }
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, std::chrono::milliseconds(20));
  }
  return *status_;
}

Result<void> Process::signal(int sig) {
  if (pid_ <= 0 || status_) return makeError("signal: " + program_ + " is not running");
  if (::kill(pid_, sig) != 0) return makeError(errnoText("kill " + std::to_string(pid_), errno));
  return {};
}

Result<ExitStatus> Process::stop(int sig, std::chrono::milliseconds grace) {
  if (pid_ <= 0) return makeError("stop: no child process");
  if (!running()) return *status_;
  if (auto r = signal(sig); !r) return r.error();
  auto waited = wait(grace);
  if (waited) return waited;
  if (auto r = signal(SIGKILL); !r && running()) return r.error();
  return wait(std::chrono::seconds(10));
}

Result<RunResult> run(SpawnOptions options, std::chrono::milliseconds timeout, const std::string& input) {
  options.stdout_to = Redirect::pipe();
  options.stderr_to = Redirect::pipe();
  options.stdin_pipe = !input.empty();
  auto spawned = Process::spawn(options);
  if (!spawned) return spawned.error();
  Process& p = *spawned;
  RunResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int out_fd = p.stdoutFd();
  int err_fd = p.stderrFd();
  size_t written = 0;
  if (!input.empty()) {
    // Non-blocking, so that a child that stops reading cannot stall the loop; EPIPE means "done writing".
    ::fcntl(p.stdinFd(), F_SETFL, ::fcntl(p.stdinFd(), F_GETFL) | O_NONBLOCK);
  }
  bool out_open = true;
  bool err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return makeError(options.argv[0] + " timed out after " + std::to_string(timeout.count()) +
                       " ms; output so far: " + result.out + result.err);
    }
    std::vector<pollfd> fds;
    if (out_open) fds.push_back({out_fd, POLLIN, 0});
    if (err_open) fds.push_back({err_fd, POLLIN, 0});
    if (p.stdinFd() >= 0) fds.push_back({p.stdinFd(), POLLOUT, 0});
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count()) + 1;
    int rc = ::poll(fds.data(), fds.size(), ms);
    if (rc < 0 && errno != EINTR) return makeError(errnoText("poll", errno));
    for (const auto& f : fds) {
      if (f.revents == 0) continue;
      if (f.fd == p.stdinFd()) {
        ssize_t n = ::send(f.fd, input.data() + written, input.size() - written, MSG_NOSIGNAL);
        if (n > 0) written += static_cast<size_t>(n);
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) p.closeStdin();
        continue;
      }
      ssize_t n = ::read(f.fd, buf, sizeof buf);
      if (n > 0) {
        (f.fd == out_fd ? result.out : result.err).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        (f.fd == out_fd ? out_open : err_open) = false;
      }
    }
  }
  p.closeStdin();
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  auto st = p.wait(std::max(remaining, std::chrono::milliseconds(1)));
  if (!st) return st.error();
  result.status = *st;
  return result;
}

}  // namespace gatehouse::devtools
