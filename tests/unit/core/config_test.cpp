// Config loading: valid files, and every kind of mistake an operator makes gets a message naming the key.
#include "core/config.h"

#include <gtest/gtest.h>

namespace gatehouse::core {
namespace {

const char* kValid = R"(
data_dir: data
listeners:
  postgres: { address: 127.0.0.1, port: 15432 }
  http: { port: 0 }
workers: 2
recording: { fsync: true, segment_size: 8MiB }
connections:
  - name: pg-prod
    type: postgres
    host: db.internal
    port: 5433
    database: app
    user: gatehouse
    password: { env: PG_PROD_PASSWORD }
    tls: { mode: verify-full, ca: ca.pem }
    allow_groups: [dev, dba]
  - name: pg-trust
    type: postgres
    host: 127.0.0.1
    database: app
    user: app
    allow_groups: [dev]
)";

TEST(Config, ParsesAValidFile) {
  auto cfg = parseConfig(kValid, "/etc/gatehouse");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->data_dir, "/etc/gatehouse/data");
  EXPECT_EQ(cfg->store_path, "/etc/gatehouse/data/gatehouse.db");
  EXPECT_EQ(cfg->recording_dir, "/etc/gatehouse/data/recordings");
  EXPECT_TRUE(cfg->recording_fsync);
  EXPECT_EQ(cfg->recording_segment_bytes, uint64_t{8} << 20);
  EXPECT_EQ(cfg->postgres_listener.port, 15432);
  EXPECT_EQ(cfg->http_listener.port, 0);
  EXPECT_EQ(cfg->http_listener.address, "127.0.0.1");
  EXPECT_EQ(cfg->workers, 2u);
  ASSERT_EQ(cfg->connections.size(), 2u);
  const auto* prod = cfg->findConnection("pg-prod");
  ASSERT_NE(prod, nullptr);
  EXPECT_EQ(prod->host, "db.internal");
  EXPECT_EQ(prod->port, 5433);
  ASSERT_TRUE(prod->password.has_value());
  EXPECT_EQ(prod->password->env, "PG_PROD_PASSWORD");
  EXPECT_EQ(prod->tls, UpstreamTls::kVerifyFull);
  EXPECT_EQ(prod->tls_ca, "/etc/gatehouse/ca.pem");
  EXPECT_EQ(prod->tls_server_name, "db.internal");
  EXPECT_EQ(prod->allow_groups, (std::vector<std::string>{"dev", "dba"}));
  const auto* trust = cfg->findConnection("pg-trust");
  ASSERT_NE(trust, nullptr);
  EXPECT_FALSE(trust->password.has_value());
  EXPECT_EQ(trust->port, 5432);
  EXPECT_EQ(cfg->findConnection("nope"), nullptr);
}

struct BadCase {
  const char* yaml;
  const char* expected;  // a part of the message
};

class ConfigErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrors, NamesTheProblem) {
  auto cfg = parseConfig(GetParam().yaml, "/base");
  ASSERT_FALSE(cfg) << "accepted: " << GetParam().yaml;
  EXPECT_NE(cfg.error().message.find(GetParam().expected), std::string::npos) << cfg.error().message;
}


