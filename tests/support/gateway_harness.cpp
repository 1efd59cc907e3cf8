// GatewayHarness: the gatehouse binary as a child process, configured through a generated gatehouse.yaml.
#include "support/gateway_harness.h"

#include "net/http_client.h"

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace gatehouse::testing {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// YAML double-quoted scalars accept JSON string escapes, so JSON quoting is safe for any path or name.
std::string yamlQuote(const std::string& s) { return boost::json::serialize(boost::json::value(s)); }

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

bool keepTmp() {
  const char* env = std::getenv("GATEHOUSE_KEEP_TMP");
  return env != nullptr && std::string(env) == "1";
}

}  // namespace

std::string gatehouseBinary() {
  if (const char* env = std::getenv("GATEHOUSE_BINARY"); env != nullptr && *env != '\0') return env;
  return GATEHOUSE_BINARY;
}

GatewayConnection connectionTo(const devtools::LocalPostgres& pg, const std::string& database,
                               const std::string& user, const std::string& name) {
  GatewayConnection c;
  c.name = name;
  c.host = pg.host();
  c.port = pg.port();
  c.database = database;
  c.user = user;
  c.password_env = "GH_TEST_PG_PASSWORD";
  return c;
}

Result<std::unique_ptr<GatewayHarness>> GatewayHarness::create(GatewayOptions options) {
  std::unique_ptr<GatewayHarness> h(new GatewayHarness(std::move(options)));
  auto dir = devtools::makeTempDir("gatehouse-gw");
  if (!dir) return dir.error();
  h->dir_ = *dir;
  std::error_code ec;
  fs::create_directories(h->dataDir(), ec);
  if (ec) return makeError("creating " + h->dataDir().string() + ": " + ec.message());
  if (auto r = h->writeConfig(); !r) return r.error();
  return h;
}

GatewayHarness::~GatewayHarness() {
  if (process_) {
    [[maybe_unused]] auto r = stop(5s);
  }
  if (!dir_.empty() && !keepTmp()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);  // a mount point left by a failed test makes this fail; nothing else to do
  }
}

fs::path GatewayHarness::recordingDir() const {
  return options_.recording_dir.empty() ? dataDir() / "recordings" : options_.recording_dir;
}

Result<void> GatewayHarness::writeConfig() {
  auto pg_port = devtools::pickFreePort();
  if (!pg_port) return pg_port.error();
  auto http_port = options_.http_port != 0 ? Result<uint16_t>(options_.http_port) : devtools::pickFreePort();
  if (!http_port) return http_port.error();
  pg_port_ = *pg_port;
  http_port_ = *http_port;

  std::ostringstream y;
  y << "# Written by the integration test harness.\n"
    << "data_dir: " << yamlQuote(dataDir().string()) << "\n"
    << "listeners:\n"
    << "  postgres: { address: 127.0.0.1, port: " << pg_port_ << " }\n"
    << "  http: { address: 127.0.0.1, port: " << http_port_ << (options_.http_tls ? ", tls: true" : "")
    << (options_.http_public_url.empty() ? "" : ", public_url: " + yamlQuote(options_.http_public_url)) << " }\n"
    << "workers: " << options_.workers << "\n"
    << "recording: { dir: " << yamlQuote(recordingDir().string())
    << ", fsync: " << (options_.recording_fsync ? "true" : "false")
    << (options_.recording_segment_size.empty() ? "" : ", segment_size: " + options_.recording_segment_size) << " }\n"
    << "connections:\n";
  for (const auto& c : options_.connections) {
    y << "  - name: " << yamlQuote(c.name) << "\n"
      << "    type: postgres\n"
      << "    host: " << yamlQuote(c.host) << "\n"
      << "    port: " << c.port << "\n"
      << "    database: " << yamlQuote(c.database) << "\n"
      << "    user: " << yamlQuote(c.user) << "\n";
    if (!c.password_env.empty()) y << "    password: { env: " << yamlQuote(c.password_env) << " }\n";
    y << "    tls: { mode: " << c.tls_mode;
    if (!c.tls_ca.empty()) y << ", ca: " << yamlQuote(c.tls_ca.string());
    if (!c.tls_server_name.empty()) y << ", server_name: " << yamlQuote(c.tls_server_name);
    y << " }\n";
    std::vector<std::string> groups;
    for (const auto& g : c.allow_groups) groups.push_back(yamlQuote(g));
    y << "    allow_groups: [" << join(groups, ", ") << "]\n";
    if (c.connect_timeout_ms != 0) y << "    connect_timeout_ms: " << c.connect_timeout_ms << "\n";
    if (!c.guardrails_yaml.empty()) y << "    guardrails:\n" << c.guardrails_yaml;
    if (!c.masking_yaml.empty()) y << "    masking:\n" << c.masking_yaml;
  }
  y << options_.extra_yaml;
  std::ofstream out(configPath(), std::ios::trunc);
  out << y.str();
  out.close();
  if (!out) return makeError("cannot write " + configPath().string());
  return {};
}

