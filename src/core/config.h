// The gateway's configuration (gatehouse.yaml): listeners, store, recording, connections.
// Loading validates everything up front and reports the first problem with its YAML path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace gatehouse::core {

// Where a secret comes from. A plain secret in the YAML is refused at load time.
struct SecretRef {
  std::string env;                    // name of an environment variable holding the secret
  std::filesystem::path sealed_file;  // a file sealed with `gatehouse secret seal` (libsodium secretbox)
};

enum class UpstreamTls { kDisable, kRequire, kVerifyFull };

// A review's settings, as written (policy/ compiles and checks them).
struct ReviewConfig {
  std::vector<std::string> approvers;  // groups whose members may approve
  int approvals = 1;
  std::string mode = "wait";           // wait | async
  uint32_t timeout_s = 300;
  uint32_t window_s = 3600;
};

// One guardrail rule, as written. Names of kinds and conditions are checked when the policy is compiled
// (policy/guardrails_config.h), which reports problems with `where`, the rule's YAML path.
struct GuardrailRuleConfig {
  std::string where;
  std::string name;
  std::vector<std::string> groups;
  std::vector<std::string> kinds;       // "drop", "drop table", "select"...
  std::vector<std::string> relations;   // "schema.table" globs
  std::vector<std::string> functions;   // function name globs
  std::vector<std::string> conditions;  // "delete_without_where"...
  std::string action;                   // allow | deny | review
  std::string message;
  ReviewConfig review;
};

struct GuardrailsConfig {
  std::string where;
  std::string default_action = "allow";
  ReviewConfig default_review;
  std::vector<GuardrailRuleConfig> rules;
};

// One masking rule, as written (masking/policy.h compiles and checks it). A rule masks the values of the columns
// it names (schema.table.column globs; `table.column` means any schema), wherever they end up in a result, and
// what its detectors find in any text value; `groups` limits it to members of those groups, `except_groups`
// exempts members of those.
struct MaskingRuleConfig {
  std::string where;
  std::string name;
  std::vector<std::string> columns;
  std::vector<std::string> detectors;  // built-in or custom detector names; "builtin" for every built-in one
  std::string style = "redact";        // redact | partial | token | null
  int keep = 4;                        // partial
  std::string replacement = "****";    // redact
  std::vector<std::string> groups;
  std::vector<std::string> except_groups;
};

struct CustomDetectorConfig {
  std::string where;
  std::string name;
  std::string pattern;  // Hyperscan syntax
  bool caseless = false;
};

struct MaskingConfig {
  std::string where;
  std::optional<SecretRef> token_key;  // absent: a key generated once in the data directory
  std::vector<CustomDetectorConfig> detectors;
  std::vector<MaskingRuleConfig> rules;
};

struct PostgresConnection {
  std::string name;  // what clients put in dbname
  std::string host;
  uint16_t port = 5432;
  std::string database;
  std::string user;
  std::optional<SecretRef> password;  // absent: the upstream uses trust authentication
  UpstreamTls tls = UpstreamTls::kDisable;
  std::filesystem::path tls_ca;       // verify-full: CA bundle; empty = system default
  std::string tls_server_name;        // verify-full: name to check; default host
  std::vector<std::string> allow_groups;
  uint32_t connect_timeout_ms = 10000;
  std::optional<GuardrailsConfig> guardrails;  // absent: statements are recorded, not judged
  std::optional<MaskingConfig> masking;        // absent: results pass unmasked
};

// Where review notifications go: a JSON POST per event, signed with HMAC-SHA256 of the body under `secret`.
struct Webhook {
  std::string url;  // http:// or https://
  std::optional<SecretRef> secret;  // absent: unsigned (the receiver cannot tell it is the gateway)
};

struct Listener {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 = pick a free port (tests)
  bool enabled = true;
  // The HTTP listener only:
  bool tls = false;        // HTTPS with the gateway's certificate (tls.cert/key, else the generated one)
  std::string public_url;  // how browsers reach it (the web sign-in's redirect); empty: from the Host header
};

// An OpenID Connect provider people sign in with (identity.oidc[]).
struct OidcProviderConfig {
  std::string where;  // YAML path, for messages
  std::string name;
  std::string issuer;     // exactly as the provider's tokens carry it in iss; discovery is at issuer + /.well-known/…
  std::string client_id;  // tokens must be for it (aud), or for one of `audiences`; the web sign-in's client
  // The public client `gatehouse login` uses (PKCE through a loopback redirect, or the device flow): a CLI holds
  // no secret. Tokens for it are accepted too. Default: client_id.
  std::string cli_client_id;
  std::optional<SecretRef> client_secret;  // for the code flow's token request
  std::vector<std::string> scopes{"openid", "profile", "email"};
  std::vector<std::string> audiences;  // more accepted aud values besides client_id
  std::string username_claim = "email";  // what a client must log in as
  std::string groups_claim = "groups";   // a dotted path into the claims (e.g. realm_access.roles)
  std::map<std::string, std::vector<std::string>, std::less<>> group_map;  // provider group -> Gatehouse groups
};

// A SAML 2.0 identity provider people sign in with (identity.saml[]); the gateway is its service provider, with
// entity ID <listeners.http.public_url>/api/auth/saml/<name> and its assertion consumer service at …/acs.
struct SamlProviderConfig {
  std::string where;
  std::string name;
  std::filesystem::path idp_metadata;  // the IdP's metadata XML (entity ID, signing certificate, SSO URL)
  std::string username_attribute;      // empty: the NameID
  std::string groups_attribute = "groups";
  std::map<std::string, std::vector<std::string>, std::less<>> group_map;
};

struct Config {
  std::filesystem::path source;    // the YAML file this came from
  std::filesystem::path data_dir;  // store, recordings, generated TLS certificate
  Listener postgres_listener{.address = "127.0.0.1", .port = 15432, .enabled = true};
  Listener http_listener{.address = "127.0.0.1", .port = 18080, .enabled = true};
  unsigned workers = 0;  // 0 = one per core
  std::filesystem::path tls_cert;  // empty: self-signed certificate generated in data_dir on first start
  std::filesystem::path tls_key;
  std::filesystem::path store_path;      // SQLite file; default data_dir/gatehouse.db
  std::filesystem::path recording_dir;   // append-only event logs; default data_dir/recordings
  bool recording_fsync = false;          // msync each group (survives power loss; SIGKILL-safe either way)
  uint64_t recording_segment_bytes = uint64_t{32} << 20;  // each event log segment, preallocated
  std::optional<SecretRef> master_key;   // key that unseals sealed_file secrets
  uint32_t startup_timeout_ms = 30000;
  uint32_t session_token_ttl_s = 900;    // identity.session_token_ttl_seconds: what POST /api/token hands out
  std::vector<OidcProviderConfig> oidc_providers;  // identity.oidc
  std::vector<SamlProviderConfig> saml_providers;  // identity.saml
  std::vector<PostgresConnection> connections;
  std::vector<Webhook> webhooks;  // notifications.webhooks

  const PostgresConnection* findConnection(std::string_view name) const;
};

// Loads and validates a config file. Relative paths are resolved against the file's directory.
Result<Config> loadConfig(const std::filesystem::path& path);
// Same, from YAML text (tests); `base` resolves relative paths.
Result<Config> parseConfig(const std::string& yaml, const std::filesystem::path& base);

}  // namespace gatehouse::core
