// LocalPostgres: initdb + postgres in a temporary directory. Readiness is read from postmaster.pid, the way
// pg_ctl -w does it, so that this library needs no libpq; SQL goes through psql over the private Unix socket.
#include "devtools/local_postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace gatehouse::devtools {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

fs::path defaultBinDir() {
  if (const char* env = std::getenv("GATEHOUSE_PG_BINDIR"); env != nullptr && *env != '\0') return env;
  for (const char* version : {"15", "16", "17", "14"}) {
    fs::path dir = fs::path("/usr/lib/postgresql") / version / "bin";
    if (::access((dir / "initdb").c_str(), X_OK) == 0) return dir;
  }
  // Fall back to PATH (other distributions put initdb there).
  if (auto found = findExecutable("initdb")) return found->parent_path();
  return {};
}

Result<void> writeFile(const fs::path& path, const std::string& content, bool append = false) {
  std::ofstream out(path, append ? std::ios::app : std::ios::trunc);
  if (!out) return makeError("cannot write " + path.string() + ": " + std::strerror(errno));
  out << content;
  out.close();
  if (!out) return makeError("cannot write " + path.string());
  return {};
}

Result<void> chownTree(const fs::path& root, const RunAs& who) {
  std::error_code ec;
  if (::chown(root.c_str(), who.uid, who.gid) != 0) {
    return makeError("chown " + root.string() + ": " + std::strerror(errno));
  }
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (::lchown(it->path().c_str(), who.uid, who.gid) != 0) {
      return makeError("chown " + it->path().string() + ": " + std::strerror(errno));
    }
  }
  if (ec) return makeError("walking " + root.string() + ": " + ec.message());
  return {};
}

// postmaster.pid, line 8, holds the postmaster's status once it is up ("ready", "starting", "stopping").
// https://www.postgresql.org/docs/15/storage-file-layout.html and src/include/utils/pidfile.h
std::string postmasterStatus(const fs::path& data_dir) {
  std::ifstream in(data_dir / "postmaster.pid");
  std::string line;
  for (int i = 1; i <= 8 && std::getline(in, line); ++i) {
    if (i == 8) return line.substr(0, line.find_last_not_of(' ') + 1);
  }
  return {};
}

bool keepTmp() {
  const char* env = std::getenv("GATEHOUSE_KEEP_TMP");
  return env != nullptr && std::string(env) == "1";
}

}  // namespace

