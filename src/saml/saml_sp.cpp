// The SAML 2.0 service provider (see saml_sp.h).
//
// Why Lasso: the issue asks for it, and it is the SAML library Debian maintains (liblasso3, by Entr'ouvert,
// with security fixes backported to stable). XML signatures are where SAML implementations fail — signature
// wrapping, comments that cut a NameID short, keys taken from the message — and Lasso verifies them with
// xmlsec against the IdP's key from its metadata only, refuses DTDs, and requires each signature to cover the
// very element that carries it. What Lasso does and what this file adds:
//
//   Lasso (lasso_login_process_authn_response_msg)       this file, on the assertion Lasso verified
//   - parses the base64 HTTP-POST message, no DTD        - exactly one assertion, none encrypted
//   - Response Issuer is the IdP we know                 - Response Destination and Recipient are our ACS URL
//   - status Success                                     - Audience is our entity ID
//   - signature: the Response's if present (then it      - NotBefore / NotOnOrAfter with kLeewayS
//     covers the assertions), else every assertion's     - InResponseTo names an AuthnRequest we issued
//   - each assertion's Issuer is the Response's          - the assertion ID is not replayed
//
// Lasso checks InResponseTo and replay only with state it keeps in a LassoLogin / LassoSession across the
// request and the response; we keep our own (bounded, expiring) instead and use a fresh LassoLogin per call.
#include "saml/saml_sp.h"

// libxml2 first: <lasso/lasso.h> wraps everything it includes in extern "C", ICU's C++ templates from
// libxml2's encoding.h too, unless libxml2 is already in; and <lasso/errors.h> must come after it, having no
// extern "C".
// clang-format off
#include <glib-object.h>
#include <glib.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include <lasso/lasso.h>

#include <lasso/debug.h>
#include <lasso/errors.h>
#include <lasso/xml/misc_text_node.h>
#include <lasso/xml/saml-2.0/saml2_assertion.h>
#include <lasso/xml/saml-2.0/saml2_attribute.h>
#include <lasso/xml/saml-2.0/saml2_attribute_statement.h>
#include <lasso/xml/saml-2.0/saml2_attribute_value.h>
#include <lasso/xml/saml-2.0/saml2_audience_restriction.h>
#include <lasso/xml/saml-2.0/saml2_authn_statement.h>
#include <lasso/xml/saml-2.0/saml2_conditions.h>
#include <lasso/xml/saml-2.0/saml2_name_id.h>
#include <lasso/xml/saml-2.0/saml2_strings.h>
#include <lasso/xml/saml-2.0/saml2_subject.h>
#include <lasso/xml/saml-2.0/saml2_subject_confirmation.h>
#include <lasso/xml/saml-2.0/saml2_subject_confirmation_data.h>
#include <lasso/xml/saml-2.0/samlp2_authn_request.h>
#include <lasso/xml/saml-2.0/samlp2_name_id_policy.h>
#include <lasso/xml/saml-2.0/samlp2_request_abstract.h>
#include <lasso/xml/saml-2.0/samlp2_response.h>
#include <lasso/xml/saml-2.0/samlp2_status.h>
#include <lasso/xml/saml-2.0/samlp2_status_code.h>
#include <lasso/xml/saml-2.0/samlp2_status_response.h>
// clang-format on
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>

