// CLI wiring: parses the command line with CLI11 and calls the command's function.
#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>

#include "cli/demo.h"
#include "cli/identity_commands.h"
#include "cli/login_commands.h"
#include "cli/record_commands.h"
#include "cli/runtime.h"
#include "core/config.h"
#include "vault/sealed.h"

namespace gatehouse::cli {
namespace {

namespace fs = std::filesystem;

std::optional<core::Config> config(const std::string& path) {
  auto cfg = core::loadConfig(path);
  if (!cfg) {
    std::cerr << "gatehouse: " << cfg.error().message << "\n";
    return std::nullopt;
  }
  return std::move(*cfg);
}

int serve(const std::string& config_path) {
  spdlog::set_level(spdlog::level::info);
  if (const char* env = std::getenv("GATEHOUSE_LOG"); env && *env) spdlog::set_level(spdlog::level::from_str(env));
  auto cfg = config(config_path);
  if (!cfg) return 2;
  blockStopSignals();
  auto runtime = Runtime::start(*cfg);
  if (!runtime) {
    spdlog::critical("gatehouse did not start: {}", runtime.error().message);
    return 1;
  }
  spdlog::info("gatehouse {} serving: PostgreSQL on {}:{}, HTTP on {}:{}", GATEHOUSE_VERSION,
               cfg->postgres_listener.address, (*runtime)->postgresPort(), cfg->http_listener.address,
               (*runtime)->httpPort());
  const int sig = waitForStopSignal();
  spdlog::info("signal {} received: stopping", sig);
  (*runtime)->stop();
  spdlog::info("stopped");
  return 0;
}

int secretKeygen(const std::string& out) {
  auto key = vault::generateMasterKey();
  if (!key) {
    std::cerr << "gatehouse: " << key.error().message << "\n";
    return 1;
  }
  if (auto r = vault::writeFileAtomically(out, vault::formatMasterKey(*key) + "\n", 0600); !r) {
    std::cerr << "gatehouse: " << r.error().message << "\n";
    return 1;
  }
  std::cerr << "master key written to " << out << " (mode 0600). Reference it in the config as\n"
            << "  vault: { master_key: { file: " << out << " } }\n";
  return 0;
}

int secretSeal(const std::string& key_file, const std::string& in, const std::string& out) {
  auto key = vault::loadMasterKey(core::SecretRef{.env = {}, .sealed_file = key_file});
  if (!key) {
    std::cerr << "gatehouse: " << key.error().message << "\n";
    return 1;
  }
  std::string secret;
  if (in == "-") {
    secret.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::ifstream f(in, std::ios::binary);
    if (!f) {
      std::cerr << "gatehouse: cannot read " << in << "\n";
      return 1;
    }
    secret.assign(std::istreambuf_iterator<char>(f), {});
  }
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) {
    std::cerr << "gatehouse: the secret is empty\n";
    return 1;
  }
  if (auto r = vault::writeFileAtomically(out, vault::seal(secret, *key), 0600); !r) {
    std::cerr << "gatehouse: " << r.error().message << "\n";
    return 1;
  }
  std::cerr << "sealed secret written to " << out << ". Reference it in a connection as\n"
            << "  password: { sealed_file: " << out << " }\n";
  return 0;
}

// Lists the configured connections: what a client puts in dbname, and who may use it.
int listConnections(const core::Config& cfg, bool json) {
  if (json) {
    boost::json::array out;
    for (const auto& c : cfg.connections) {
      boost::json::array groups;
      for (const auto& g : c.allow_groups) groups.emplace_back(g);
      out.push_back(boost::json::object{{"name", c.name}, {"type", "postgres"}, {"host", c.host}, {"port", c.port},
                                        {"database", c.database}, {"allow_groups", std::move(groups)}});
    }
    std::cout << boost::json::serialize(out) << "\n";
    return 0;
  }
  std::cout << fmt::format("{:<24} {:<10} {:<32} {}\n", "NAME", "TYPE", "TARGET", "GROUPS");
  for (const auto& c : cfg.connections) {
    std::string groups;
    for (const auto& g : c.allow_groups) groups += (groups.empty() ? "" : ",") + g;
    std::cout << fmt::format("{:<24} {:<10} {:<32} {}\n", c.name, "postgres",
                             fmt::format("{}:{}/{}", c.host, c.port, c.database), groups);
  }
  return 0;
}

std::vector<std::string> splitGroups(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto comma = s.find(',', start);
    auto part = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int run(int argc, char** argv) {
  // Logs go to stderr for every command, so that stdout carries only results (tokens, tables, JSON).
  setupLogging("warn");
  CLI::App app{"Gatehouse: an access gateway that holds the credential, checks who asks, and records everything"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(GATEHOUSE_VERSION));
  std::string config_path = "gatehouse.yaml";
  bool json = false;
  int rc = 0;

  auto* serve_cmd = app.add_subcommand("serve", "Run the gateway: PostgreSQL listener, HTTP API and metrics");
  serve_cmd->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  serve_cmd->callback([&] { rc = serve(config_path); });

  auto* conns = app.add_subcommand("connections", "List the connections clients can name as their database");
  conns->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  conns->add_flag("--json", json, "JSON output");
  conns->callback([&] {
    auto cfg = config(config_path);
    rc = cfg ? listConnections(*cfg, json) : 2;
  });

  DemoOptions demo;
  auto* demo_cmd = app.add_subcommand("demo", "Start a throw-away PostgreSQL with sample data and a gateway in front");
  demo_cmd->add_option("--port", demo.port, "Gateway PostgreSQL port (0: any free port)")->capture_default_str();
  demo_cmd->add_option("--http-port", demo.http_port, "Gateway HTTP port (0: any free port)")->capture_default_str();
  demo_cmd->callback([&] { rc = runDemo(demo); });

  LoginOptions login;
  int login_timeout_s = 300;
  auto* login_cmd = app.add_subcommand("login", "Sign in with the gateway's OpenID provider; keeps a session token");
  login_cmd->add_option("--gateway", login.gateway, "The gateway's HTTP API (default $GATEHOUSE_URL, else http://127.0.0.1:18080)");
  login_cmd->add_option("--provider", login.provider, "The provider's name, when the gateway has several");
  login_cmd->add_flag("--device", login.device, "Device flow: sign in on another device (for machines without a browser)");
  login_cmd->add_flag("--no-browser", login.no_browser, "Print the sign-in URL without opening a browser");
  login_cmd->add_option("--ca", login.ca_file, "CA certificate to trust for an https gateway");
  login_cmd->add_option("--timeout", login_timeout_s, "Seconds to wait for the sign-in")->capture_default_str();
  login_cmd->callback([&] {
    login.timeout = std::chrono::seconds(login_timeout_s);
    rc = runLogin(login);
  });
  app.add_subcommand("logout", "Revoke and forget the session token `login` keeps")->callback([&] { rc = runLogout(); });
  auto* whoami = app.add_subcommand("whoami", "Who you are signed in as: identity, groups, expiry");
  whoami->add_flag("--json", json, "JSON output");
  whoami->callback([&] { rc = runWhoami(json); });

  auto* token = app.add_subcommand("token", "Access tokens, session tokens, and the one you are signed in with");
  token->require_subcommand(1);
  std::string user;
  std::string groups;
  auto* create = token->add_subcommand("create", "Create a token; prints it once");
  create->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  create->add_option("--user", user, "The identity the token stands for")->required();
  create->add_option("--groups", groups, "Comma-separated groups")->required();
  create->add_flag("--json", json, "JSON output");
  create->callback([&] {
    auto cfg = config(config_path);
    rc = cfg ? runTokenCreate(*cfg, user, splitGroups(groups), json) : 2;
  });
  auto* list = token->add_subcommand("list", "List tokens (never their secrets)");
  list->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  list->add_flag("--json", json, "JSON output");
  list->callback([&] {
    auto cfg = config(config_path);
    rc = cfg ? runTokenList(*cfg, json) : 2;
  });
  token->add_subcommand("show", "Print the session token `gatehouse login` keeps (for PGPASSWORD)")->callback([&] {
    rc = runTokenShow();
  });
  std::string token_id;
  bool all_tokens = false;
  auto* issued = token->add_subcommand("sessions", "List the session tokens the gateway issued (POST /api/token)");
  issued->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  issued->add_flag("--all", all_tokens, "Expired and revoked ones too");
  issued->add_flag("--json", json, "JSON output");
  issued->callback([&] {
    auto cfg = config(config_path);
    rc = cfg ? runSessionTokenList(*cfg, all_tokens, json) : 2;
  });
  auto* revoke = token->add_subcommand(
      "revoke", "Revoke an access token (tok_…) or a session token (gst_…) by id; new connections with it are refused");
  revoke->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  revoke->add_option("id", token_id, "Token id (from `token list`)")->required();
  revoke->callback([&] {
    auto cfg = config(config_path);
    rc = cfg ? runTokenRevoke(*cfg, token_id) : 2;
  });

  auto* sa = app.add_subcommand("serviceaccount", "Service accounts: machine identities whose keys get session tokens");
  sa->require_subcommand(1);
  std::string sa_name;
  std::string sa_groups;
  auto* sa_create = sa->add_subcommand("create", "Create a service account and its first key; prints the key once");
  sa_create->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  sa_create->add_option("name", sa_name, "Account name (lower-case letters, digits, . _ -)")->required();
  sa_create->add_option("--groups", sa_groups, "Comma-separated groups")->required();
  sa_create->add_flag("--json", json, "JSON output");
  sa_create->callback([&] {
    auto cfg = config(config_path);
    rc = cfg ? runServiceAccountCreate(*cfg, sa_name, splitGroups(sa_groups), json) : 2;
  });
  auto* sa_list = sa->add_subcommand("list", "List service accounts and their keys (never the keys themselves)");
  sa_list->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  sa_list->add_flag("--json", json, "JSON output");
  sa_list->callback([&] {
    auto cfg = config(config_path);
    rc = cfg ? runServiceAccountList(*cfg, json) : 2;
  });
  bool keep_old = false;
  auto* sa_rotate = sa->add_subcommand("rotate", "A new key for the account; its other keys are revoked");
  sa_rotate->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  sa_rotate->add_option("name", sa_name, "Account name")->required();
  sa_rotate->add_flag("--keep-old", keep_old, "Keep the other keys valid (revoke them later)");
  sa_rotate->add_flag("--json", json, "JSON output");
  sa_rotate->callback([&] {
    auto cfg = config(config_path);
    rc = cfg ? runServiceAccountRotate(*cfg, sa_name, keep_old, json) : 2;
  });
  std::string key_id;
  auto* sa_revoke = sa->add_subcommand("revoke", "Revoke a key by id (sak_…); it can no longer get session tokens");
  sa_revoke->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  sa_revoke->add_option("key_id", key_id, "Key id (from `serviceaccount list`)")->required();
  sa_revoke->callback([&] {
    auto cfg = config(config_path);
    rc = cfg ? runServiceAccountRevoke(*cfg, key_id) : 2;
  });

  SessionQuery sq;
  std::string sq_user;
  std::string sq_conn;
  auto* sessions = app.add_subcommand("sessions", "List recorded sessions, newest first");
  sessions->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  sessions->add_option("--user", sq_user, "Only this user's sessions");
  sessions->add_option("--connection", sq_conn, "Only sessions to this connection");
  sessions->add_option("--limit", sq.limit, "At most this many (0: all)")->capture_default_str();
  sessions->add_flag("--json", json, "JSON output");
  sessions->callback([&] {
    if (!sq_user.empty()) sq.user = sq_user;
    if (!sq_conn.empty()) sq.connection = sq_conn;
    auto cfg = config(config_path);
    rc = cfg ? runSessions(*cfg, sq, json) : 2;
  });

  AuditQuery aq;
  std::string aq_session;
  std::string aq_user;
  std::string aq_conn;
  std::string aq_since;
  auto* audit = app.add_subcommand("audit", "Search the recorded statements, newest first");
  audit->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  audit->add_option("--session", aq_session, "Only this session's statements");
  audit->add_option("--user", aq_user, "Only this user's statements");
  audit->add_option("--connection", aq_conn, "Only statements on this connection");
  audit->add_option("--since", aq_since, "Since a time (2026-05-01, 2026-05-01T12:00:00Z) or an age (30m, 2h, 7d)");
  audit->add_option("--limit", aq.limit, "At most this many (0: all)")->capture_default_str();
  audit->add_flag("--json", json, "JSON output");
  audit->callback([&] {
    if (!aq_session.empty()) aq.session_id = aq_session;
    if (!aq_user.empty()) aq.user = aq_user;
    if (!aq_conn.empty()) aq.connection = aq_conn;
    if (!aq_since.empty()) aq.since = aq_since;
    auto cfg = config(config_path);
    rc = cfg ? runAudit(*cfg, aq, json) : 2;
  });

  bool all_reviews = false;
  auto* reviews = app.add_subcommand("reviews", "List the statements waiting for a review, newest first");
  reviews->add_option("-c,--config", config_path, "Config file")->capture_default_str();
  reviews->add_flag("--all", all_reviews, "Decided, expired and used reviews too");
  reviews->add_flag("--json", json, "JSON output");
  reviews->callback([&] {
    auto cfg = config(config_path);
    rc = cfg ? runReviews(*cfg, all_reviews, json) : 2;
  });
  std::string review_id;
  std::string review_reason;
  std::string review_token;
  const char* env_token = std::getenv("GATEHOUSE_TOKEN");
  if (env_token) review_token = env_token;
  for (const bool approve : {true, false}) {
    auto* cmd = app.add_subcommand(approve ? "approve" : "reject",
                                   approve ? "Approve a review (as the owner of your access token)"
                                           : "Reject a review, with a reason the requester sees");
    cmd->add_option("-c,--config", config_path, "Config file")->capture_default_str();
    cmd->add_option("id", review_id, "The review's id (rev_...)")->required();
    auto* reason = cmd->add_option("--reason", review_reason, "Why (required to reject)");
    if (!approve) reason->required();
    cmd->add_option("--token", review_token, "Your access token (default: $GATEHOUSE_TOKEN)");
    cmd->add_flag("--json", json, "JSON output");
    cmd->callback([&, approve] {
      auto cfg = config(config_path);
      rc = cfg ? runDecideReview(*cfg, review_id, approve, review_reason, review_token, json) : 2;
    });
  }

  auto* secret = app.add_subcommand("secret", "Sealed backend credentials (libsodium secretbox)");
  secret->require_subcommand(1);
  std::string key_file;
  std::string in = "-";
  std::string out;
  auto* keygen = secret->add_subcommand("keygen", "Create a master key file (mode 0600)");
  keygen->add_option("--out", out, "Key file to write")->required();
  keygen->callback([&] { rc = secretKeygen(out); });
  auto* seal = secret->add_subcommand("seal", "Seal a secret (read from a file or stdin) with the master key");
  seal->add_option("--key-file", key_file, "Master key file")->required();
  seal->add_option("--in", in, "File holding the secret, or - for stdin")->capture_default_str();
  seal->add_option("--out", out, "Sealed file to write")->required();
  seal->callback([&] { rc = secretSeal(key_file, in, out); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return rc;
}

}  // namespace gatehouse::cli