std::string quoteLiteral(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

std::string quoteIdentifier(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string quoteConninfoValue(const std::string& s) {
  // https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING: single quotes, \' and \\ escaped.
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

Result<uint16_t> pickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return makeError(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int e = errno;
    ::close(fd);
    return makeError(std::string("binding a free port: ") + std::strerror(e));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string randomToken(size_t length) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string out;
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  while (out.size() < length) {
    unsigned char byte = 0;
    urandom.read(reinterpret_cast<char*>(&byte), 1);
    if (!urandom) break;
    if (byte < 248) out += kAlphabet[byte % 62];  // 248 = 4 * 62: no modulo bias
  }
  return out;
}

Result<fs::path> makeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  fs::path parent = (tmp != nullptr && *tmp != '\0') ? fs::path(tmp) : fs::path("/tmp");
  std::string templ = (parent / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr) return makeError("mkdtemp " + templ + ": " + std::strerror(errno));
  return fs::path(templ);
}

Result<std::unique_ptr<LocalPostgres>> LocalPostgres::start(LocalPostgresOptions options) {
  if (options.superuser_password.empty()) options.superuser_password = randomToken(24);
  std::unique_ptr<LocalPostgres> pg(new LocalPostgres(std::move(options)));
  if (auto r = pg->init(); !r) return r.error();
  // An automatically picked port can be taken by someone else before postgres binds it: try a few.
  const bool auto_port = pg->options_.port == 0;
  for (int attempt = 0;; ++attempt) {
    if (auto_port) {
      auto port = pickFreePort();
      if (!port) return port.error();
      pg->port_ = *port;
    } else {
      pg->port_ = pg->options_.port;
    }
    if (auto r = pg->writeConfig(); !r) return r.error();
    auto launched = pg->launch();
    if (launched) break;
    bool port_taken = pg->logTail().find("could not bind") != std::string::npos;
    if (!auto_port || !port_taken || attempt >= 3) return launched.error();
  }
  for (const auto& role : pg->options_.roles) {
    if (auto r = pg->createRole(role); !r) return r.error();
  }
  for (const auto& db : pg->options_.databases) {
    if (auto r = pg->createDatabase(db.name, db.owner); !r) return r.error();
  }
  return pg;
}

LocalPostgres::~LocalPostgres() {
  // A destructor cannot report; stop() failing leaves at worst a directory in /tmp.
  [[maybe_unused]] auto r = stop();
}

Result<void> LocalPostgres::init() {
  bin_dir_ = options_.bin_dir.empty() ? defaultBinDir() : options_.bin_dir;
  if (bin_dir_.empty() || ::access((bin_dir_ / "initdb").c_str(), X_OK) != 0) {
    return makeError("PostgreSQL server binaries not found (set GATEHOUSE_PG_BINDIR); looked in '" +
                     bin_dir_.string() + "'");
  }
  if (::geteuid() == 0) {
    auto who = lookupUser(options_.unprivileged_user);
    if (!who) return makeError("running as root needs an unprivileged account for PostgreSQL: " + who.error().message);
    run_as_ = *who;
  }
  fs::path parent = options_.parent_dir;
  if (parent.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    // As root, $TMPDIR may sit under /root, which the postgres account cannot traverse.
    parent = (tmp != nullptr && *tmp != '\0' && !run_as_) ? fs::path(tmp) : fs::path("/tmp");
  }
  std::string templ = (parent / "gatehouse-pg-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) return makeError("mkdtemp " + templ + ": " + std::strerror(errno));
  base_dir_ = templ;
  // The Unix socket lives here; sun_path holds 107 bytes.
  if (base_dir_.string().size() + sizeof("/.s.PGSQL.65535") > 107) {
    return makeError("temporary directory path too long for a Unix socket: " + base_dir_.string());
  }

  fs::path pwfile = base_dir_ / "pwfile";
  if (auto r = writeFile(pwfile, options_.superuser_password + "\n"); !r) return r;
  if (options_.ssl) {
    if (auto r = makeCertificate(); !r) return r;
  }
  if (run_as_) {
    if (auto r = chownTree(base_dir_, *run_as_); !r) return r;
  }

  SpawnOptions initdb;
  initdb.argv = {(bin_dir_ / "initdb").string(), "-D", dataDir().string(), "-U", options_.superuser,
                 "--pwfile=" + pwfile.string(), "--auth-local=trust", "--auth-host=" + options_.host_auth,
                 "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"};
  initdb.run_as = run_as_;
  initdb.working_dir = base_dir_;
  initdb.env = {{"LC_ALL", "C"}, {"TZ", "UTC"}};
  auto done = run(initdb, 120s);
  fs::remove(pwfile);
  if (!done) return makeError("initdb: " + done.error().message);
  if (!done->status.success()) {
    return makeError("initdb " + done->status.describe() + ": " + done->err + done->out);
  }
  return {};
}

Result<void> LocalPostgres::makeCertificate() {
  // The openssl CLI keeps this library free of a libcrypto dependency; an EC key is generated in
  // milliseconds where RSA takes a noticeable fraction of a second.
  SpawnOptions req;
  req.argv = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-days", "2", "-subj", "/CN=localhost",
              "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
              "-keyout", (base_dir_ / "server.key").string(), "-out", (base_dir_ / "server.crt").string()};
  auto done = run(req, 60s);
  if (!done) return makeError("openssl: " + done.error().message);
  if (!done->status.success()) return makeError("openssl req " + done->status.describe() + ": " + done->err);
  // PostgreSQL refuses a key readable by group or others.
  fs::permissions(base_dir_ / "server.key", fs::perms::owner_read | fs::perms::owner_write);
  return {};
}

fs::path LocalPostgres::sslCertPath() const { return options_.ssl ? base_dir_ / "server.crt" : fs::path(); }

Result<void> LocalPostgres::writeConfig() {
  std::ostringstream conf;
  conf << "\n# Written by gatehouse LocalPostgres: a throw-away test server, tuned for speed over durability.\n"
       << "listen_addresses = '127.0.0.1'\n"
       << "port = " << port_ << "\n"
       << "unix_socket_directories = " << quoteLiteral(socketDir().string()) << "\n"
       << "max_connections = " << options_.max_connections << "\n"
       << "shared_buffers = " << quoteLiteral(options_.shared_buffers) << "\n"
       << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
       << "wal_level = minimal\nmax_wal_senders = 0\n"
       << "password_encryption = " << (options_.host_auth == "md5" ? "md5" : "'scram-sha-256'") << "\n"
       << "log_line_prefix = '%m [%p] %q%u@%d '\n"
       << "timezone = 'UTC'\n";
  if (options_.ssl) {
    conf << "ssl = on\n"
         << "ssl_cert_file = " << quoteLiteral((base_dir_ / "server.crt").string()) << "\n"
         << "ssl_key_file = " << quoteLiteral((base_dir_ / "server.key").string()) << "\n";
  }
  for (const auto& line : options_.extra_settings) conf << line << "\n";
  // postgresql.conf is written once by initdb; settings read later win, so a retry can append again.
  if (auto r = writeFile(dataDir() / "postgresql.conf", conf.str(), /*append=*/true); !r) return r;

  std::ostringstream hba;
  hba << "# TYPE DATABASE USER ADDRESS METHOD\n"
      << "local all all trust\n"  // the socket directory is private to this cluster's owner
      << "host all all 127.0.0.1/32 " << options_.host_auth << "\n";
  return writeFile(dataDir() / "pg_hba.conf", hba.str());
}

Result<void> LocalPostgres::launch() {
  SpawnOptions spawn;
  spawn.argv = {(bin_dir_ / "postgres").string(), "-D", dataDir().string()};
  spawn.run_as = run_as_;
  spawn.working_dir = base_dir_;
  spawn.env = {{"LC_ALL", "C"}, {"TZ", "UTC"}};
  spawn.stdout_to = Redirect::appendFile(logPath());
  spawn.stderr_to = Redirect::appendFile(logPath());
  spawn.parent_death_signal = options_.parent_death_signal;
  auto started = Process::spawn(spawn);
  if (!started) return started.error();
  server_.emplace(std::move(*started));
  return waitReady();
}

Result<void> LocalPostgres::waitReady() {
  auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!server_->running()) {
      auto status = server_->status();
      server_.reset();
      return makeError("postgres " + (status ? status->describe() : std::string("ended")) + "; log:\n" +
                       logTail());
    }
    if (postmasterStatus(dataDir()) == "ready") return {};
    std::this_thread::sleep_for(20ms);
  }
  [[maybe_unused]] auto stopped = server_->stop(SIGQUIT, 5s);
  server_.reset();
  return makeError("postgres did not become ready within " + std::to_string(options_.start_timeout.count()) +
                   " ms; log:\n" + logTail());
}

