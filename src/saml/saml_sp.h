// A SAML 2.0 service provider for Web Browser SSO (saml-profiles §4.1): our metadata, AuthnRequests sent to
// the IdP by HTTP-Redirect, and the Response the IdP POSTs back to our AssertionConsumerService, checked
// before it names anyone. Lasso parses the XML and verifies the signatures with the IdP's key from its
// metadata; this class adds the checks that SAML leaves to the relying party (audience, recipient,
// destination, validity window, InResponseTo, replay) and reads the identity from the one assertion Lasso
// verified.
//
// Sans-I/O: the caller turns HTTP into these calls (the redirect to loginUrl(), the SAMLResponse form field
// to consume()) and passes the clock in. Thread-safe: one instance serves every worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace gatehouse::saml {

struct SpConfig {
  std::string entity_id;         // our SP entity ID, e.g. https://gw.example/api/auth/saml/corp
  std::string acs_url;           // our AssertionConsumerService URL (HTTP-POST binding)
  std::string idp_metadata_xml;  // the IdP's EntityDescriptor: its entity ID, signing certificate, SSO URL
  // Optional, together: sign our AuthnRequests with this key and publish the certificate in our metadata.
  // Needed when the IdP's metadata says WantAuthnRequestsSigned.
  std::string sp_cert_pem, sp_key_pem;
  std::string
      username_attribute;        // empty: the NameID is the username; else the first value of this attribute
  std::string groups_attribute;  // the attribute (its Name) whose values are the groups; empty: no groups
  // Provider group -> Gatehouse groups. Unmapped groups pass through; mapped names come in the order of the
  // provider's groups, duplicates dropped (the rule of identity/oidc.cpp).
  std::map<std::string, std::vector<std::string>> group_map;
};

struct SamlIdentity {
  std::string name_id;              // the Subject's NameID
  std::string username;             // the NameID, or the first value of username_attribute
  std::vector<std::string> groups;  // after the group map
  std::string assertion_id;
  std::string session_index;      // the AuthnStatement's SessionIndex (for single logout); empty if none
  int64_t not_on_or_after_s = 0;  // when the assertion itself expires (Conditions / SubjectConfirmationData)
  // The AuthnStatement's SessionNotOnOrAfter: how long the IdP lets a session built on it last; 0 if it says
  // not.
  int64_t session_not_on_or_after_s = 0;
};

// IDs with an expiry time, bounded: what is past its time goes first, then, when still full, what would
// expire soonest. Holds the AuthnRequests we issued and the assertions we accepted.
class ExpiringIds {
 public:
  explicit ExpiringIds(size_t capacity) : capacity_(capacity) {}
  bool contains(const std::string& id, int64_t now_s) const;
  void insert(const std::string& id, int64_t expires_s, int64_t now_s);
  void erase(const std::string& id);
  size_t size() const { return expiry_.size(); }

 private:
  void dropExpired(int64_t now_s);
  size_t capacity_;
  std::map<std::string, int64_t> expiry_;          // id -> expires at
  std::multimap<int64_t, std::string> by_expiry_;  // expires at -> id
};

class ServiceProvider {
 public:
  static constexpr int64_t kLeewayS = 60;            // clock skew allowed on NotBefore / NotOnOrAfter
  static constexpr int64_t kRequestLifetimeS = 600;  // how long an AuthnRequest ID waits for its Response
  static constexpr size_t kMaxPendingRequests = 10'000;
  static constexpr size_t kMaxSeenAssertions = 100'000;
  static constexpr size_t kMaxResponseBytes = 1 << 20;  // larger SAMLResponse fields are refused unparsed
  static constexpr size_t kMaxRelayStateBytes = 80;     // saml-bindings §3.4.3

  // Reads the IdP's metadata and our key; fails when either cannot be used.
  static Result<std::unique_ptr<ServiceProvider>> create(SpConfig config);
  ~ServiceProvider();
  ServiceProvider(const ServiceProvider&) = delete;
  ServiceProvider& operator=(const ServiceProvider&) = delete;

  // Our SP metadata (an EntityDescriptor with one HTTP-POST AssertionConsumerService), for the IdP's admin.
  std::string metadata() const { return metadata_; }
  const std::string& idpEntityId() const { return idp_entity_id_; }

  // The IdP's SSO URL carrying a new AuthnRequest (HTTP-Redirect binding: deflated, base64, signed when we
  // have a key) and `relay_state`. Its ID is remembered for kRequestLifetimeS, so that consume() accepts the
  // Response to it.
  Result<std::string> loginUrl(std::string_view relay_state);
  Result<std::string> loginUrl(std::string_view relay_state, int64_t now_s);

  // Checks the base64 SAMLResponse of an HTTP-POST to our ACS URL and returns who it names; the Error says
  // why it was refused (for the log; tell the browser less). The RelayState posted with it is the caller's
  // business.
  Result<SamlIdentity> consume(std::string_view saml_response_base64, int64_t now_s);

 private:
  struct Lasso;  // the LassoServer (our keys, the IdP's metadata), kept out of this header
  struct AuthnRequest {
    std::string url;  // the IdP's SSO URL with SAMLRequest (and RelayState, SigAlg, Signature)
    std::string id;
  };
  ServiceProvider(SpConfig config, std::string metadata, std::string idp_entity_id,
                  std::unique_ptr<Lasso> lasso);
  Result<AuthnRequest> buildAuthnRequest(std::string_view relay_state);  // under mu_

  const SpConfig config_;
  const std::string metadata_;
  const std::string idp_entity_id_;
  std::mutex mu_;  // Lasso and the two sets below
  std::unique_ptr<Lasso> lasso_;
  ExpiringIds pending_requests_{kMaxPendingRequests};
  ExpiringIds seen_assertions_{kMaxSeenAssertions};
};

}  // namespace gatehouse::saml