INSTANTIATE_TEST_SUITE_P(
    All, ConfigErrors,
    ::testing::Values(
        BadCase{"", "empty"},
        BadCase{"listners: {}", "unknown key 'listners'"},
        BadCase{"listeners: {postgres: {port: 70000}}", "listeners.postgres.port"},
        BadCase{"listeners: {postgres: {port: abc}}", "not a number"},
        BadCase{"workers: -1", "workers"},
        BadCase{"tls: {cert: a.pem}", "both cert and key"},
        BadCase{"store: postgres://x", "not supported yet"},
        BadCase{"connections: {a: 1}", "expected a list"},
        BadCase{"connections:\n  - {type: postgres}", "needs a name"},
        BadCase{"connections:\n  - {name: a, type: mysql}", "not a supported type"},
        BadCase{"connections:\n  - {name: a, type: postgres, database: d, user: u, allow_groups: [x]}", "needs 'host'"},
        BadCase{"connections:\n  - {name: a, type: postgres, host: h, database: d, user: u, allow_groups: [x], "
                "password: hunter2}", "plain secrets are not allowed"},
        BadCase{"connections:\n  - {name: a, type: postgres, host: h, database: d, user: u, allow_groups: [x], "
                "password: {env: A, sealed_file: b}}", "exactly one"},
        BadCase{"connections:\n  - {name: a, type: postgres, host: h, database: d, user: u, allow_groups: [x], "
                "tls: {mode: prefer}}", "not one of disable"},
        BadCase{"connections:\n  - {name: a, type: postgres, host: h, database: d, user: u}", "allow_groups"},
        BadCase{"connections:\n  - {name: a, type: postgres, host: h, database: d, user: u, allow_groups: [x]}\n"
                "  - {name: a, type: postgres, host: h, database: d, user: u, allow_groups: [x]}", "defined twice"},
        BadCase{"vault: {master_key: abcdef}", "not the key itself"},
        BadCase{"recording: {segment_size: 1KiB}", "recording.segment_size: 1KiB is out of range"},
        BadCase{"recording: {segment_size: 2GiB}", "out of range"},
        BadCase{"recording: {segment_size: 32MB}", "unknown unit 'MB'"},
        BadCase{"recording: {segment_size: lots}", "not a size"},
        BadCase{"notifications: {webhooks: [{url: ftp://x}]}", "notifications.webhooks[0].url: 'ftp://x' is not an http"},
        BadCase{"notifications: {webhooks: [{secret: {env: S}}]}", "a webhook needs a 'url'"},
        BadCase{"notifications: {webhooks: [{url: 'http://h/x', secret: hunter2}]}", "plain secrets are not allowed"},
        BadCase{"notifications: {email: [a]}", "unknown key 'email'"},
        BadCase{"identity: {oidc: [{name: a, issuer: 'http://idp.example.com', client_id: c}]}", "https://"},
        BadCase{"identity: {oidc: [{name: a, issuer: 'https://i'}]}", "client_id are required"},
        BadCase{"identity: {oidc: [{name: a, issuer: 'https://i', client_id: c, client_secret: s3cret}]}",
                "plain secrets are not allowed"},
        BadCase{"identity: {oidc: [{name: a, issuer: 'https://i', client_id: c}, "
                "{name: a, issuer: 'https://j', client_id: c}]}", "same name or issuer"},
        BadCase{"identity: {oidc: [{name: a, issuer: 'https://i', client_id: c, group_map: [x]}]}", "group_map"},
        BadCase{"identity: {session_token_ttl_seconds: 5}", "out of range"},
        BadCase{"identity: {saml: {}}", "identity.saml: expected a list"},
        BadCase{"identity: {saml: [{name: corp, idp_metadata: idp.xml}]}", "needs listeners.http.public_url"},
        BadCase{"identity: {saml: [{name: 'a/b', idp_metadata: idp.xml}]}", "part of URLs"},
        BadCase{"identity: {saml: [{name: corp}]}", "idp_metadata are required"},
        BadCase{"listeners: [1, 2", "YAML error"}));

TEST(Config, OidcProvidersAreRead) {
  auto cfg = parseConfig(R"(
identity:
  session_token_ttl_seconds: 600
  oidc:
    - name: corp
      issuer: https://login.example.com/realms/corp
      client_id: gatehouse
      client_secret: { env: OIDC_SECRET }
      groups_claim: realm_access.roles
      group_map: { db-admins: [dba, oncall], readers: viewer }
    - name: local
      issuer: http://127.0.0.1:9400
      client_id: test
      cli_client_id: test-cli
)",
                         "/base");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->session_token_ttl_s, 600u);
  ASSERT_EQ(cfg->oidc_providers.size(), 2u);
  const auto& p = cfg->oidc_providers[0];
  EXPECT_EQ(p.name, "corp");
  EXPECT_EQ(p.client_secret->env, "OIDC_SECRET");
  EXPECT_EQ(p.scopes, (std::vector<std::string>{"openid", "profile", "email"}));
  EXPECT_EQ(p.username_claim, "email");
  EXPECT_EQ(p.groups_claim, "realm_access.roles");
  EXPECT_EQ(p.group_map.at("db-admins"), (std::vector<std::string>{"dba", "oncall"}));
  EXPECT_EQ(p.group_map.at("readers"), (std::vector<std::string>{"viewer"}));
  EXPECT_EQ(cfg->oidc_providers[1].groups_claim, "groups");
  EXPECT_EQ(p.cli_client_id, "gatehouse") << "the web client's id when none is named";
  EXPECT_EQ(cfg->oidc_providers[1].cli_client_id, "test-cli");
}

