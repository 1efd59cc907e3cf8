// writeFileAtomically: see files.h.
#include "core/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace gatehouse::core {
namespace {

std::string errnoText(int err) { return std::generic_category().message(err); }

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Result<void> writeFileAtomically(const std::filesystem::path& path, std::string_view contents, unsigned mode) {
  std::string tmp = path.string() + ".tmp.XXXXXX";
  Fd file{::mkostemp(tmp.data(), O_CLOEXEC)};
  if (file.fd < 0) return makeError("cannot create a file beside " + path.string() + ": " + errnoText(errno));
  const auto fail = [&](std::string what) -> Result<void> {
    const std::string reason = errnoText(errno);
    ::unlink(tmp.c_str());
    return makeError(what + " " + path.string() + ": " + reason);
  };
  // fchmod rather than the mode at creation, so the umask cannot change it.
  if (::fchmod(file.fd, static_cast<mode_t>(mode)) != 0) return fail("cannot set the mode of");
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(file.fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write");
    written += static_cast<size_t>(n);
  }
  if (::fsync(file.fd) != 0) return fail("cannot sync");
  const int fd = file.fd;
  file.fd = -1;
  if (::close(fd) != 0) return fail("cannot close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename a temporary file to");
  // The rename itself is durable only once the directory is synced.
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  Fd dir_fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (dir_fd.fd >= 0) ::fsync(dir_fd.fd);
  return {};
}

}  // namespace gatehouse::core
