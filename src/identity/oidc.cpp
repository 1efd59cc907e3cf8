// OpenID Connect token verification; see oidc.h.
#include "identity/oidc.h"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

namespace gatehouse::identity {

namespace json = boost::json;

namespace {

constexpr int64_t kLeewayS = 60;

Result<json::object> parseObject(const std::string& body, std::string_view what) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return makeError(std::string(what) + " is not a JSON object");
  return std::move(v.as_object());
}

std::string stringAt(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

std::vector<std::string> claimStrings(const json::object& claims, std::string_view dotted_path) {
  const json::value* at = nullptr;
  const json::object* in = &claims;
  for (std::size_t from = 0; in;) {
    const auto dot = dotted_path.find('.', from);
    const auto part = dotted_path.substr(from, dot == std::string_view::npos ? std::string_view::npos : dot - from);
    at = in->if_contains(part);
    if (!at || dot == std::string_view::npos) break;
    in = at->if_object();
    from = dot + 1;
    at = nullptr;
  }
  std::vector<std::string> out;
  if (!at) return out;
  if (at->is_string()) out.emplace_back(at->as_string());
  if (const auto* arr = at->if_array())
    for (const auto& item : *arr)
      if (item.is_string()) out.emplace_back(item.as_string());
  return out;
}

OidcProvider::OidcProvider(core::OidcProviderConfig config, FetchUrl fetch)
    : config_(std::move(config)), fetch_(std::move(fetch)) {}

std::string OidcProvider::endpoint(std::string_view name) const {
  std::lock_guard lock(mu_);
  return stringAt(discovery_, name);
}

Result<void> OidcProvider::refresh(int64_t now_s) {
  // Fetched without the lock: tokens keep being verified with the keys at hand meanwhile.
  auto fetched = fetchKeys();
  std::lock_guard lock(mu_);
  attempted_at_s_ = now_s;
  kid_refresh_wanted_ = false;
  if (!fetched) return fetched.error();
  discovery_ = std::move(fetched->first);
  keys_ = std::move(fetched->second);
  fetched_at_s_ = now_s;
  return {};
}

Result<std::pair<json::object, OidcProvider::Keys>> OidcProvider::fetchKeys() const {
  std::string base = config_.issuer;
  while (base.ends_with('/')) base.pop_back();
  auto body = fetch_(base + "/.well-known/openid-configuration");
  if (!body) return makeError("discovery: " + body.error().message);
  auto discovery = parseObject(*body, "the discovery document");
  if (!discovery) return discovery.error();
  // OpenID Connect Discovery 1.0 §4.3: the document's issuer must be the one configured, exactly.
  if (stringAt(*discovery, "issuer") != config_.issuer)
    return makeError("discovery: the document's issuer '" + stringAt(*discovery, "issuer") +
                     "' is not the configured '" + config_.issuer + "'");
  const auto jwks_uri = stringAt(*discovery, "jwks_uri");
  if (jwks_uri.empty()) return makeError("discovery: no jwks_uri");
  auto jwks_body = fetch_(jwks_uri);
  if (!jwks_body) return makeError("JWKS: " + jwks_body.error().message);
  auto jwks = parseObject(*jwks_body, "the JWKS");
  if (!jwks) return jwks.error();
  const auto* list = jwks->if_contains("keys");
  if (!list || !list->is_array()) return makeError("JWKS: no keys array");
  Keys keys;
  for (const auto& k : list->as_array()) {
    if (!k.is_object()) continue;
    // Keys of other types or uses (encryption keys, RS512...) are skipped, not fatal: a provider may publish them.
    auto key = jws::Key::fromJwk(k.as_object());
    if (!key) continue;
    keys.insert_or_assign(key->kid(), std::move(*key));
  }
  if (keys.empty()) return makeError("JWKS: no usable signing key (RS256, ES256 or EdDSA)");
  return std::pair{std::move(*discovery), std::move(keys)};
}

bool OidcProvider::refreshDue(int64_t now_s) const {
  std::lock_guard lock(mu_);
  if (kid_refresh_wanted_) return true;
  if (keys_.empty()) return attempted_at_s_ == 0 || now_s - attempted_at_s_ >= kRetryS;
  return now_s - fetched_at_s_ >= kScheduledRefreshS && now_s - attempted_at_s_ >= kUnknownKidRefreshS;
}

bool OidcProvider::refreshWanted() const {
  std::lock_guard lock(mu_);
  return kid_refresh_wanted_;
}

Result<OidcIdentity> OidcProvider::verify(std::string_view token, int64_t now_s) {
  auto parsed = jws::parse(token);
  if (!parsed) return parsed.error();
  const auto kid = jws::kidOf(*parsed);
  std::optional<jws::Key> key;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (keys_.empty()) return makeError("the provider's keys have not been fetched (is it reachable?)");
    auto it = keys_.find(kid);
    // A provider with one key may leave kid out of its tokens.
    if (it == keys_.end() && kid.empty() && keys_.size() == 1) it = keys_.begin();
    if (it != keys_.end()) {
      key = it->second;
    } else if (!kid_refresh_wanted_ && now_s - attempted_at_s_ >= kUnknownKidRefreshS) {
      // Perhaps the provider rotated its keys: ask the refresher, at most once a minute.
      kid_refresh_wanted_ = wake = true;
    }
  }
  if (!key) {
    if (wake && wakeup_) wakeup_();
    return makeError("unknown key id '" + kid + "' (not in the provider's JWKS)");
  }
  if (auto r = jws::verify(*parsed, *key); !r) return r.error();
  std::vector<std::string> audiences{config_.client_id};
  if (!config_.cli_client_id.empty() && config_.cli_client_id != config_.client_id)
    audiences.push_back(config_.cli_client_id);
  audiences.insert(audiences.end(), config_.audiences.begin(), config_.audiences.end());
  const jws::ClaimRules rules{.issuer = config_.issuer,
                              .audiences = audiences,
                              .now_s = now_s,
                              .leeway_s = kLeewayS,
                              .require_exp = true,
                              .max_lifetime_s = 0};
  if (auto r = jws::checkClaims(parsed->claims, rules); !r) return r.error();
  OidcIdentity out;
  out.provider = config_.name;
  out.subject = stringAt(parsed->claims, "sub");
  const auto names = claimStrings(parsed->claims, config_.username_claim);
  if (names.size() != 1 || names.front().empty())
    return makeError("the token has no '" + config_.username_claim + "' claim to name the user");
  out.username = names.front();
  for (const auto& g : claimStrings(parsed->claims, config_.groups_claim)) {
    const auto mapped = config_.group_map.find(g);
    const auto& into = mapped != config_.group_map.end() ? mapped->second : std::vector<std::string>{g};
    for (const auto& name : into)
      if (std::find(out.groups.begin(), out.groups.end(), name) == out.groups.end()) out.groups.push_back(name);
  }
  const auto* exp = parsed->claims.if_contains("exp");
  out.expires_at_s = exp && exp->is_int64() ? exp->as_int64() : 0;
  out.nonce = stringAt(parsed->claims, "nonce");
  return out;
}

void OidcProviders::add(std::unique_ptr<OidcProvider> provider) {
  provider->setWakeup([this] {
    {
      std::lock_guard lock(wake_mu_);
      woken_ = true;
    }
    wake_.notify_all();
  });
  providers_.push_back(std::move(provider));
}

OidcProvider* OidcProviders::forToken(std::string_view token) const {
  auto parsed = jws::parse(token);
  if (!parsed) return nullptr;
  const auto iss = stringAt(parsed->claims, "iss");
  for (const auto& p : providers_)
    if (p->config().issuer == iss) return p.get();
  return nullptr;
}

OidcProvider* OidcProviders::byName(std::string_view name) const {
  for (const auto& p : providers_)
    if (p->config().name == name) return p.get();
  return nullptr;
}

}  // namespace gatehouse::identity

namespace gatehouse::identity {

void OidcProviders::runRefresher(std::stop_token stop) {
  std::map<const OidcProvider*, bool> failing;
  while (!stop.stop_requested()) {
    const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    for (const auto& p : providers_) {
      if (!p->refreshDue(now_s)) continue;
      auto r = p->refresh(now_s);
      bool& was_failing = failing[p.get()];
      if (!r && !was_failing)
        spdlog::warn("oidc {}: cannot fetch the provider's keys (its tokens are refused until it can): {}",
                     p->config().name, r.error().message);
      if (r && was_failing) spdlog::info("oidc {}: the provider's keys are fetched again", p->config().name);
      if (r) spdlog::debug("oidc {}: keys fetched", p->config().name);
      was_failing = !r;
    }
    std::unique_lock lock(wake_mu_);
    wake_.wait_for(lock, stop, std::chrono::seconds(1), [this] { return woken_; });
    woken_ = false;
  }
}

}  // namespace gatehouse::identity