TEST(Config, SamlProvidersAreRead) {
  auto cfg = parseConfig(R"(
listeners:
  http: { tls: true, public_url: https://gw.example.com }
identity:
  saml:
    - name: corp
      idp_metadata: idp.xml
      username_attribute: uid
      group_map: { db-admins: [dev, oncall] }
)",
                         "/base");
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_EQ(cfg->saml_providers.size(), 1u);
  const auto& p = cfg->saml_providers[0];
  EXPECT_EQ(p.name, "corp");
  EXPECT_EQ(p.idp_metadata, std::filesystem::path("/base/idp.xml"));
  EXPECT_EQ(p.username_attribute, "uid");
  EXPECT_EQ(p.groups_attribute, "groups");
  EXPECT_EQ(p.group_map.at("db-admins"), (std::vector<std::string>{"dev", "oncall"}));
}

TEST(Config, TheHttpListenerMayServeHttpsAndNameItsPublicUrl) {
  auto cfg = parseConfig("listeners:\n  http: { port: 8443, tls: true, public_url: https://gw.example.com/ }\n", "/base");
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_TRUE(cfg->http_listener.tls);
  EXPECT_EQ(cfg->http_listener.public_url, "https://gw.example.com");
  EXPECT_FALSE(cfg->postgres_listener.tls);
  auto bad = parseConfig("listeners:\n  http: { public_url: gw.example.com }\n", "/base");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("listeners.http.public_url"), std::string::npos);
  auto pg = parseConfig("listeners:\n  postgres: { tls: true }\n", "/base");
  ASSERT_FALSE(pg) << "the PostgreSQL listener negotiates TLS in the protocol; it has no such key";
}

TEST(Config, WebhooksAreRead) {
  auto cfg = parseConfig("notifications:\n  webhooks:\n    - url: https://hooks.example.com/gh\n"
                         "      secret: { env: HOOK_SECRET }\n    - url: http://127.0.0.1:9000/\n",
                         "/base");
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_EQ(cfg->webhooks.size(), 2u);
  EXPECT_EQ(cfg->webhooks[0].url, "https://hooks.example.com/gh");
  ASSERT_TRUE(cfg->webhooks[0].secret);
  EXPECT_EQ(cfg->webhooks[0].secret->env, "HOOK_SECRET");
  EXPECT_FALSE(cfg->webhooks[1].secret);
}

TEST(Config, SizesTakeBinaryUnitsOrBytes) {
  for (const auto& [text, bytes] : std::vector<std::pair<std::string, uint64_t>>{
           {"65536", 65536}, {"64KiB", 65536}, {"32MiB", uint64_t{32} << 20}, {"1GiB", uint64_t{1} << 30}}) {
    auto cfg = parseConfig("recording: {segment_size: " + text + "}", "/x");
    ASSERT_TRUE(cfg) << text << ": " << cfg.error().message;
    EXPECT_EQ(cfg->recording_segment_bytes, bytes) << text;
  }
  auto defaults = parseConfig("workers: 1", "/x");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->recording_segment_bytes, uint64_t{32} << 20);
}

TEST(Config, MissingFileIsAnError) {
  auto cfg = loadConfig("/nonexistent/gatehouse.yaml");
  ASSERT_FALSE(cfg);
  EXPECT_NE(cfg.error().message.find("cannot read"), std::string::npos);
}

}  // namespace
}  // namespace gatehouse::core