namespace gatehouse::saml {

// --- Lasso and GLib ownership ------------------------------------------------------------------------------

namespace {

struct GObjectUnref {
  void operator()(void* p) const {
    if (p != nullptr) g_object_unref(p);
  }
};
template <class T>
using GObjectPtr = std::unique_ptr<T, GObjectUnref>;

struct GFree {
  void operator()(char* p) const { g_free(p); }
};
using GCharPtr = std::unique_ptr<char, GFree>;

std::string str(const char* s) {
  return s != nullptr ? s : "";
}

// Lasso logs through GLib (domain "Lasso"), a warning for every message it refuses: that is the caller's
// Error to log, so Lasso's own words go to debug.
void logLasso(const gchar* /*domain*/, GLogLevelFlags level, const gchar* message, gpointer /*data*/) {
  if ((level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) != 0) {
    spdlog::warn("lasso: {}", str(message));
  } else {
    spdlog::debug("lasso: {}", str(message));
  }
}

// lasso_init() once per process. It also reads LASSO_FLAG from the environment, which can turn signature
// verification off ("no-verify-signature"): turn it on again, whatever the environment says.
Result<void> initLasso() {
  static std::once_flag once;
  static int rc = 0;
  std::call_once(once, [] {
    // "Lasso" for its messages, "lasso" for its g_return_if_fail() checks.
    for (const char* domain : {"Lasso", "lasso"})
      g_log_set_handler(domain, static_cast<GLogLevelFlags>(G_LOG_LEVEL_MASK), logLasso, nullptr);
    rc = lasso_init();
    std::string verify = "verify-signature";  // lasso_set_flag takes a char*
    lasso_set_flag(verify.data());
  });
  if (rc != 0) return makeError("saml: lasso_init failed: " + str(lasso_strerror(rc)));
  if (!lasso_flag_verify_signature) return makeError("saml: Lasso's signature verification is off");
  return {};
}

std::string lassoSays(int rc) {
  return " [lasso " + std::to_string(rc) + ": " + str(lasso_strerror(rc)) + "]";
}

// --- metadata ----------------------------------------------------------------------------------------------

std::string xmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// The base64 body of the first certificate in a PEM, as metadata carries it.
Result<std::string> certificateBody(const std::string& pem) {
  constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  const auto begin = pem.find(kBegin);
  const auto end = begin == std::string::npos ? std::string::npos : pem.find(kEnd, begin);
  if (end == std::string::npos) return makeError("saml: sp_cert_pem holds no PEM certificate");
  std::string body;
  for (char c : pem.substr(begin + kBegin.size(), end - begin - kBegin.size()))
    if (std::isspace(static_cast<unsigned char>(c)) == 0) body += c;
  return body;
}

// saml-metadata §2.4.4: one SPSSODescriptor with our ACS. NameIDFormat "unspecified" lets the IdP choose
// (Lasso would otherwise ask for a transient NameID, useless as a username).
std::string spMetadata(const SpConfig& c, const std::string& cert_body) {
  const bool sign = !cert_body.empty();
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  xml +=
      "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
      "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" entityID=\"" +
      xmlEscape(c.entity_id) + "\">\n";
  xml += std::string("  <md:SPSSODescriptor AuthnRequestsSigned=\"") + (sign ? "true" : "false") +
         "\" WantAssertionsSigned=\"true\" "
         "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n";
  if (sign) {
    xml += "    <md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>" + cert_body +
           "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n";
  }
  xml += "    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>\n";
  xml +=
      "    <md:AssertionConsumerService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" "
      "Location=\"" +
      xmlEscape(c.acs_url) + "\" index=\"0\" isDefault=\"true\"/>\n";
  xml += "  </md:SPSSODescriptor>\n</md:EntityDescriptor>\n";
  return xml;
}

// Lasso loads IdP metadata without a signing key and then refuses every response for want of one: say it at
// start.
bool idpHasSigningCertificate(const std::string& xml) {
  std::unique_ptr<xmlDoc, void (*)(xmlDoc*)> doc(
      xmlReadMemory(xml.data(), static_cast<int>(xml.size()), nullptr, nullptr,
                    XML_PARSE_NONET | XML_PARSE_NOERROR),
      xmlFreeDoc);
  if (!doc) return false;
  std::unique_ptr<xmlXPathContext, void (*)(xmlXPathContext*)> ctx(xmlXPathNewContext(doc.get()),
                                                                   xmlXPathFreeContext);
  if (!ctx) return false;
  const auto* path = reinterpret_cast<const xmlChar*>(
      "//*[local-name()='IDPSSODescriptor']/*[local-name()='KeyDescriptor'][not(@use) or @use='signing']"
      "//*[local-name()='X509Certificate']");
  std::unique_ptr<xmlXPathObject, void (*)(xmlXPathObject*)> found(xmlXPathEvalExpression(path, ctx.get()),
                                                                   xmlXPathFreeObject);
  return found && found->nodesetval != nullptr && found->nodesetval->nodeNr > 0;
}

// --- reading a verified assertion --------------------------------------------------------------------------

// xs:dateTime as SAML uses it (saml-core §1.3.3: UTC), seconds since the epoch; a fraction is dropped, an
// offset honoured. nullopt when it is not one.
std::optional<int64_t> parseTime(const char* text) {
  if (text == nullptr) return std::nullopt;
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19)
    return std::nullopt;
  std::string_view rest(text + consumed);
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    if (rest.empty() || std::isdigit(static_cast<unsigned char>(rest.front())) == 0) return std::nullopt;
    while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front())) != 0)
      rest.remove_prefix(1);
  }
  int64_t offset_s = 0;
  if (rest == "Z" || rest.empty()) {
    // UTC
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int hh = 0, mm = 0;
    if (std::sscanf(rest.data() + 1, "%2d:%2d", &hh, &mm) != 2) return std::nullopt;
    offset_s = (rest[0] == '+' ? 1 : -1) * (int64_t{hh} * 3600 + int64_t{mm} * 60);
  } else {
    return std::nullopt;
  }
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) - offset_s;
}