Result<void> GatewayHarness::start() {
  if (process_ && process_->running()) return makeError("gateway already running");
  // Free ports are picked before the gateway binds them; if someone else got there first, pick again.
  for (int attempt = 0;; ++attempt) {
    auto launched = launchOnce();
    if (launched) return {};
    std::string log = logTail();
    bool port_taken = log.find("in use") != std::string::npos;
    if (!port_taken || attempt >= 2) return launched;
    if (auto r = writeConfig(); !r) return r;
  }
}

Result<void> GatewayHarness::launchOnce() {
  devtools::SpawnOptions spawn;
  spawn.argv = {gatehouseBinary(), "serve", "-c", configPath().string()};
  spawn.env = options_.env;
  spawn.working_dir = dir_;
  spawn.stdout_to = devtools::Redirect::appendFile(logPath());
  spawn.stderr_to = devtools::Redirect::appendFile(logPath());
  spawn.parent_death_signal = SIGKILL;
  auto started = devtools::Process::spawn(spawn);
  if (!started) return started.error();
  process_.emplace(std::move(*started));

  bool ready = waitUntil(
      [&] {
        if (!process_->running()) return true;
        if (!tcpAccepts("127.0.0.1", pg_port_)) return false;
        auto health = http("/healthz");
        return health && health->status == 200;
      },
      options_.start_timeout);
  if (!process_->running()) {
    auto status = process_->status();
    process_.reset();
    return makeError("gatehouse serve " + (status ? status->describe() : std::string("ended")) +
                     " during startup; log:\n" + logTail());
  }
  if (!ready) {
    [[maybe_unused]] auto r = process_->stop(SIGKILL, 5s);
    process_.reset();
    return makeError("gatehouse serve did not become ready within " + std::to_string(options_.start_timeout.count()) +
                     " ms; log:\n" + logTail());
  }
  return {};
}

Result<devtools::ExitStatus> GatewayHarness::stop(std::chrono::milliseconds grace) {
  if (!process_) return makeError("gateway not started");
  auto status = process_->stop(SIGTERM, grace);
  process_.reset();
  return status;
}

Result<void> GatewayHarness::kill9() {
  if (!process_) return makeError("gateway not started");
  auto status = process_->stop(SIGKILL, 10s);
  process_.reset();
  if (!status) return status.error();
  return {};
}

bool GatewayHarness::running() { return process_ && process_->running(); }

std::string GatewayHarness::logTail(size_t bytes) const {
  std::string log = devtools::readFileOrEmpty(logPath());
  return log.size() > bytes ? log.substr(log.size() - bytes) : log;
}

Result<devtools::RunResult> GatewayHarness::cli(const std::vector<std::string>& command,
                                                const std::vector<std::string>& args,
                                                std::chrono::milliseconds timeout) const {
  devtools::SpawnOptions spawn;
  spawn.argv = {gatehouseBinary()};
  spawn.argv.insert(spawn.argv.end(), command.begin(), command.end());
  spawn.argv.push_back("-c");
  spawn.argv.push_back(configPath().string());
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  spawn.env = options_.env;
  spawn.working_dir = dir_;
  return devtools::run(spawn, timeout);
}

