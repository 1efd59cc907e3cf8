// OpenID Connect token verification: who a token from one of the configured providers says the caller is. Each
// provider's discovery document (issuer + /.well-known/openid-configuration) names its JWKS, whose keys are
// fetched, cached, refreshed on schedule, and refreshed early when a token names an unknown key id (at most once
// a minute, so that tokens with made-up key ids cannot make the gateway hammer the provider). Tokens must be signed
// with RS256, ES256 or EdDSA by a key of that type, for the provider's client (aud), and current (exp, nbf, iat,
// with a minute of leeway). The identity is the username claim; groups come from a dotted path into the claims,
// translated by the provider's group map.
//
// Verifying never fetches: a slow provider must not stall a gateway worker. Fetching is the job of one background
// thread (OidcProviders::runRefresher), which a token with an unknown key id wakes; the caller may wait for that
// refresh (refreshWanted) and verify again. Fetching a URL is a function given in, so the rules are tested on
// their own; the gateway gives one that speaks HTTPS. Thread-safe: sessions on every worker verify through one
// instance.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/result.h"
#include "identity/jws.h"

namespace gatehouse::identity {

// GET url: the body of a 200 answer, or an error.
using FetchUrl = std::function<Result<std::string>(const std::string& url)>;

struct OidcIdentity {
  std::string provider;  // the provider's name in the config
  std::string subject;   // sub
  std::string username;  // the username claim: what the client logs in as
  std::vector<std::string> groups;  // after the group map
  int64_t expires_at_s = 0;
  std::string nonce;  // for a client to match its own request
};

class OidcProvider {
 public:
  OidcProvider(core::OidcProviderConfig config, FetchUrl fetch);

  // Discovery and JWKS now. The keys in use stay until a fetch succeeds.
  Result<void> refresh(int64_t now_s);
  // Whether the refresher should fetch now: the keys were never fetched (retried every kRetryS), they are due
  // (every kScheduledRefreshS), or a token named an unknown key id.
  bool refreshDue(int64_t now_s) const;
  // A token named an unknown key id and a fetch is on its way: verifying it again after that may succeed.
  bool refreshWanted() const;
  // Called (outside the lock) when a token asks for a fetch; OidcProviders wakes its refresher with it.
  void setWakeup(std::function<void()> wakeup) { wakeup_ = std::move(wakeup); }

  // Verifies a token (an ID token, or a JWT access token for this client) with the keys at hand.
  Result<OidcIdentity> verify(std::string_view token, int64_t now_s);

  const core::OidcProviderConfig& config() const { return config_; }
  // From discovery; empty before the first successful refresh.
  std::string endpoint(std::string_view name) const;

  // How often the keys are fetched again anyway; at most how often an unknown key id makes them fetched; how
  // often a provider never reached is tried again.
  static constexpr int64_t kScheduledRefreshS = 3600;
  static constexpr int64_t kUnknownKidRefreshS = 60;
  static constexpr int64_t kRetryS = 10;

 private:
  using Keys = std::map<std::string, jws::Key, std::less<>>;
  // Discovery, then the JWKS's usable keys.
  Result<std::pair<boost::json::object, Keys>> fetchKeys() const;

  core::OidcProviderConfig config_;
  FetchUrl fetch_;
  std::function<void()> wakeup_;
  mutable std::mutex mu_;
  Keys keys_;  // by kid ("" for a key without one)
  boost::json::object discovery_;
  int64_t fetched_at_s_ = 0;    // last successful refresh
  int64_t attempted_at_s_ = 0;  // last attempt, successful or not
  bool kid_refresh_wanted_ = false;
};

// The values at a dotted path ("realm_access.roles") of the claims: an array of strings, or one string.
std::vector<std::string> claimStrings(const boost::json::object& claims, std::string_view dotted_path);

// The configured providers, found by a token's issuer.
class OidcProviders {
 public:
  void add(std::unique_ptr<OidcProvider> provider);
  bool empty() const { return providers_.empty(); }
  // The provider whose issuer the token's (unverified) iss names; null when none.
  OidcProvider* forToken(std::string_view token) const;
  OidcProvider* byName(std::string_view name) const;
  const std::vector<std::unique_ptr<OidcProvider>>& all() const { return providers_; }

  // The background refresher: fetches each provider's keys when due, woken early by a token with an unknown key
  // id, until stopped. Failures are logged once per change of state.
  void runRefresher(std::stop_token stop);

 private:
  std::vector<std::unique_ptr<OidcProvider>> providers_;
  std::mutex wake_mu_;
  std::condition_variable_any wake_;
  bool woken_ = false;
};

}  // namespace gatehouse::identity