// A validity window's end points, with leeway: Error names the element and the time.
Result<void> checkWindow(const char* what, const char* not_before, const char* not_on_or_after,
                         bool end_required, int64_t now_s) {
  if (not_before != nullptr) {
    const auto t = parseTime(not_before);
    if (!t) return makeError(std::string("bad time in ") + what + " NotBefore: '" + not_before + "'");
    if (now_s + ServiceProvider::kLeewayS < *t)
      return makeError(std::string("not yet valid: ") + what + " NotBefore is " + not_before);
  }
  if (not_on_or_after == nullptr) {
    if (end_required) return makeError(std::string(what) + " has no NotOnOrAfter");
    return {};
  }
  const auto t = parseTime(not_on_or_after);
  if (!t) return makeError(std::string("bad time in ") + what + " NotOnOrAfter: '" + not_on_or_after + "'");
  if (now_s - ServiceProvider::kLeewayS >= *t)
    return makeError(std::string("expired: ") + what + " NotOnOrAfter was " + not_on_or_after);
  return {};
}

template <class T, class F>
void forEach(GList* list, F&& f) {
  for (GList* it = list; it != nullptr; it = it->next) f(static_cast<T*>(it->data));
}

// The text of an AttributeValue, every text node joined (a comment inside must not cut it short); nullopt
// when it holds elements rather than text.
std::optional<std::string> attributeText(LassoSaml2AttributeValue* value) {
  std::string text;
  bool only_text = true;
  forEach<LassoNode>(value->any, [&](LassoNode* n) {
    if (LASSO_IS_MISC_TEXT_NODE(n) && LASSO_MISC_TEXT_NODE(n)->text_child) {
      text += str(LASSO_MISC_TEXT_NODE(n)->content);
    } else {
      only_text = false;
    }
  });
  if (!only_text) return std::nullopt;
  return text;
}

// Every text value of the attributes called `name`, in order.
std::vector<std::string> attributeValues(LassoSaml2Assertion* assertion, const std::string& name) {
  std::vector<std::string> out;
  forEach<LassoSaml2AttributeStatement>(assertion->AttributeStatement, [&](LassoSaml2AttributeStatement* st) {
    forEach<LassoSaml2Attribute>(st->Attribute, [&](LassoSaml2Attribute* attr) {
      if (!LASSO_IS_SAML2_ATTRIBUTE(attr) || str(attr->Name) != name) return;
      forEach<LassoSaml2AttributeValue>(attr->AttributeValue, [&](LassoSaml2AttributeValue* v) {
        if (!LASSO_IS_SAML2_ATTRIBUTE_VALUE(v)) return;
        if (auto text = attributeText(v)) out.push_back(std::move(*text));
      });
    });
  });
  return out;
}

