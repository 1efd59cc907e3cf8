// A throw-away PostgreSQL cluster for tests, benchmarks and `gatehouse demo`: initdb into a fresh temporary
// directory, listen on loopback only, stop and delete everything on destruction. Runs the server as the
// unprivileged `postgres` account when started by root (PostgreSQL refuses to run as root).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "devtools/process.h"

namespace gatehouse::devtools {

struct LocalPostgresOptions {
  struct Role {
    std::string name;
    std::string password;
    bool superuser = false;
  };
  struct Database {
    std::string name;
    std::string owner;  // empty: the superuser
  };

  uint16_t port = 0;                          // 0: a free loopback port
  std::string superuser = "postgres";
  std::string superuser_password;             // empty: a random one
  std::string host_auth = "scram-sha-256";    // pg_hba method for TCP: scram-sha-256, md5, password, trust
  bool ssl = false;                           // ssl=on with a generated self-signed certificate
  std::vector<Role> roles;                    // created after start
  std::vector<Database> databases;            // created after the roles
  unsigned max_connections = 100;
  std::string shared_buffers = "32MB";
  std::vector<std::string> extra_settings;    // postgresql.conf lines, e.g. "log_statement = 'all'"
  std::filesystem::path bin_dir;              // initdb/postgres; empty: $GATEHOUSE_PG_BINDIR or Debian's path
  std::filesystem::path parent_dir;           // where the temporary directory goes; empty: $TMPDIR or /tmp
  std::string unprivileged_user = "postgres"; // the account used when running as root
  std::chrono::milliseconds start_timeout{60000};
  // Signal the server gets if the thread that started it dies without stopping it (SIGQUIT: immediate
  // shutdown), so a crashed test or demo leaves no server behind. 0: none. Start from a long-lived thread.
  int parent_death_signal = SIGQUIT;
  // Keep the directory after stop (also with GATEHOUSE_KEEP_TMP=1 in the environment), for debugging.
  bool keep_dir = false;

};

class LocalPostgres {
 public:
  // initdb, start, wait until it accepts connections, create roles and databases.
  static Result<std::unique_ptr<LocalPostgres>> start(LocalPostgresOptions options = {});

  LocalPostgres(const LocalPostgres&) = delete;
  LocalPostgres& operator=(const LocalPostgres&) = delete;
  ~LocalPostgres();

  // Fast shutdown (SIGINT), then removes the directory. Idempotent.
  Result<void> stop();
  bool running();

  const std::string& host() const { return host_; }
  uint16_t port() const { return port_; }
  const std::string& superuser() const { return options_.superuser; }
  const std::string& superuserPassword() const { return options_.superuser_password; }
  pid_t pid() const { return server_ ? server_->pid() : -1; }

  // A libpq connection string for a TCP connection to this server (values quoted as libpq requires).
  std::string conninfo(const std::string& db, const std::string& user, const std::string& password) const;
  // The superuser's connection string.
  std::string superuserConninfo(const std::string& db = "postgres") const;

  const std::filesystem::path& baseDir() const { return base_dir_; }
  std::filesystem::path dataDir() const { return base_dir_ / "data"; }
  std::filesystem::path socketDir() const { return base_dir_; }
  std::filesystem::path logPath() const { return base_dir_ / "postgres.log"; }
  // The server certificate; self-signed, so it is also the CA a verify-full client needs. Empty without ssl.
  std::filesystem::path sslCertPath() const;

  // Runs SQL as the superuser over the Unix socket (psql; statements run one by one, so CREATE DATABASE
  // works). The error carries psql's message.
  Result<void> exec(const std::string& sql, const std::string& db = "postgres") const;
  // Runs a query and returns its unaligned, tuples-only output with the trailing newline removed.
  Result<std::string> query(const std::string& sql, const std::string& db = "postgres") const;
  Result<void> createRole(const LocalPostgresOptions::Role& role) const;
  Result<void> createDatabase(const std::string& name, const std::string& owner = {}) const;

  // The last `bytes` of the server log, for error messages.
  std::string logTail(size_t bytes = 4000) const;

 private:
  explicit LocalPostgres(LocalPostgresOptions options) : options_(std::move(options)) {}
  Result<void> init();
  Result<void> writeConfig();
  Result<void> makeCertificate();
  Result<void> launch();
  Result<void> waitReady();
  Result<RunResult> psql(const std::vector<std::string>& extra_args, const std::string& input,
                         const std::string& db) const;

  LocalPostgresOptions options_;
  std::string host_ = "127.0.0.1";
  uint16_t port_ = 0;
  std::filesystem::path base_dir_;
  std::filesystem::path bin_dir_;
  std::optional<RunAs> run_as_;
  std::optional<Process> server_;
};

// Quoting helpers shared with the tests.
std::string quoteLiteral(const std::string& s);     // 'it''s'
std::string quoteIdentifier(const std::string& s);  // "My ""Table"""
std::string quoteConninfoValue(const std::string& s);
// A free TCP port on 127.0.0.1 (bound and released; another process could take it before use).
Result<uint16_t> pickFreePort();
// Random letters and digits from the OS random source.
std::string randomToken(size_t length);
// A fresh directory from mkdtemp under $TMPDIR (or /tmp), named prefix-XXXXXX.
Result<std::filesystem::path> makeTempDir(const std::string& prefix);

}  // namespace gatehouse::devtools
