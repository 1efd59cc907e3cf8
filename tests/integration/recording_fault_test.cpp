// A real storage fault under the recording directory: a tiny tmpfs that the test fills up. The event log reserves
// its space a segment at a time, so statements go on being recorded into the segment already reserved; once a
// statement needs a new segment and there is no room for one, it must not be answered — the client gets an
// error, never the result — and every statement that was answered is in the audit. Needs permission to mount
// (root in the CI container); skipped otherwise.
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
          options.recording_segment_size = "64KiB";
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

  // Each statement's text is larger than a page; a 64 KiB segment holds a few of them.
  const std::string padding = "/* " + std::string(9000, 'p') + " */";
  std::vector<std::string> answered;
  QueryResult refused;
  for (int i = 0; i < 40; ++i) {
    std::string marker = "after-full-" + std::to_string(i);
    QueryResult r = pgExec(c.conn.get(), "SELECT '" + marker + "' " + padding);
    if (r.ok()) {
      EXPECT_EQ(r.value(), marker);
      answered.push_back(marker);
      continue;
    }
    refused = r;
    EXPECT_TRUE(r.rows.empty());
    break;
  }
  EXPECT_LE(answered.size(), 64u * 1024 / 9000) << "more statements answered than the reserved segment can hold";
  EXPECT_NE(refused.status, PGRES_TUPLES_OK) << "no statement was refused although the disk is full";
  EXPECT_FALSE(refused.error.empty());
  std::cerr << "answered " << answered.size() << " from the reserved segment, then refused with SQLSTATE '"
            << refused.sqlstate << "': " << refused.error << "\n";

  // Space again: a new session is recorded and answered.
  fs::remove(mount_dir_ / "filler");
  bool recovered = waitUntil(
      [&] {
        auto again = pgConnect(gateway().conninfo("filler", token_));
        return again.ok() && pgExec(again.conn.get(), "SELECT 'recovered'").value() == "recovered";
      },
      10s);
  EXPECT_TRUE(recovered) << "the gateway did not recover once the disk had space again";

  // Everything that was answered was recorded.
  std::vector<std::string> missing;
  waitUntil(
      [&] {
        auto entries = gateway().audit();
        if (!entries) return false;
        missing.clear();
        for (const auto& marker : answered) {
          bool found = false;
          for (const auto& e : *entries) {
            const auto* sql = e.is_object() ? e.as_object().if_contains("sql") : nullptr;
            found = found || (sql && sql->is_string() && std::string_view(sql->as_string()).find("'" + marker + "'") !=
                                                             std::string_view::npos);
          }
          if (!found) missing.push_back(marker);
        }
        return missing.empty();
      },
      10s);
  EXPECT_TRUE(missing.empty()) << missing.size() << " answered statements are not in the audit, e.g. "
                               << (missing.empty() ? "" : missing.front());
}

}  // namespace
}  // namespace gatehouse::testing