// Where it was sent, for whom, until when: what SAML leaves to the relying party, on an assertion whose
// signature Lasso verified. On success the Subject has a NameID and a bearer SubjectConfirmationData.
Result<void> checkAssertion(const SpConfig& config, LassoSamlp2StatusResponse* response,
                            LassoSaml2Assertion* assertion, int64_t now_s) {
  // saml-profiles §4.1.4.3: the Response's Destination (when given) and the bearer confirmation's Recipient
  // must be our ACS URL; the confirmation must not have expired.
  if (response->Destination != nullptr && str(response->Destination) != config.acs_url)
    return makeError("wrong Destination: '" + str(response->Destination) + "' is not our ACS URL '" +
                     config.acs_url + "'");
  LassoSaml2Subject* subject = assertion->Subject;
  if (subject == nullptr) return makeError("the assertion has no Subject");
  if (subject->EncryptedID != nullptr) return makeError("encrypted NameIDs are not supported");
  if (subject->NameID == nullptr || str(subject->NameID->content).empty())
    return makeError("the assertion's Subject has no NameID");
  LassoSaml2SubjectConfirmation* confirmation = subject->SubjectConfirmation;
  if (confirmation == nullptr || str(confirmation->Method) != LASSO_SAML2_CONFIRMATION_METHOD_BEARER)
    return makeError("the Subject has no bearer SubjectConfirmation");
  LassoSaml2SubjectConfirmationData* data = confirmation->SubjectConfirmationData;
  if (data == nullptr) return makeError("the bearer SubjectConfirmation has no SubjectConfirmationData");
  if (str(data->Recipient) != config.acs_url)
    return makeError("wrong Recipient: SubjectConfirmationData Recipient '" + str(data->Recipient) +
                     "' is not our ACS URL '" + config.acs_url + "'");
  if (auto r = checkWindow("SubjectConfirmationData", data->NotBefore, data->NotOnOrAfter, true, now_s); !r)
    return r;

  // saml-core §2.5.1: every AudienceRestriction must name us; a condition we do not know makes the assertion
  // indeterminate (§2.5.1.1), which is a refusal.
  LassoSaml2Conditions* conditions = assertion->Conditions;
  if (conditions == nullptr) return makeError("the assertion has no Conditions (and so no Audience)");
  if (auto r = checkWindow("Conditions", conditions->NotBefore, conditions->NotOnOrAfter, false, now_s); !r)
    return r;
  if (conditions->AudienceRestriction == nullptr)
    return makeError("wrong Audience: the assertion names none");
  std::string other_audience;
  forEach<LassoSaml2AudienceRestriction>(conditions->AudienceRestriction,
                                         [&](LassoSaml2AudienceRestriction* a) {
                                           if (str(a->Audience) != config.entity_id && other_audience.empty())
                                             other_audience = str(a->Audience);
                                         });
  if (!other_audience.empty())
    return makeError("wrong Audience: '" + other_audience + "' is not our entity ID '" + config.entity_id +
                     "'");
  if (conditions->Condition != nullptr)
    return makeError("the assertion has a Condition we do not understand");
  return {};
}

// Who the checked assertion names, and until when.
Result<SamlIdentity> readIdentity(const SpConfig& config, LassoSaml2Assertion* assertion) {
  SamlIdentity out;
  out.name_id = str(assertion->Subject->NameID->content);
  out.assertion_id = str(assertion->ID);
  if (config.username_attribute.empty()) {
    out.username = out.name_id;
  } else {
    const auto names = attributeValues(assertion, config.username_attribute);
    if (names.empty() || names.front().empty())
      return makeError("the assertion has no '" + config.username_attribute + "' attribute to name the user");
    out.username = names.front();
  }
  if (!config.groups_attribute.empty()) {
    for (const auto& g : attributeValues(assertion, config.groups_attribute)) {
      const auto mapped = config.group_map.find(g);
      const auto& into = mapped != config.group_map.end() ? mapped->second : std::vector<std::string>{g};
      for (const auto& name : into)
        if (std::find(out.groups.begin(), out.groups.end(), name) == out.groups.end())
          out.groups.push_back(name);
    }
  }
  // Good until the earlier of its two ends (the confirmation's is required: checkAssertion parsed it).
  const auto* data = assertion->Subject->SubjectConfirmation->SubjectConfirmationData;
  out.not_on_or_after_s = parseTime(data->NotOnOrAfter).value_or(0);
  if (const auto end = parseTime(assertion->Conditions->NotOnOrAfter))
    out.not_on_or_after_s = std::min(out.not_on_or_after_s, *end);
  forEach<LassoSaml2AuthnStatement>(assertion->AuthnStatement, [&](LassoSaml2AuthnStatement* st) {
    if (!LASSO_IS_SAML2_AUTHN_STATEMENT(st) || !out.session_index.empty()) return;
    out.session_index = str(st->SessionIndex);
    if (const auto end = parseTime(st->SessionNotOnOrAfter)) out.session_not_on_or_after_s = *end;
  });
  return out;
}

