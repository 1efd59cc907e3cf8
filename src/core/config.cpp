// Loading gatehouse.yaml into core::Config, refusing anything ambiguous or unsafe (plain secrets).
#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

namespace gatehouse::core {
namespace {

namespace fs = std::filesystem;

// Errors carry the YAML path of the offending key so that an operator can find it.
struct ConfigError {
  std::string message;
};

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw ConfigError{fmt::format("{}: {}", where, what)};
}

std::string scalar(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) fail(where, "expected a string");
  return node.as<std::string>();
}

template <class T>
T number(const YAML::Node& node, const std::string& where, T min, T max) {
  if (!node.IsScalar()) fail(where, "expected a number");
  long long v = 0;
  try {
    v = node.as<long long>();
  } catch (const YAML::Exception&) {
    fail(where, fmt::format("'{}' is not a number", node.Scalar()));
  }
  if (v < static_cast<long long>(min) || v > static_cast<long long>(max))
    fail(where, fmt::format("{} is out of range [{}, {}]", v, min, max));
  return static_cast<T>(v);
}

// A number with an optional unit, scaled: `units` maps each unit to its scale ("" for none); `what` names the
// kind of value in errors ("a size such as 32MiB"); `range` says the accepted range in words.
struct Unit {
  std::string_view name;
  uint64_t scale;
};
uint64_t withUnit(const YAML::Node& node, const std::string& where, std::string_view what,
                  std::initializer_list<Unit> units, uint64_t min, uint64_t max, const std::string& range) {
  if (!node.IsScalar()) fail(where, fmt::format("expected {}", what));
  const std::string text = node.Scalar();
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [rest, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || rest == text.data()) fail(where, fmt::format("'{}' is not {}", text, what));
  const std::string_view unit(rest, static_cast<std::size_t>(end - rest));
  const auto u = std::find_if(units.begin(), units.end(), [&](const Unit& x) { return x.name == unit; });
  if (u == units.end()) {
    std::string known;
    for (const auto& x : units)
      if (!x.name.empty()) known += fmt::format("{}{}", known.empty() ? "" : ", ", x.name);
    fail(where, fmt::format("unknown unit '{}' in '{}' (use {})", unit, text, known));
  }
  if (value > max / u->scale || value * u->scale < min) fail(where, fmt::format("{} is out of range {}", text, range));
  return value * u->scale;
}

// A size in bytes: a number, or a number with a binary unit (KiB, MiB, GiB), e.g. 32MiB.
uint64_t byteSize(const YAML::Node& node, const std::string& where, uint64_t min, uint64_t max) {
  return withUnit(node, where, "a size such as 32MiB",
                  {{"", 1}, {"KiB", uint64_t{1} << 10}, {"MiB", uint64_t{1} << 20}, {"GiB", uint64_t{1} << 30}},
                  min, max, fmt::format("[{} KiB, {} MiB]", min >> 10, max >> 20));
}

bool boolean(const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar()) fail(where, "expected true or false");
  const std::string s = node.Scalar();
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  fail(where, fmt::format("'{}' is not true or false", s));
}

fs::path path(const YAML::Node& node, const std::string& where, const fs::path& base) {
  fs::path p = scalar(node, where);
  if (p.empty()) fail(where, "empty path");
  return p.is_absolute() ? p : (base / p).lexically_normal();
}

// Every mapping lists the keys it knows, so that a typo is an error rather than a silently ignored setting.
void onlyKeys(const YAML::Node& node, const std::string& where, std::initializer_list<std::string_view> keys) {
  if (!node.IsMap()) fail(where, "expected a mapping");
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    bool known = false;
    for (auto k : keys) known = known || key == k;
    if (!known) {
      std::string list;
      for (auto k : keys) list += fmt::format("{}{}", list.empty() ? "" : ", ", k);
      fail(where, fmt::format("unknown key '{}' (known: {})", key, list));
    }
  }
}