bool LocalPostgres::running() { return server_ && server_->running(); }

Result<void> LocalPostgres::stop() {
  Result<void> outcome;
  if (server_) {
    // SIGINT is PostgreSQL's fast shutdown: abort transactions, disconnect clients, checkpoint, exit.
    auto stopped = server_->stop(SIGINT, 30s);
    if (!stopped) outcome = makeError("stopping postgres: " + stopped.error().message);
    server_.reset();
  }
  if (!base_dir_.empty() && !options_.keep_dir && !keepTmp()) {
    std::error_code ec;
    fs::remove_all(base_dir_, ec);
    if (ec && outcome) outcome = makeError("removing " + base_dir_.string() + ": " + ec.message());
  }
  base_dir_.clear();
  return outcome;
}

std::string LocalPostgres::conninfo(const std::string& db, const std::string& user,
                                    const std::string& password) const {
  std::string out = "host=" + host_ + " port=" + std::to_string(port_) + " dbname=" + quoteConninfoValue(db) +
                    " user=" + quoteConninfoValue(user);
  if (!password.empty()) out += " password=" + quoteConninfoValue(password);
  return out;
}

std::string LocalPostgres::superuserConninfo(const std::string& db) const {
  return conninfo(db, options_.superuser, options_.superuser_password);
}

Result<RunResult> LocalPostgres::psql(const std::vector<std::string>& extra_args, const std::string& input,
                                      const std::string& db) const {
  fs::path psql = bin_dir_ / "psql";
  SpawnOptions spawn;
  spawn.argv = {::access(psql.c_str(), X_OK) == 0 ? psql.string() : std::string("psql"),
                "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", socketDir().string(), "-p", std::to_string(port_),
                "-U", options_.superuser, "-d", db};
  spawn.argv.insert(spawn.argv.end(), extra_args.begin(), extra_args.end());
  spawn.env = {{"PGCONNECT_TIMEOUT", "10"}, {"PGAPPNAME", "gatehouse-devtools"}, {"PGOPTIONS", ""}};
  return run(spawn, 120s, input);
}

Result<void> LocalPostgres::exec(const std::string& sql, const std::string& db) const {
  // From stdin rather than -c: psql then sends the statements one by one, outside any implicit transaction.
  auto done = psql({"-f", "-"}, sql + "\n", db);
  if (!done) return done.error();
  if (!done->status.success()) return makeError("psql " + done->status.describe() + ": " + done->err);
  return {};
}

Result<std::string> LocalPostgres::query(const std::string& sql, const std::string& db) const {
  auto done = psql({"-A", "-t", "-f", "-"}, sql + "\n", db);
  if (!done) return done.error();
  if (!done->status.success()) return makeError("psql " + done->status.describe() + ": " + done->err);
  std::string out = done->out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

Result<void> LocalPostgres::createRole(const LocalPostgresOptions::Role& role) const {
  std::string sql = "CREATE ROLE " + quoteIdentifier(role.name) + " LOGIN" + (role.superuser ? " SUPERUSER" : "");
  if (!role.password.empty()) sql += " PASSWORD " + quoteLiteral(role.password);
  return exec(sql + ";");
}

Result<void> LocalPostgres::createDatabase(const std::string& name, const std::string& owner) const {
  std::string sql = "CREATE DATABASE " + quoteIdentifier(name);
  if (!owner.empty()) sql += " OWNER " + quoteIdentifier(owner);
  return exec(sql + ";");
}

std::string LocalPostgres::logTail(size_t bytes) const {
  if (base_dir_.empty()) return {};
  std::string log = readFileOrEmpty(logPath());
  return log.size() > bytes ? log.substr(log.size() - bytes) : log;
}

}  // namespace gatehouse::devtools