// What Lasso's refusal means, in words for the log.
std::string describeRefusal(int rc, LassoSamlp2Response* response, const std::string& idp_entity_id) {
  auto* status_response = response != nullptr ? LASSO_SAMLP2_STATUS_RESPONSE(response) : nullptr;
  switch (rc) {
    case LASSO_DS_ERROR_SIGNATURE_NOT_FOUND:
      return "unsigned: neither the Response nor its Assertion carries the IdP's signature";
    case LASSO_DS_ERROR_SIGNATURE_VERIFICATION_FAILED:
    case LASSO_DS_ERROR_INVALID_SIGNATURE:
    case LASSO_DS_ERROR_INVALID_REFERENCE_FOR_SAML:
    case LASSO_DS_ERROR_TOO_MUCH_REFERENCES:
    case LASSO_PROFILE_ERROR_CANNOT_VERIFY_SIGNATURE:
      return "bad signature: it does not verify with the IdP's key from its metadata "
             "(signed by another key, or changed after signing)";
    case LASSO_SERVER_ERROR_PROVIDER_NOT_FOUND: {
      const std::string issuer = status_response != nullptr && status_response->Issuer != nullptr
                                     ? str(status_response->Issuer->content)
                                     : "";
      return "wrong Issuer: '" + issuer + "' is not the IdP '" + idp_entity_id + "'";
    }
    case LASSO_PROFILE_ERROR_MISSING_ISSUER:
      return "wrong Issuer: the Response names none";
    case LASSO_PROFILE_ERROR_INVALID_ISSUER:
      return "wrong Issuer: an Assertion's Issuer is not the Response's";
    case LASSO_PROFILE_ERROR_STATUS_NOT_SUCCESS:
    case LASSO_PROFILE_ERROR_REQUEST_DENIED:
    case LASSO_LOGIN_ERROR_STATUS_NOT_SUCCESS:
    case LASSO_LOGIN_ERROR_REQUEST_DENIED:
    case LASSO_LOGIN_ERROR_UNKNOWN_PRINCIPAL:
    case LASSO_LOGIN_ERROR_FEDERATION_NOT_FOUND:
    case LASSO_PROFILE_ERROR_MISSING_STATUS_CODE: {
      std::string code = "(none)";
      if (status_response != nullptr && status_response->Status != nullptr &&
          status_response->Status->StatusCode != nullptr) {
        const auto* top = status_response->Status->StatusCode;
        code = str(top->Value);
        if (top->StatusCode != nullptr) code += " / " + str(top->StatusCode->Value);
      }
      return "status is not Success: " + code;
    }
    case LASSO_PROFILE_ERROR_MISSING_ASSERTION:
      return "the Response holds no assertion";
    case LASSO_PROFILE_ERROR_MISSING_SUBJECT:
      return "the assertion has no Subject";
    case LASSO_PROFILE_ERROR_INVALID_MSG:
    case LASSO_PROFILE_ERROR_UNSUPPORTED_PROFILE:
      return "not a SAML Response in the HTTP-POST binding (base64 of a samlp:Response)";
    default:
      return "Lasso refused it";
  }
}

}  // namespace

// --- ExpiringIds -------------------------------------------------------------------------------------------

bool ExpiringIds::contains(const std::string& id, int64_t now_s) const {
  const auto it = expiry_.find(id);
  return it != expiry_.end() && it->second >= now_s;
}

void ExpiringIds::insert(const std::string& id, int64_t expires_s, int64_t now_s) {
  erase(id);
  dropExpired(now_s);
  while (expiry_.size() >= capacity_ && !by_expiry_.empty()) {
    expiry_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
  expiry_.emplace(id, expires_s);
  by_expiry_.emplace(expires_s, id);
}

void ExpiringIds::erase(const std::string& id) {
  const auto it = expiry_.find(id);
  if (it == expiry_.end()) return;
  auto [first, last] = by_expiry_.equal_range(it->second);
  for (auto e = first; e != last; ++e) {
    if (e->second == id) {
      by_expiry_.erase(e);
      break;
    }
  }
  expiry_.erase(it);
}

void ExpiringIds::dropExpired(int64_t now_s) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first < now_s) {
    expiry_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
}

