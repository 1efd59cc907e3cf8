// A real storage fault under the recording directory: a tiny tmpfs that the test fills up. A statement that
// cannot be recorded must not be answered — the client gets an error, never the result. Needs permission to
// mount (root in the CI container); skipped otherwise.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "support/gateway_test.h"

namespace gatehouse::testing {
namespace {
using namespace std::chrono_literals;
namespace fs = std::filesystem;

class RecordingFull : public GatewaySuiteTest<RecordingFull> {
 protected:
  static void SetUpTestSuite() {
    auto dir = devtools::makeTempDir("gatehouse-recfull");
    if (!dir) {
      error_ = dir.error().message;
      return;
    }
    mount_dir_ = *dir;
    if (::mount("tmpfs", mount_dir_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=256k,mode=0700") != 0) {
      skip_ = std::string("cannot mount a tmpfs here (") + std::strerror(errno) + "); needs root or CAP_SYS_ADMIN";
      return;
    }
    mounted_ = true;
    if (startSuite("recfull", [](GatewayOptions& options, const devtools::LocalPostgres&, const std::string&) {
          options.recording_dir = mount_dir_ / "recordings";
        })) {
      token_ = issueToken("filler", {"dev"});
    }
  }
  static void TearDownTestSuite() {
    GatewaySuiteTest::TearDownTestSuite();  // stops the gateway first: it holds files on the mount
    if (mounted_) ::umount2(mount_dir_.c_str(), MNT_DETACH);
    std::error_code ec;
    if (!mount_dir_.empty()) fs::remove_all(mount_dir_, ec);
  }
  void SetUp() override {
    if (!skip_.empty()) GTEST_SKIP() << skip_;
    GatewaySuiteTest::SetUp();
  }

  // Writes a file until the filesystem refuses with ENOSPC.
  static Result<size_t> fill(const fs::path& file) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return makeError(std::string("open filler: ") + std::strerror(errno));
    std::string block(4096, 'x');
    size_t total = 0;
    for (size_t chunk : {size_t{4096}, size_t{1}}) {
      for (;;) {
        ssize_t n = ::write(fd, block.data(), chunk);
        if (n > 0) {
          total += static_cast<size_t>(n);
          continue;
        }
        if (n < 0 && errno == ENOSPC) break;
        int e = errno;
        ::close(fd);
        return makeError(std::string("write filler: ") + std::strerror(e));
      }
    }
    ::close(fd);
    return total;
  }

  static inline fs::path mount_dir_;
  static inline bool mounted_ = false;
  static inline std::string skip_;
  static inline std::string token_;
};

TEST_F(RecordingFull, StatementThatCannotBeRecordedGetsNoResult) {
  auto c = pgConnect(gateway().conninfo("filler", token_));
  ASSERT_TRUE(c.ok()) << c.message;
  ASSERT_EQ(pgExec(c.conn.get(), "SELECT 'before the disk filled'").value(), "before the disk filled");

  auto filled = fill(mount_dir_ / "filler");
  ASSERT_TRUE(filled) << filled.error().message;

  // Each statement's text is larger than a page, so its event cannot fit in the slack of the log's last page.
  const std::string padding = "/* " + std::string(9000, 'p') + " */";
  int answered = 0;
  QueryResult refused;
  for (int i = 0; i < 10; ++i) {
    std::string marker = "after-full-" + std::to_string(i);
    QueryResult r = pgExec(c.conn.get(), "SELECT '" + marker + "' " + padding);
    if (r.ok()) {
      ++answered;
      continue;
    }
    refused = r;
    EXPECT_TRUE(r.rows.empty());
    break;
  }
  EXPECT_EQ(answered, 0) << "statements were answered although their recording could not be written";
  EXPECT_NE(refused.status, PGRES_TUPLES_OK);
  EXPECT_FALSE(refused.error.empty());
  std::cerr << "refused with SQLSTATE '" << refused.sqlstate << "': " << refused.error << "\n";

  // Space again: a new session is recorded and answered.
  fs::remove(mount_dir_ / "filler");
  bool recovered = waitUntil(
      [&] {
        auto again = pgConnect(gateway().conninfo("filler", token_));
        return again.ok() && pgExec(again.conn.get(), "SELECT 'recovered'").value() == "recovered";
      },
      10s);
  EXPECT_TRUE(recovered) << "the gateway did not recover once the disk had space again";
}

}  // namespace
}  // namespace gatehouse::testing