Result<boost::json::value> GatewayHarness::cliJson(const std::vector<std::string>& command,
                                                   const std::vector<std::string>& args) const {
  auto done = cli(command, args);
  std::string what = "gatehouse " + join(command, " ") + " " + join(args, " ");
  if (!done) return makeError(what + ": " + done.error().message);
  if (!done->status.success()) {
    return makeError(what + " " + done->status.describe() + ": " + done->err + done->out);
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(done->out, ec);
  if (ec) return makeError(what + " printed invalid JSON (" + ec.message() + "): " + done->out.substr(0, 500));
  return v;
}

Result<IssuedToken> GatewayHarness::createToken(const std::string& user, const std::vector<std::string>& groups) const {
  auto v = cliJson({"token", "create"}, {"--user", user, "--groups", join(groups, ","), "--json"});
  if (!v) return v.error();
  const auto* obj = v->if_object();
  if (obj == nullptr || !obj->contains("token") || !obj->contains("id")) {
    return makeError("token create --json: unexpected output " + boost::json::serialize(*v));
  }
  IssuedToken t;
  t.id = boost::json::value_to<std::string>(obj->at("id"));
  t.token = boost::json::value_to<std::string>(obj->at("token"));
  if (const auto* u = obj->if_contains("user"); u != nullptr && u->is_string()) t.user = u->as_string().c_str();
  if (const auto* g = obj->if_contains("groups"); g != nullptr && g->is_array()) {
    for (const auto& item : g->as_array()) {
      if (item.is_string()) t.groups.emplace_back(item.as_string().c_str());
    }
  }
  return t;
}

Result<void> GatewayHarness::revokeToken(const std::string& id) const {
  auto done = cli({"token", "revoke"}, {id});
  if (!done) return done.error();
  if (!done->status.success()) return makeError("token revoke " + done->status.describe() + ": " + done->err);
  return {};
}

Result<boost::json::array> GatewayHarness::audit(const std::vector<std::string>& args) const {
  std::vector<std::string> all = {"--json"};
  all.insert(all.end(), args.begin(), args.end());
  auto v = cliJson({"audit"}, all);
  if (!v) return v.error();
  if (!v->is_array()) return makeError("audit --json: expected an array, got " + boost::json::serialize(*v));
  return v->as_array();
}

Result<boost::json::array> GatewayHarness::sessions(const std::vector<std::string>& args) const {
  std::vector<std::string> all = {"--json"};
  all.insert(all.end(), args.begin(), args.end());
  auto v = cliJson({"sessions"}, all);
  if (!v) return v.error();
  if (!v->is_array()) return makeError("sessions --json: expected an array, got " + boost::json::serialize(*v));
  return v->as_array();
}

std::string GatewayHarness::conninfo(const std::string& user, const std::string& token, const std::string& connection,
                                     const std::string& extra) const {
  std::string out = "host=127.0.0.1 port=" + std::to_string(pg_port_) +
                    " dbname=" + devtools::quoteConninfoValue(connection) +
                    " user=" + devtools::quoteConninfoValue(user) + " password=" + devtools::quoteConninfoValue(token) +
                    " connect_timeout=20";
  if (!extra.empty()) out += " " + extra;
  return out;
}

Result<HttpResponse> GatewayHarness::http(const std::string& target) const {
  if (!options_.http_tls) return httpGet("127.0.0.1", http_port_, target);
  // HTTPS with the certificate the gateway generated in its data directory.
  auto r = net::httpRequest({.method = "GET",
                             .url = "https://127.0.0.1:" + std::to_string(http_port_) + target,
                             .ca_file = dataDir() / "tls" / "gateway.crt"});
  if (!r) return r.error();
  return HttpResponse{.status = r->status, .body = r->body, .headers = {}};
}

}  // namespace gatehouse::testing