// --- ServiceProvider ---------------------------------------------------------------------------------------

struct ServiceProvider::Lasso {
  GObjectPtr<LassoServer> server;  // our metadata and key; the IdP is its one provider
};

ServiceProvider::ServiceProvider(SpConfig config, std::string metadata, std::string idp_entity_id,
                                 std::unique_ptr<Lasso> lasso)
    : config_(std::move(config)),
      metadata_(std::move(metadata)),
      idp_entity_id_(std::move(idp_entity_id)),
      lasso_(std::move(lasso)) {}

ServiceProvider::~ServiceProvider() = default;

Result<std::unique_ptr<ServiceProvider>> ServiceProvider::create(SpConfig config) {
  if (config.entity_id.empty()) return makeError("saml: entity_id is empty");
  if (config.acs_url.empty()) return makeError("saml: acs_url is empty");
  if (config.idp_metadata_xml.empty()) return makeError("saml: idp_metadata_xml is empty");
  if (config.sp_cert_pem.empty() != config.sp_key_pem.empty())
    return makeError("saml: give both sp_cert_pem and sp_key_pem, or neither");
  if (auto r = initLasso(); !r) return r.error();

  std::string cert_body;
  if (!config.sp_cert_pem.empty()) {
    auto body = certificateBody(config.sp_cert_pem);
    if (!body) return body.error();
    cert_body = std::move(*body);
  }
  std::string metadata = spMetadata(config, cert_body);

  auto lasso = std::make_unique<Lasso>();
  const bool signs = !config.sp_key_pem.empty();
  // Lasso gets our key but not our certificate: it would attach the certificate to the key at every signature
  // by first trying its text as a file name, which leaks an OpenSSL BIO in xmlsec 1.2.37
  // (xmlSecOpenSSLAppKeyCertLoad). An HTTP-Redirect signature carries no KeyInfo, and our metadata (made
  // above) publishes the certificate.
  lasso->server.reset(lasso_server_new_from_buffers(
      metadata.c_str(), signs ? config.sp_key_pem.c_str() : nullptr, nullptr, nullptr));
  if (!lasso->server) return makeError("saml: Lasso cannot load our SP metadata or sp_key_pem");

  GObjectPtr<LassoProvider> idp(lasso_provider_new_from_buffer(
      LASSO_PROVIDER_ROLE_IDP, config.idp_metadata_xml.c_str(), nullptr, nullptr));
  if (!idp || idp->ProviderID == nullptr ||
      (lasso_provider_get_roles(idp.get()) & LASSO_PROVIDER_ROLE_IDP) == 0)
    return makeError("saml: cannot read the IdP metadata (an EntityDescriptor with an IDPSSODescriptor)");
  std::string idp_entity_id = idp->ProviderID;
  if (!idpHasSigningCertificate(config.idp_metadata_xml))
    return makeError(
        "saml: the IdP metadata has no signing certificate (KeyDescriptor) to verify responses with");
  GCharPtr sso(lasso_provider_get_metadata_one_for_role(idp.get(), LASSO_PROVIDER_ROLE_IDP,
                                                        "SingleSignOnService HTTP-Redirect"));
  if (!sso) return makeError("saml: the IdP metadata names no HTTP-Redirect SingleSignOnService");
  GCharPtr wants_signed(lasso_provider_get_metadata_one_for_role(idp.get(), LASSO_PROVIDER_ROLE_IDP,
                                                                 "WantAuthnRequestsSigned"));
  if (!signs && wants_signed && std::string_view(wants_signed.get()) == "true")
    return makeError("saml: the IdP wants signed AuthnRequests: give sp_cert_pem and sp_key_pem");
  if (int rc = lasso_server_add_provider2(lasso->server.get(), idp.get()); rc != 0)
    return makeError("saml: cannot add the IdP" + lassoSays(rc));

  std::unique_ptr<ServiceProvider> sp(new ServiceProvider(std::move(config), std::move(metadata),
                                                          std::move(idp_entity_id), std::move(lasso)));
  // Build one AuthnRequest (not remembered): a key that cannot sign shows at start, not at the first login.
  if (auto probe = sp->buildAuthnRequest(""); !probe) return probe.error();
  return sp;
}