SecretRef secretRef(const YAML::Node& node, const std::string& where, const fs::path& base) {
  if (node.IsScalar())
    fail(where, "plain secrets are not allowed in the config; use {env: VARIABLE} or {sealed_file: PATH} "
                "(see `gatehouse secret seal`)");
  onlyKeys(node, where, {"env", "sealed_file"});
  SecretRef ref;
  if (node["env"]) ref.env = scalar(node["env"], where + ".env");
  if (node["sealed_file"]) ref.sealed_file = path(node["sealed_file"], where + ".sealed_file", base);
  if (ref.env.empty() == ref.sealed_file.empty()) fail(where, "give exactly one of env or sealed_file");
  return ref;
}

Listener listener(const YAML::Node& node, const std::string& where, Listener defaults, bool http) {
  if (http) onlyKeys(node, where, {"address", "port", "enabled", "tls", "public_url"});
  else onlyKeys(node, where, {"address", "port", "enabled"});
  if (node["address"]) defaults.address = scalar(node["address"], where + ".address");
  if (node["port"]) defaults.port = number<uint16_t>(node["port"], where + ".port", 0, 65535);
  if (node["enabled"]) defaults.enabled = boolean(node["enabled"], where + ".enabled");
  if (node["tls"]) defaults.tls = boolean(node["tls"], where + ".tls");
  if (node["public_url"]) {
    defaults.public_url = scalar(node["public_url"], where + ".public_url");
    while (defaults.public_url.ends_with('/')) defaults.public_url.pop_back();
    if (!defaults.public_url.starts_with("https://") && !defaults.public_url.starts_with("http://"))
      fail(where + ".public_url", "expected an http(s):// URL");
  }
  return defaults;
}

std::vector<std::string> stringList(const YAML::Node& node, const std::string& where) {
  std::vector<std::string> out;
  if (node.IsScalar()) {  // a single item may be written without brackets
    out.push_back(scalar(node, where));
    return out;
  }
  if (!node.IsSequence()) fail(where, "expected a list");
  for (std::size_t i = 0; i < node.size(); ++i) out.push_back(scalar(node[i], fmt::format("{}[{}]", where, i)));
  return out;
}

// A duration: seconds, or a number with s, m, h or d (90s, 10m, 1h, 7d).
uint32_t seconds(const YAML::Node& node, const std::string& where, uint32_t min, uint32_t max) {
  return static_cast<uint32_t>(withUnit(node, where, "a duration such as 10m",
                                        {{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}}, min, max,
                                        fmt::format("[{}s, {}s]", min, max)));
}

ReviewConfig reviewConfig(const YAML::Node& node, const std::string& where) {
  onlyKeys(node, where, {"approvers", "approvals", "mode", "timeout", "window"});
  ReviewConfig r;
  if (!node["approvers"]) fail(where, "a review needs 'approvers' (the groups that may approve)");
  r.approvers = stringList(node["approvers"], where + ".approvers");
  if (r.approvers.empty()) fail(where + ".approvers", "name at least one group");
  if (node["approvals"]) r.approvals = number<int>(node["approvals"], where + ".approvals", 1, 16);
  if (node["mode"]) {
    r.mode = scalar(node["mode"], where + ".mode");
    if (r.mode != "wait" && r.mode != "async") fail(where + ".mode", fmt::format("'{}' is not wait or async", r.mode));
  }
  if (node["timeout"]) r.timeout_s = seconds(node["timeout"], where + ".timeout", 1, 7 * 86400);
  if (node["window"]) r.window_s = seconds(node["window"], where + ".window", 1, 30 * 86400);
  return r;
}

std::string actionValue(const YAML::Node& node, const std::string& where) {
  const auto a = scalar(node, where);
  if (a != "allow" && a != "deny" && a != "review") fail(where, fmt::format("'{}' is not allow, deny or review", a));
  return a;
}

