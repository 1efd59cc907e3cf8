// Runs the real `gatehouse` binary for the integration tests: writes a gatehouse.yaml into a temporary
// directory, issues tokens through the CLI, starts `gatehouse serve`, waits until it serves, stops or kills it.
#pragma once

#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"
#include "devtools/local_postgres.h"
#include "devtools/process.h"
#include "support/pg_client.h"
#include "support/raw_socket.h"

namespace gatehouse::testing {

// One entry of `connections:` in gatehouse.yaml.
struct GatewayConnection {
  std::string name = "pg-main";
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string database;
  std::string user;
  std::string password_env;  // environment variable holding the upstream password; empty: none
  std::string tls_mode = "disable";  // disable | require | verify-full
  std::filesystem::path tls_ca;
  std::string tls_server_name;
  std::vector<std::string> allow_groups = {"dev"};
  uint32_t connect_timeout_ms = 0;  // 0: the gateway's default
  std::string guardrails_yaml;      // the connection's `guardrails:` mapping, indented by 6 spaces; empty: none
  std::string masking_yaml;         // the connection's `masking:` mapping, indented by 6 spaces; empty: none
};

struct GatewayOptions {
  std::vector<GatewayConnection> connections;
  EnvVars env;  // given to `serve` and every CLI call (the upstream passwords live here)
  unsigned workers = 2;
  std::filesystem::path recording_dir;  // empty: <data>/recordings
  bool recording_fsync = false;
  std::string recording_segment_size;  // empty: the default
  std::string extra_yaml;  // appended verbatim to the top level
  uint16_t http_port = 0;  // 0: a free one is picked
  bool http_tls = false;   // HTTPS on the HTTP listener (the generated certificate)
  std::string http_public_url;  // listeners.http.public_url; empty: none
  std::chrono::milliseconds start_timeout{30000};
};

// The upstream entry for `pg` with the usual test defaults (pg-main, env GH_TEST_PG_PASSWORD, group dev).
GatewayConnection connectionTo(const devtools::LocalPostgres& pg, const std::string& database,
                               const std::string& user, const std::string& name = "pg-main");

struct IssuedToken {
  std::string id;
  std::string token;
  std::string user;
  std::vector<std::string> groups;
};

class GatewayHarness {
 public:
  // Writes the configuration (nothing runs yet).
  static Result<std::unique_ptr<GatewayHarness>> create(GatewayOptions options);

  GatewayHarness(const GatewayHarness&) = delete;
  GatewayHarness& operator=(const GatewayHarness&) = delete;
  ~GatewayHarness();

  // Starts `gatehouse serve -c FILE` and waits until the PostgreSQL listener accepts TCP and /healthz says 200.
  Result<void> start();
  // SIGTERM, then SIGKILL after `grace`. Returns how the process ended.
  Result<devtools::ExitStatus> stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // SIGKILL, as in a crash.
  Result<void> kill9();
  bool running();

  uint16_t pgPort() const { return pg_port_; }
  uint16_t httpPort() const { return http_port_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path configPath() const { return dir_ / "gatehouse.yaml"; }
  std::filesystem::path dataDir() const { return dir_ / "data"; }
  std::filesystem::path recordingDir() const;
  std::filesystem::path logPath() const { return dir_ / "gatehouse.log"; }
  std::string logTail(size_t bytes = 6000) const;

  // `gatehouse <command...> -c FILE <args...>`.
  Result<devtools::RunResult> cli(const std::vector<std::string>& command, const std::vector<std::string>& args = {},
                                  std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // The same, requiring exit code 0 and parsing stdout as JSON.
  Result<boost::json::value> cliJson(const std::vector<std::string>& command,
                                     const std::vector<std::string>& args = {}) const;

  // `gatehouse token create --user U --groups g1,g2 --json`.
  Result<IssuedToken> createToken(const std::string& user, const std::vector<std::string>& groups) const;
  Result<void> revokeToken(const std::string& id) const;
  // `gatehouse audit --json` / `gatehouse sessions --json` with extra filter arguments.
  Result<boost::json::array> audit(const std::vector<std::string>& args = {}) const;
  Result<boost::json::array> sessions(const std::vector<std::string>& args = {}) const;

  // A libpq connection string to the gateway: the connection name is the database, the token the password.
  std::string conninfo(const std::string& user, const std::string& token, const std::string& connection = "pg-main",
                       const std::string& extra = "sslmode=disable") const;
  Result<HttpResponse> http(const std::string& target) const;

 private:
  explicit GatewayHarness(GatewayOptions options) : options_(std::move(options)) {}
  Result<void> writeConfig();
  Result<void> launchOnce();

  GatewayOptions options_;
  std::filesystem::path dir_;
  uint16_t pg_port_ = 0;
  uint16_t http_port_ = 0;
  std::optional<devtools::Process> process_;
};

// Polls `done` every 20 ms until it returns true or `timeout` passes.
template <class Pred>
bool waitUntil(Pred done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The path of the gatehouse binary under test (GATEHOUSE_BINARY, overridable with $GATEHOUSE_BINARY).
std::string gatehouseBinary();

}  // namespace gatehouse::testing