Result<ServiceProvider::AuthnRequest> ServiceProvider::buildAuthnRequest(std::string_view relay_state) {
  GObjectPtr<LassoLogin> login(lasso_login_new(lasso_->server.get()));
  if (!login) return makeError("saml: lasso_login_new failed");
  LassoProfile* profile = LASSO_PROFILE(login.get());
  // Sign when we have a key (our metadata then says AuthnRequestsSigned); without one, Lasso's default would
  // try anyway and fail for want of a key.
  lasso_profile_set_signature_hint(profile, config_.sp_key_pem.empty() ? LASSO_PROFILE_SIGNATURE_HINT_FORBID
                                                                       : LASSO_PROFILE_SIGNATURE_HINT_FORCE);
  if (int rc =
          lasso_login_init_authn_request(login.get(), idp_entity_id_.c_str(), LASSO_HTTP_METHOD_REDIRECT);
      rc != 0)
    return makeError("saml: cannot start an AuthnRequest" + lassoSays(rc));
  auto* request = LASSO_SAMLP2_AUTHN_REQUEST(profile->request);
  // Ask for the answer by POST at our ACS (saml-core §3.4.1), and let the IdP create the user's NameID.
  g_free(request->ProtocolBinding);
  request->ProtocolBinding = g_strdup(LASSO_SAML2_METADATA_BINDING_POST);
  g_free(request->AssertionConsumerServiceURL);
  request->AssertionConsumerServiceURL = g_strdup(config_.acs_url.c_str());
  if (request->NameIDPolicy != nullptr) request->NameIDPolicy->AllowCreate = TRUE;
  if (!relay_state.empty()) {
    g_free(profile->msg_relayState);
    profile->msg_relayState = g_strndup(relay_state.data(), relay_state.size());
  }
  if (int rc = lasso_login_build_authn_request_msg(login.get()); rc != 0)
    return makeError("saml: cannot build the AuthnRequest" + lassoSays(rc));
  const char* id = LASSO_SAMLP2_REQUEST_ABSTRACT(request)->ID;
  if (profile->msg_url == nullptr || id == nullptr) return makeError("saml: Lasso built no AuthnRequest URL");
  return AuthnRequest{profile->msg_url, id};
}