GuardrailsConfig guardrailsConfig(const YAML::Node& node, const std::string& where) {
  onlyKeys(node, where, {"default", "review", "rules"});
  GuardrailsConfig g;
  g.where = where;
  if (node["default"]) g.default_action = actionValue(node["default"], where + ".default");
  if (node["review"]) g.default_review = reviewConfig(node["review"], where + ".review");
  else if (g.default_action == "review") fail(where, "a default action of review needs 'review' settings");
  const auto rules = node["rules"];
  if (rules && !rules.IsSequence()) fail(where + ".rules", "expected a list");
  std::set<std::string> names;
  for (std::size_t i = 0; rules && i < rules.size(); ++i) {
    const auto r = rules[i];
    GuardrailRuleConfig rule;
    rule.where = fmt::format("{}.rules[{}]", where, i);
    onlyKeys(r, rule.where, {"name", "groups", "match", "action", "message", "review"});
    if (!r["name"]) fail(rule.where, "a rule needs a 'name' (it is shown to clients and in the audit)");
    rule.name = scalar(r["name"], rule.where + ".name");
    if (rule.name.empty() || rule.name == "default") fail(rule.where + ".name", "give the rule a name other than 'default'");
    if (!names.insert(rule.name).second) fail(rule.where + ".name", fmt::format("a second rule named '{}'", rule.name));
    if (r["groups"]) rule.groups = stringList(r["groups"], rule.where + ".groups");
    if (!r["action"]) fail(rule.where, "a rule needs an 'action' (allow, deny or review)");
    rule.action = actionValue(r["action"], rule.where + ".action");
    if (r["message"]) rule.message = scalar(r["message"], rule.where + ".message");
    if (const auto m = r["match"]) {
      const auto mw = rule.where + ".match";
      onlyKeys(m, mw, {"kind", "relations", "functions", "conditions"});
      if (m["kind"]) rule.kinds = stringList(m["kind"], mw + ".kind");
      if (m["relations"]) rule.relations = stringList(m["relations"], mw + ".relations");
      if (m["functions"]) rule.functions = stringList(m["functions"], mw + ".functions");
      if (m["conditions"]) rule.conditions = stringList(m["conditions"], mw + ".conditions");
    }
    if (rule.action == "review") {
      if (!r["review"]) fail(rule.where, "a review rule needs 'review' settings (approvers, mode...)");
      rule.review = reviewConfig(r["review"], rule.where + ".review");
    } else if (r["review"]) {
      fail(rule.where + ".review", "only a rule whose action is review takes review settings");
    }
    g.rules.push_back(std::move(rule));
  }
  return g;
}