Result<std::string> ServiceProvider::loginUrl(std::string_view relay_state) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return loginUrl(relay_state, std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

Result<std::string> ServiceProvider::loginUrl(std::string_view relay_state, int64_t now_s) {
  if (relay_state.size() > kMaxRelayStateBytes)
    return makeError("saml: RelayState is longer than " + std::to_string(kMaxRelayStateBytes) + " bytes");
  std::lock_guard lock(mu_);
  auto request = buildAuthnRequest(relay_state);
  if (!request) return request.error();
  pending_requests_.insert(request->id, now_s + kRequestLifetimeS, now_s);
  return std::move(request->url);
}

Result<SamlIdentity> ServiceProvider::consume(std::string_view saml_response_base64, int64_t now_s) {
  if (saml_response_base64.size() > kMaxResponseBytes) return makeError("SAML response refused: too large");
  // Lasso wants a NUL-terminated, writable message; some IdPs wrap the base64 in lines.
  std::string message;
  message.reserve(saml_response_base64.size());
  for (char c : saml_response_base64)
    if (std::isspace(static_cast<unsigned char>(c)) == 0) message += c;
  if (message.empty()) return makeError("SAML response refused: empty");
  auto refuse = [](const std::string& why) { return makeError("SAML response refused: " + why); };

  std::lock_guard lock(mu_);
  GObjectPtr<LassoLogin> login(lasso_login_new(lasso_->server.get()));
  if (!login) return makeError("saml: lasso_login_new failed");
  LassoProfile* profile = LASSO_PROFILE(login.get());
  // MAYBE: a signed Response covers its assertions; an unsigned one needs every assertion signed. A bad
  // signature anywhere refuses the message (FORCE would refuse IdPs that sign only the assertion, as most do
  // by default).
  lasso_profile_set_signature_verify_hint(profile, LASSO_PROFILE_SIGNATURE_VERIFY_HINT_MAYBE);
  const int rc = lasso_login_process_authn_response_msg(login.get(), message.data());
  auto* response =
      LASSO_IS_SAMLP2_RESPONSE(profile->response) ? LASSO_SAMLP2_RESPONSE(profile->response) : nullptr;
  // Encrypted assertions are not supported: we publish no encryption key. Lasso would try our signing key on
  // them.
  if (response != nullptr && response->EncryptedAssertion != nullptr)
    return refuse(
        "encrypted assertions are not supported (have the IdP send them unencrypted; TLS protects them)");
  if (rc != 0) return refuse(describeRefusal(rc, response, idp_entity_id_) + lassoSays(rc));
  if (response == nullptr) return refuse("not a SAML Response");
  if (str(profile->remote_providerID) != idp_entity_id_)
    return refuse("wrong Issuer: '" + str(profile->remote_providerID) + "' is not the IdP '" +
                  idp_entity_id_ + "'");

  // Signature wrapping: read only the one assertion Lasso verified. Lasso verifies every assertion in the
  // list and keeps the last; with exactly one, the list, Lasso's choice and what we read are the same
  // element.
  if (g_list_length(response->Assertion) != 1)
    return refuse("expected exactly one assertion, found " +
                  std::to_string(g_list_length(response->Assertion)));
  GObjectPtr<LassoNode> verified(lasso_login_get_assertion(login.get()));
  auto* assertion = static_cast<LassoSaml2Assertion*>(response->Assertion->data);
  if (!verified || verified.get() != LASSO_NODE(assertion) || !LASSO_IS_SAML2_ASSERTION(assertion))
    return refuse("the assertion read is not the one Lasso verified");
  if (assertion->Issuer == nullptr || str(assertion->Issuer->content) != idp_entity_id_)
    return refuse("wrong Issuer: the assertion is not issued by the IdP '" + idp_entity_id_ + "'");
  if (str(assertion->ID).empty()) return refuse("the assertion has no ID");

  auto* status_response = LASSO_SAMLP2_STATUS_RESPONSE(response);
  if (auto r = checkAssertion(config_, status_response, assertion, now_s); !r)
    return refuse(r.error().message);
  LassoSaml2SubjectConfirmationData* data = assertion->Subject->SubjectConfirmation->SubjectConfirmationData;

  // Solicited or not. A Response to our AuthnRequest names it in InResponseTo (on the Response, the
  // confirmation, or both, which must then agree); it must be one we issued in the last kRequestLifetimeS and
  // not yet answered. A Response with no InResponseTo is unsolicited (IdP-initiated SSO, a tile in the IdP's
  // portal): it is accepted, as the IdPs in use send them; the signature, audience, recipient, time and
  // replay checks still hold.
  const std::string response_irt = str(status_response->InResponseTo);
  const std::string confirmation_irt = str(data->InResponseTo);
  if (!response_irt.empty() && !confirmation_irt.empty() && response_irt != confirmation_irt)
    return refuse("InResponseTo differs between the Response and its SubjectConfirmationData");
  const std::string in_response_to = response_irt.empty() ? confirmation_irt : response_irt;
  if (!in_response_to.empty() && !pending_requests_.contains(in_response_to, now_s))
    return refuse("unknown InResponseTo '" + in_response_to +
                  "': not an AuthnRequest we issued (or it expired, or was already answered)");

  // Replay: an assertion ID is accepted once, and remembered until it would be refused as expired anyway.
  if (seen_assertions_.contains(assertion->ID, now_s))
    return refuse("replayed: assertion " + str(assertion->ID) + " was already used");

  auto out = readIdentity(config_, assertion);
  if (!out) return refuse(out.error().message);
  seen_assertions_.insert(out->assertion_id, out->not_on_or_after_s + kLeewayS, now_s);
  if (!in_response_to.empty()) pending_requests_.erase(in_response_to);
  return out;
}

}  // namespace gatehouse::saml