MaskingConfig maskingConfig(const YAML::Node& node, const std::string& where, const fs::path& base) {
  onlyKeys(node, where, {"token_key", "detectors", "rules"});
  MaskingConfig m;
  m.where = where;
  if (node["token_key"]) m.token_key = secretRef(node["token_key"], where + ".token_key", base);
  const auto detectors = node["detectors"];
  if (detectors && !detectors.IsSequence()) fail(where + ".detectors", "expected a list");
  for (std::size_t i = 0; detectors && i < detectors.size(); ++i) {
    CustomDetectorConfig d;
    d.where = fmt::format("{}.detectors[{}]", where, i);
    onlyKeys(detectors[i], d.where, {"name", "pattern", "caseless"});
    if (!detectors[i]["name"] || !detectors[i]["pattern"]) fail(d.where, "a detector needs a 'name' and a 'pattern'");
    d.name = scalar(detectors[i]["name"], d.where + ".name");
    d.pattern = scalar(detectors[i]["pattern"], d.where + ".pattern");
    if (detectors[i]["caseless"]) d.caseless = boolean(detectors[i]["caseless"], d.where + ".caseless");
    m.detectors.push_back(std::move(d));
  }
  const auto rules = node["rules"];
  if (!rules || !rules.IsSequence() || rules.size() == 0) fail(where + ".rules", "masking needs a list of rules");
  std::set<std::string> names;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    const auto r = rules[i];
    MaskingRuleConfig rule;
    rule.where = fmt::format("{}.rules[{}]", where, i);
    onlyKeys(r, rule.where,
             {"name", "columns", "detectors", "style", "keep", "replacement", "groups", "except_groups"});
    if (!r["name"]) fail(rule.where, "a rule needs a 'name' (it is counted in the session's record)");
    rule.name = scalar(r["name"], rule.where + ".name");
    if (rule.name.empty()) fail(rule.where + ".name", "give the rule a name");
    if (!names.insert(rule.name).second) fail(rule.where + ".name", fmt::format("a second rule named '{}'", rule.name));
    if (r["columns"]) rule.columns = stringList(r["columns"], rule.where + ".columns");
    if (r["detectors"]) rule.detectors = stringList(r["detectors"], rule.where + ".detectors");
    if (rule.columns.empty() && rule.detectors.empty())
      fail(rule.where, "a rule needs 'columns', 'detectors' or both");
    if (r["style"]) rule.style = scalar(r["style"], rule.where + ".style");
    if (r["keep"]) rule.keep = number<int>(r["keep"], rule.where + ".keep", 0, 64);
    if (r["replacement"]) rule.replacement = scalar(r["replacement"], rule.where + ".replacement");
    if (r["groups"]) rule.groups = stringList(r["groups"], rule.where + ".groups");
    if (r["except_groups"]) rule.except_groups = stringList(r["except_groups"], rule.where + ".except_groups");
    m.rules.push_back(std::move(rule));
  }
  return m;
}

PostgresConnection postgresConnection(const YAML::Node& node, const std::string& where, const fs::path& base) {
  onlyKeys(node, where,
           {"name", "type", "host", "port", "database", "user", "password", "tls", "allow_groups",
            "connect_timeout_ms", "guardrails", "masking"});
  PostgresConnection c;
  c.name = scalar(node["name"], where + ".name");
  for (const auto required : {"host", "database", "user"})
    if (!node[required]) fail(where, fmt::format("connection '{}' needs '{}'", c.name, required));
  c.host = scalar(node["host"], where + ".host");
  if (node["port"]) c.port = number<uint16_t>(node["port"], where + ".port", 1, 65535);
  c.database = scalar(node["database"], where + ".database");
  c.user = scalar(node["user"], where + ".user");
  if (node["password"]) c.password = secretRef(node["password"], where + ".password", base);
  if (node["connect_timeout_ms"])
    c.connect_timeout_ms = number<uint32_t>(node["connect_timeout_ms"], where + ".connect_timeout_ms", 100, 600000);
  if (const auto tls = node["tls"]) {
    onlyKeys(tls, where + ".tls", {"mode", "ca", "server_name"});
    const std::string mode = tls["mode"] ? scalar(tls["mode"], where + ".tls.mode") : "disable";
    if (mode == "disable") c.tls = UpstreamTls::kDisable;
    else if (mode == "require") c.tls = UpstreamTls::kRequire;
    else if (mode == "verify-full") c.tls = UpstreamTls::kVerifyFull;
    else fail(where + ".tls.mode", fmt::format("'{}' is not one of disable, require, verify-full", mode));
    if (tls["ca"]) c.tls_ca = path(tls["ca"], where + ".tls.ca", base);
    if (tls["server_name"]) c.tls_server_name = scalar(tls["server_name"], where + ".tls.server_name");
  }
  if (c.tls_server_name.empty()) c.tls_server_name = c.host;
  const auto groups = node["allow_groups"];
  if (!groups || !groups.IsSequence() || groups.size() == 0)
    fail(where + ".allow_groups", fmt::format("connection '{}' must list the groups allowed to use it", c.name));
  for (std::size_t i = 0; i < groups.size(); ++i)
    c.allow_groups.push_back(scalar(groups[i], fmt::format("{}.allow_groups[{}]", where, i)));
  if (node["guardrails"]) c.guardrails = guardrailsConfig(node["guardrails"], where + ".guardrails");
  if (node["masking"]) c.masking = maskingConfig(node["masking"], where + ".masking", base);
  return c;
}

Config parse(const YAML::Node& root, const fs::path& base) {
  Config cfg;
  if (!root || root.IsNull()) fail("config", "the file is empty");
  onlyKeys(root, "config", {"data_dir", "listeners", "workers", "tls", "store", "recording", "vault",
                            "startup_timeout_ms", "connections", "notifications", "identity"});
  if (const auto n = root["notifications"]) {
    onlyKeys(n, "notifications", {"webhooks"});
    const auto hooks = n["webhooks"];
    if (hooks && !hooks.IsSequence()) fail("notifications.webhooks", "expected a list");
    for (std::size_t i = 0; hooks && i < hooks.size(); ++i) {
      const std::string where = fmt::format("notifications.webhooks[{}]", i);
      onlyKeys(hooks[i], where, {"url", "secret"});
      Webhook w;
      if (!hooks[i]["url"]) fail(where, "a webhook needs a 'url'");
      w.url = scalar(hooks[i]["url"], where + ".url");
      if (!w.url.starts_with("http://") && !w.url.starts_with("https://"))
        fail(where + ".url", fmt::format("'{}' is not an http:// or https:// URL", w.url));
      if (hooks[i]["secret"]) w.secret = secretRef(hooks[i]["secret"], where + ".secret", base);
      cfg.webhooks.push_back(std::move(w));
    }
  }
  cfg.data_dir = root["data_dir"] ? path(root["data_dir"], "data_dir", base) : (base / "gatehouse-data");
  if (const auto l = root["listeners"]) {
    onlyKeys(l, "listeners", {"postgres", "http"});
    if (l["postgres"]) cfg.postgres_listener = listener(l["postgres"], "listeners.postgres", cfg.postgres_listener, false);
    if (l["http"]) cfg.http_listener = listener(l["http"], "listeners.http", cfg.http_listener, true);
  }
  if (root["workers"]) cfg.workers = number<unsigned>(root["workers"], "workers", 0, 256);
  if (const auto tls = root["tls"]) {
    onlyKeys(tls, "tls", {"cert", "key"});
    if (tls["cert"]) cfg.tls_cert = path(tls["cert"], "tls.cert", base);
    if (tls["key"]) cfg.tls_key = path(tls["key"], "tls.key", base);
    if (cfg.tls_cert.empty() != cfg.tls_key.empty()) fail("tls", "give both cert and key, or neither");
  }
  cfg.store_path = cfg.data_dir / "gatehouse.db";
  if (const auto s = root["store"]) {
    std::string value = scalar(s, "store");
    constexpr std::string_view kSqlite = "sqlite://";
    if (value.starts_with(kSqlite)) value = value.substr(kSqlite.size());
    else if (value.find("://") != std::string::npos)
      fail("store", fmt::format("'{}' is not supported yet; use a SQLite file path", value));
    cfg.store_path = fs::path(value).is_absolute() ? fs::path(value) : base / value;
  }
  cfg.recording_dir = cfg.data_dir / "recordings";
  if (const auto r = root["recording"]) {
    onlyKeys(r, "recording", {"dir", "fsync", "segment_size"});
    if (r["dir"]) cfg.recording_dir = path(r["dir"], "recording.dir", base);
    if (r["fsync"]) cfg.recording_fsync = boolean(r["fsync"], "recording.fsync");
    if (r["segment_size"])
      cfg.recording_segment_bytes = byteSize(r["segment_size"], "recording.segment_size", uint64_t{64} << 10,
                                             uint64_t{1} << 30);
  }
  if (const auto v = root["vault"]) {
    onlyKeys(v, "vault", {"master_key"});
    if (v["master_key"]) {
      const auto mk = v["master_key"];
      if (mk.IsScalar()) fail("vault.master_key", "use {env: VARIABLE} or {file: PATH}, not the key itself");
      onlyKeys(mk, "vault.master_key", {"env", "file"});
      SecretRef ref;
      if (mk["env"]) ref.env = scalar(mk["env"], "vault.master_key.env");
      if (mk["file"]) ref.sealed_file = path(mk["file"], "vault.master_key.file", base);
      if (ref.env.empty() == ref.sealed_file.empty()) fail("vault.master_key", "give exactly one of env or file");
      cfg.master_key = ref;
    }
  }
  if (const auto id = root["identity"]) {
    onlyKeys(id, "identity", {"session_token_ttl_seconds", "oidc", "saml"});
    const auto saml = id["saml"];
    if (saml && !saml.IsSequence()) fail("identity.saml", "expected a list of identity providers");
    for (std::size_t i = 0; saml && i < saml.size(); ++i) {
      const auto& n = saml[i];
      SamlProviderConfig p;
      p.where = fmt::format("identity.saml[{}]", i);
      onlyKeys(n, p.where, {"name", "idp_metadata", "username_attribute", "groups_attribute", "group_map"});
      if (!n["name"] || !n["idp_metadata"]) fail(p.where, "name and idp_metadata are required");
      p.name = scalar(n["name"], p.where + ".name");
      p.where = "identity.saml[" + p.name + "]";
      for (char c : p.name)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_')
          fail(p.where + ".name", "letters, digits, - and _ only (it is part of URLs)");
      p.idp_metadata = path(n["idp_metadata"], p.where + ".idp_metadata", base);
      if (n["username_attribute"]) p.username_attribute = scalar(n["username_attribute"], p.where + ".username_attribute");
      if (n["groups_attribute"]) p.groups_attribute = scalar(n["groups_attribute"], p.where + ".groups_attribute");
      if (const auto gm = n["group_map"]) {
        if (!gm.IsMap()) fail(p.where + ".group_map", "expected a mapping of provider group to Gatehouse groups");
        for (const auto& kv : gm) {
          const auto from = kv.first.as<std::string>();
          p.group_map[from] = stringList(kv.second, p.where + ".group_map." + from);
        }
      }
      for (const auto& other : cfg.saml_providers)
        if (other.name == p.name) fail(p.where, "two SAML providers with the same name");
      cfg.saml_providers.push_back(std::move(p));
    }
    // The service provider's entity ID and ACS URL are absolute URLs the IdP is configured with: they cannot come
    // from a request's Host header.
    if (!cfg.saml_providers.empty() && !cfg.http_listener.public_url.starts_with("https://"))
      fail("identity.saml", "needs listeners.http.public_url, the https:// URL browsers reach the gateway's API at");
    const auto oidc = id["oidc"];
    if (oidc && !oidc.IsSequence()) fail("identity.oidc", "expected a list of providers");
    for (std::size_t i = 0; oidc && i < oidc.size(); ++i) {
      const auto& n = oidc[i];
      OidcProviderConfig p;
      p.where = fmt::format("identity.oidc[{}]", i);
      onlyKeys(n, p.where, {"name", "issuer", "client_id", "cli_client_id", "client_secret", "scopes", "audiences",
                            "username_claim", "groups_claim", "group_map"});
      if (!n["name"] || !n["issuer"] || !n["client_id"]) fail(p.where, "name, issuer and client_id are required");
      p.name = scalar(n["name"], p.where + ".name");
      p.where = "identity.oidc[" + p.name + "]";
      p.issuer = scalar(n["issuer"], p.where + ".issuer");
      if (!p.issuer.starts_with("https://") && !p.issuer.starts_with("http://127.0.0.1") &&
          !p.issuer.starts_with("http://localhost"))
        fail(p.where + ".issuer", "an issuer is an https:// URL (http:// only on the loopback, for tests)");
      p.client_id = scalar(n["client_id"], p.where + ".client_id");
      p.cli_client_id = n["cli_client_id"] ? scalar(n["cli_client_id"], p.where + ".cli_client_id") : p.client_id;
      if (n["client_secret"]) p.client_secret = secretRef(n["client_secret"], p.where + ".client_secret", base);
      if (n["scopes"]) p.scopes = stringList(n["scopes"], p.where + ".scopes");
      if (n["audiences"]) p.audiences = stringList(n["audiences"], p.where + ".audiences");
      if (n["username_claim"]) p.username_claim = scalar(n["username_claim"], p.where + ".username_claim");
      if (n["groups_claim"]) p.groups_claim = scalar(n["groups_claim"], p.where + ".groups_claim");
      if (const auto gm = n["group_map"]) {
        if (!gm.IsMap()) fail(p.where + ".group_map", "expected a mapping of provider group to Gatehouse groups");
        for (const auto& kv : gm) {
          const auto from = kv.first.as<std::string>();
          p.group_map[from] = stringList(kv.second, p.where + ".group_map." + from);
        }
      }
      for (const auto& other : cfg.oidc_providers)
        if (other.name == p.name || other.issuer == p.issuer)
          fail(p.where, "two providers with the same name or issuer");
      cfg.oidc_providers.push_back(std::move(p));
    }
    if (id["session_token_ttl_seconds"])
      cfg.session_token_ttl_s =
          number<uint32_t>(id["session_token_ttl_seconds"], "identity.session_token_ttl_seconds", 60, 86400);
  }
  if (root["startup_timeout_ms"])
    cfg.startup_timeout_ms = number<uint32_t>(root["startup_timeout_ms"], "startup_timeout_ms", 100, 600000);

  const auto conns = root["connections"];
  if (conns && !conns.IsSequence()) fail("connections", "expected a list");
  std::set<std::string> names;
  for (std::size_t i = 0; conns && i < conns.size(); ++i) {
    const std::string where = fmt::format("connections[{}]", i);
    const auto node = conns[i];
    if (!node.IsMap() || !node["name"]) fail(where, "a connection needs a name");
    const std::string type = node["type"] ? scalar(node["type"], where + ".type") : "";
    if (type != "postgres") fail(where + ".type", fmt::format("'{}' is not a supported type (postgres)", type));
    auto c = postgresConnection(node, where, base);
    if (!names.insert(c.name).second) fail(where + ".name", fmt::format("'{}' is defined twice", c.name));
    cfg.connections.push_back(std::move(c));
  }
  return cfg;
}

}  // namespace

const PostgresConnection* Config::findConnection(std::string_view name) const {
  for (const auto& c : connections)
    if (c.name == name) return &c;
  return nullptr;
}

Result<Config> parseConfig(const std::string& yaml, const fs::path& base) {
  // yaml-cpp reports errors by exception; they stop here and become values.
  try {
    return parse(YAML::Load(yaml), base);
  } catch (const ConfigError& e) {
    return makeError(e.message);
  } catch (const YAML::Exception& e) {
    return makeError(fmt::format("YAML error at line {}, column {}: {}", e.mark.line + 1, e.mark.column + 1, e.msg));
  }
}

Result<Config> loadConfig(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return makeError(fmt::format("cannot read config file {}", file.string()));
  std::stringstream text;
  text << in.rdbuf();
  auto base = fs::absolute(file).parent_path();
  auto cfg = parseConfig(text.str(), base);
  if (!cfg) return makeError(fmt::format("{}: {}", file.string(), cfg.error().message));
  cfg->source = fs::absolute(file);
  return cfg;
}

}  // namespace gatehouse::core
