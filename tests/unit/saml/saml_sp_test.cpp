// The SAML service provider against a real identity provider: tests/saml/idp.mjs (samlify) makes the keys,
// its metadata and signed Responses, parses our AuthnRequests, and spoils Responses after signing as an
// attacker would. Covers a good login (username, mapped groups), every refusal with its reason, our metadata
// and AuthnRequest (deflated, base64, signed when we have a key), InResponseTo bookkeeping, replay, and
// concurrent use.
#include "saml/saml_sp.h"

#include <glib.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libdeflate.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "devtools/process.h"
#include "support/temp_dir.h"

namespace gatehouse::saml {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace fs = std::filesystem;

const std::string kSpEntityId = "https://gw.example.test/api/auth/saml/corp";
const std::string kAcsUrl = "https://gw.example.test/api/auth/saml/corp/acs";
const std::string kIdpEntityId = "https://idp.example.test/saml/metadata";
const std::string kSsoUrl = "https://idp.example.test/saml/sso";

int64_t now() {
  return static_cast<int64_t>(std::time(nullptr));
}

fs::path toolsDir() {
  return fs::path(GATEHOUSE_SOURCE_DIR) / "tests" / "saml";
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeFile(const fs::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

// Runs idp.mjs with `args`: its stdout (trimmed), or an Error with its stderr.
Result<std::string> runIdp(const std::vector<std::string>& args) {
  devtools::SpawnOptions o;
  o.argv = {"node", (toolsDir() / "idp.mjs").string()};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  auto r = devtools::run(o, std::chrono::seconds(60));
  if (!r) return r.error();
  if (!r->status.success()) return makeError("idp.mjs " + r->status.describe() + ": " + r->err);
  while (!r->out.empty() && std::isspace(static_cast<unsigned char>(r->out.back()))) r->out.pop_back();
  return r->out;
}

// --- decoding what we send ---------------------------------------------------------------------------------

std::string urlDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

// The raw (still encoded) value of a query parameter; empty when absent.
std::string queryParam(const std::string& url, const std::string& name) {
  const auto q = url.find('?');
  if (q == std::string::npos) return "";
  std::string_view rest(url);
  rest.remove_prefix(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const auto part = rest.substr(0, amp);
    if (part.substr(0, name.size() + 1) == name + "=") return std::string(part.substr(name.size() + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return "";
}

std::string base64Decode(const std::string& s) {
  gsize len = 0;
  guchar* bytes = g_base64_decode(s.c_str(), &len);
  std::string out(reinterpret_cast<const char*>(bytes), len);
  g_free(bytes);
  return out;
}

// Raw DEFLATE (RFC 1951), as the HTTP-Redirect binding uses it (saml-bindings §3.4.4.1).
std::string inflate(const std::string& in) {
  std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> d(
      libdeflate_alloc_decompressor(), libdeflate_free_decompressor);
  std::string out(1 << 20, '\0');
  size_t n = 0;
  if (libdeflate_deflate_decompress(d.get(), in.data(), in.size(), out.data(), out.size(), &n) !=
      LIBDEFLATE_SUCCESS)
    return "";
  out.resize(n);
  return out;
}

// The string values of an XPath over `xml` (local-name() paths keep namespaces out of it); nullopt when `xml`
// does not parse.
std::optional<std::vector<std::string>> xpath(const std::string& xml, const std::string& expr) {
  std::unique_ptr<xmlDoc, void (*)(xmlDoc*)> doc(
      xmlReadMemory(xml.data(), static_cast<int>(xml.size()), nullptr, nullptr, XML_PARSE_NONET), xmlFreeDoc);
  if (!doc) return std::nullopt;
  std::unique_ptr<xmlXPathContext, void (*)(xmlXPathContext*)> ctx(xmlXPathNewContext(doc.get()),
                                                                   xmlXPathFreeContext);
  std::unique_ptr<xmlXPathObject, void (*)(xmlXPathObject*)> found(
      xmlXPathEvalExpression(reinterpret_cast<const xmlChar*>(expr.c_str()), ctx.get()), xmlXPathFreeObject);
  std::vector<std::string> out;
  if (!found || found->nodesetval == nullptr) return out;
  for (int i = 0; i < found->nodesetval->nodeNr; ++i) {
    xmlChar* text = xmlNodeGetContent(found->nodesetval->nodeTab[i]);
    out.emplace_back(text != nullptr ? reinterpret_cast<const char*>(text) : "");
    xmlFree(text);
  }
  return out;
}

std::string authnRequestXml(const std::string& url) {
  return inflate(base64Decode(urlDecode(queryParam(url, "SAMLRequest"))));
}

std::string authnRequestId(const std::string& url) {
  auto ids = xpath(authnRequestXml(url), "/*[local-name()='AuthnRequest']/@ID");
  return ids && ids->size() == 1 ? ids->front() : "";
}

// --- the fixture -------------------------------------------------------------------------------------------

// One IdP (keys and metadata) for the whole suite: making RSA keys is the slow part.
class SamlSp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    suite_dir_ = std::make_unique<gatehouse::testing::TempDir>();
    if (!fs::exists(toolsDir() / "node_modules" / "samlify"))
      return;  // SetUp fails every test with the reason
    const auto dir = idpDir();
    if (auto r = runIdp({"keys", dir}); !r) {
      setup_error_ = r.error().message;
      return;
    }
    auto md = runIdp({"metadata", dir, "--entity-id", kIdpEntityId, "--sso-url", kSsoUrl});
    if (!md) {
      setup_error_ = md.error().message;
      return;
    }
    idp_metadata_ = *md;
  }
  static void TearDownTestSuite() { suite_dir_.reset(); }

  void SetUp() override {
    ASSERT_TRUE(fs::exists(toolsDir() / "node_modules" / "samlify"))
        << "the SAML test IdP is not installed: run `npm ci` in tests/saml (scripts/test does)";
    ASSERT_EQ(setup_error_, "");
    sp_ = makeSp(config());
    ASSERT_NE(sp_, nullptr);
  }

  static std::string idpDir() { return (suite_dir_->path() / "idp").string(); }

  SpConfig config() const {
    SpConfig c;
    c.entity_id = kSpEntityId;
    c.acs_url = kAcsUrl;
    c.idp_metadata_xml = idp_metadata_;
    c.groups_attribute = "groups";
    c.group_map = {{"db-admins", {"dba", "oncall"}}};
    return c;
  }

  std::unique_ptr<ServiceProvider> makeSp(SpConfig c) {
    auto sp = ServiceProvider::create(std::move(c));
    EXPECT_TRUE(sp) << sp.error().message;
    if (!sp) return nullptr;
    sp_metadata_file_ = (dir_.path() / "sp-metadata.xml").string();
    writeFile(sp_metadata_file_, (*sp)->metadata());
    return std::move(*sp);
  }

  // A base64 SAMLResponse for alice (groups db-admins, dev, dba); `extra` flags come last and so win.
  std::string respond(const std::vector<std::string>& extra = {}, const std::string& dir = idpDir()) {
    std::vector<std::string> args{
        "respond", dir,       "--sp-metadata",      sp_metadata_file_, "--user",
        "alice",   "--email", "alice@example.test", "--groups",        "db-admins,dev,dba"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = runIdp(args);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : std::string();
  }

  // The error of a refused response; fails the test when it was accepted.
  std::string refusal(const std::string& response, int64_t at = now()) {
    auto r = sp_->consume(response, at);
    EXPECT_FALSE(r) << "accepted, as " << r->username;
    return r ? std::string() : r.error().message;
  }

  static inline std::unique_ptr<gatehouse::testing::TempDir> suite_dir_;
  static inline std::string idp_metadata_;
  static inline std::string setup_error_;
  gatehouse::testing::TempDir dir_;
  std::string sp_metadata_file_;
  std::unique_ptr<ServiceProvider> sp_;
};

// --- accepted ----------------------------------------------------------------------------------------------

TEST_F(SamlSp, ResponseToOurRequestNamesTheUserAndMapsGroups) {
  auto url = sp_->loginUrl("/after-login");
  ASSERT_TRUE(url) << url.error().message;
  const auto id = authnRequestId(*url);
  ASSERT_FALSE(id.empty());
  const auto t = now();
  auto who = sp_->consume(respond({"--in-response-to", id}), t);
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->name_id, "alice");
  EXPECT_EQ(who->username, "alice");
  // db-admins -> dba, oncall; dev passes through; dba is already there.
  EXPECT_THAT(who->groups, ElementsAre("dba", "oncall", "dev"));
  EXPECT_THAT(who->assertion_id, StartsWith("_"));
  EXPECT_FALSE(who->session_index.empty());
  EXPECT_NEAR(static_cast<double>(who->not_on_or_after_s), static_cast<double>(t + 300), 5);
  EXPECT_NEAR(static_cast<double>(who->session_not_on_or_after_s), static_cast<double>(t + 8 * int64_t{3600}),
              5);
}

TEST_F(SamlSp, UsernameFromAnAttribute) {
  auto c = config();
  c.username_attribute = "email";
  c.groups_attribute.clear();
  sp_ = makeSp(c);
  auto who = sp_->consume(respond(), now());
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->username, "alice@example.test");
  EXPECT_EQ(who->name_id, "alice");
  EXPECT_TRUE(who->groups.empty());
}

TEST_F(SamlSp, MissingUsernameAttributeIsRefused) {
  auto c = config();
  c.username_attribute = "uid";
  sp_ = makeSp(c);
  EXPECT_THAT(refusal(respond()), HasSubstr("no 'uid' attribute"));
}

TEST_F(SamlSp, UnsolicitedResponseIsAccepted) {
  auto who = sp_->consume(respond(), now());
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->username, "alice");
}

TEST_F(SamlSp, SignedResponseOrBothSignedIsAccepted) {
  for (const char* sign : {"response", "both", "assertion"}) {
    auto who = sp_->consume(respond({"--sign", sign}), now());
    ASSERT_TRUE(who) << sign << ": " << who.error().message;
    EXPECT_EQ(who->username, "alice") << sign;
  }
}

// A comment splits the NameID and a group: exclusive C14N ignores comments, so the signature holds, and the
// value read must still be whole (a reader of the first text node only would see "ali" and "db-a").
TEST_F(SamlSp, CommentInsideSignedValuesDoesNotCutThemShort) {
  auto c = config();
  c.group_map.clear();
  sp_ = makeSp(c);
  auto who = sp_->consume(respond({"--tamper-after-sign", "comment"}), now());
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->username, "alice");
  EXPECT_THAT(who->groups, ElementsAre("db-admins", "dev", "dba"));
}

// --- refused: signatures -----------------------------------------------------------------------------------

TEST_F(SamlSp, UnsignedIsRefused) {
  EXPECT_THAT(refusal(respond({"--sign", "none"})), HasSubstr("unsigned"));
}

TEST_F(SamlSp, SignedByAnotherKeyIsRefused) {
  for (const char* sign : {"assertion", "response", "both"}) {
    EXPECT_THAT(refusal(respond({"--sign", sign, "--other-key"})), HasSubstr("bad signature")) << sign;
  }
}

class SamlSpTampered : public SamlSp,
                       public ::testing::WithParamInterface<std::tuple<std::string, std::string>> {};

TEST_P(SamlSpTampered, ChangeAfterSigningIsRefused) {
  const auto& [what, sign] = GetParam();
  const auto error = refusal(respond({"--tamper-after-sign", what, "--sign", sign}));
  EXPECT_THAT(error, HasSubstr("bad signature"));
}

INSTANTIATE_TEST_SUITE_P(All, SamlSpTampered,
                         ::testing::Combine(::testing::Values("nameid", "group", "addattr"),
                                            ::testing::Values("assertion", "response")),
                         [](const auto& p) { return std::get<0>(p.param) + "_" + std::get<1>(p.param); });

// XML signature wrapping: a forged copy of the signed assertion, naming admin, beside the original or around
// it.
TEST_F(SamlSp, InjectedUnsignedAssertionIsRefused) {
  for (const char* where : {"before", "after"}) {
    // Only the assertion is signed: Lasso checks each assertion and finds the forged one unsigned.
    EXPECT_THAT(refusal(respond({"--inject-assertion", where, "--sign", "assertion"})), HasSubstr("unsigned"))
        << where;
    // The Response is signed too: the forged assertion inside it breaks the Response's digest.
    EXPECT_THAT(refusal(respond({"--inject-assertion", where, "--sign", "both"})), HasSubstr("bad signature"))
        << where;
  }
  // The forged assertion carries the original's ID and signature, the original hides in its Advice: the
  // signature is checked against the element that carries it, whose content differs from what was signed.
  EXPECT_THAT(refusal(respond({"--inject-assertion", "wrap", "--sign", "assertion"})),
              HasSubstr("bad signature"));
}

TEST_F(SamlSp, EncryptedAssertionIsRefused) {
  EXPECT_THAT(refusal(respond({"--encrypt"})), HasSubstr("encrypted assertions are not supported"));
}

// --- refused: who, for whom, where, when -------------------------------------------------------------------

TEST_F(SamlSp, StatusOtherThanSuccessIsRefused) {
  EXPECT_THAT(refusal(respond({"--status", "Responder/AuthnFailed"})),
              HasSubstr("status is not Success: urn:oasis:names:tc:SAML:2.0:status:Responder / "
                        "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"));
}

TEST_F(SamlSp, WrongIssuerIsRefused) {
  EXPECT_THAT(refusal(respond({"--issuer", "https://evil.example.test/idp"})),
              HasSubstr("wrong Issuer: 'https://evil.example.test/idp' is not the IdP"));
}

TEST_F(SamlSp, WrongAudienceIsRefused) {
  EXPECT_THAT(refusal(respond({"--audience", "https://other-sp.example.test"})),
              HasSubstr("wrong Audience: 'https://other-sp.example.test' is not our entity ID"));
}

TEST_F(SamlSp, WrongRecipientIsRefused) {
  EXPECT_THAT(
      refusal(respond({"--recipient", "https://evil.example.test/acs"})),
      HasSubstr("wrong Recipient: SubjectConfirmationData Recipient 'https://evil.example.test/acs'"));
}

TEST_F(SamlSp, WrongDestinationIsRefused) {
  EXPECT_THAT(refusal(respond({"--destination", "https://evil.example.test/acs"})),
              HasSubstr("wrong Destination: 'https://evil.example.test/acs'"));
}

TEST_F(SamlSp, ExpiredIsRefusedAfterTheLeeway) {
  EXPECT_THAT(refusal(respond({"--not-on-or-after-seconds", "-120"})), HasSubstr("expired"));
  auto within_leeway = sp_->consume(respond({"--not-on-or-after-seconds", "-20"}), now());
  EXPECT_TRUE(within_leeway) << within_leeway.error().message;
}

// The exact edge, with the clock passed in: accepted up to NotOnOrAfter + 59 s, refused from + 60 s. A fresh
// SP for each try, so that the replay check stays out of it.
TEST_F(SamlSp, ExpiryLeewayIsSixtySeconds) {
  const auto response = respond();
  auto first = sp_->consume(response, now());
  ASSERT_TRUE(first) << first.error().message;
  const auto end = first->not_on_or_after_s;
  auto late = makeSp(config())->consume(response, end + ServiceProvider::kLeewayS - 1);
  EXPECT_TRUE(late) << late.error().message;
  auto too_late = makeSp(config())->consume(response, end + ServiceProvider::kLeewayS);
  ASSERT_FALSE(too_late);
  EXPECT_THAT(too_late.error().message, HasSubstr("expired"));
}

TEST_F(SamlSp, NotYetValidIsRefusedBeyondTheLeeway) {
  EXPECT_THAT(refusal(respond({"--not-before-seconds", "150"})),
              HasSubstr("not yet valid: Conditions NotBefore"));
  auto within_leeway = sp_->consume(respond({"--not-before-seconds", "20"}), now());
  EXPECT_TRUE(within_leeway) << within_leeway.error().message;
}

// --- InResponseTo and replay -------------------------------------------------------------------------------

TEST_F(SamlSp, MadeUpInResponseToIsRefused) {
  ASSERT_TRUE(sp_->loginUrl(""));
  EXPECT_THAT(refusal(respond({"--in-response-to", "_made-up-request-id"})),
              HasSubstr("unknown InResponseTo '_made-up-request-id'"));
}

TEST_F(SamlSp, InResponseToOfAnExpiredRequestIsRefused) {
  const auto t = now();
  auto url = sp_->loginUrl("", t - ServiceProvider::kRequestLifetimeS - 30);
  ASSERT_TRUE(url);
  EXPECT_THAT(refusal(respond({"--in-response-to", authnRequestId(*url)}), t),
              HasSubstr("unknown InResponseTo"));
}

TEST_F(SamlSp, RequestIsAnsweredOnlyOnce) {
  auto url = sp_->loginUrl("");
  ASSERT_TRUE(url);
  const auto id = authnRequestId(*url);
  auto first = sp_->consume(respond({"--in-response-to", id}), now());
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_THAT(refusal(respond({"--in-response-to", id})), HasSubstr("unknown InResponseTo '" + id + "'"));
}

TEST_F(SamlSp, ReplayedAssertionIsRefused) {
  const auto response = respond();
  auto first = sp_->consume(response, now());
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_THAT(refusal(response), HasSubstr("replayed: assertion " + first->assertion_id));
}

TEST_F(SamlSp, GarbageIsRefused) {
  EXPECT_THAT(refusal("bm90IHhtbA=="), HasSubstr("not a SAML Response"));
  EXPECT_THAT(refusal(""), HasSubstr("empty"));
  EXPECT_THAT(refusal(std::string(ServiceProvider::kMaxResponseBytes + 1, 'A')), HasSubstr("too large"));
}

// --- what we send ------------------------------------------------------------------------------------------

TEST_F(SamlSp, MetadataNamesOurEntityIdAndAcs) {
  const auto md = sp_->metadata();
  EXPECT_EQ(xpath(md, "/*[local-name()='EntityDescriptor']/@entityID"),
            std::vector<std::string>{kSpEntityId});
  const std::string acs =
      "/*[local-name()='EntityDescriptor']/*[local-name()='SPSSODescriptor']/"
      "*[local-name()='AssertionConsumerService']";
  EXPECT_EQ(xpath(md, acs + "/@Location"), std::vector<std::string>{kAcsUrl});
  EXPECT_EQ(xpath(md, acs + "/@Binding"),
            std::vector<std::string>{"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"});
  EXPECT_EQ(xpath(md, "//*[local-name()='SPSSODescriptor']/@AuthnRequestsSigned"),
            std::vector<std::string>{"false"});
  EXPECT_EQ(xpath(md, "//*[local-name()='X509Certificate']"), std::vector<std::string>{});
}

TEST_F(SamlSp, LoginUrlCarriesADeflatedBase64AuthnRequest) {
  auto url = sp_->loginUrl("/databases?x=1");
  ASSERT_TRUE(url) << url.error().message;
  EXPECT_THAT(*url, StartsWith(kSsoUrl + "?"));
  EXPECT_EQ(urlDecode(queryParam(*url, "RelayState")), "/databases?x=1");
  EXPECT_EQ(queryParam(*url, "Signature"), "");  // no key, and the IdP does not ask for signed requests
  const auto xml = authnRequestXml(*url);
  const std::string req = "/*[local-name()='AuthnRequest']";
  EXPECT_EQ(xpath(xml, req + "/@Destination"), std::vector<std::string>{kSsoUrl}) << xml;
  EXPECT_EQ(xpath(xml, req + "/@AssertionConsumerServiceURL"), std::vector<std::string>{kAcsUrl});
  EXPECT_EQ(xpath(xml, req + "/@ProtocolBinding"),
            std::vector<std::string>{"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"});
  EXPECT_EQ(xpath(xml, req + "/*[local-name()='Issuer']"), std::vector<std::string>{kSpEntityId});
  const auto id = authnRequestId(*url);
  ASSERT_FALSE(id.empty()) << xml;
  // Its ID is the InResponseTo we accept; a second request has another.
  auto other = sp_->loginUrl("");
  ASSERT_TRUE(other);
  EXPECT_NE(authnRequestId(*other), id);
  auto who = sp_->consume(respond({"--in-response-to", id}), now());
  EXPECT_TRUE(who) << who.error().message;
  EXPECT_THAT(sp_->loginUrl(std::string(81, 'r')).error().message, HasSubstr("RelayState is longer than 80"));
}

// The IdP parses our AuthnRequest itself (schema-validated by xmllint) and answers it.
TEST_F(SamlSp, IdpAnswersOurAuthnRequest) {
  auto url = sp_->loginUrl("");
  ASSERT_TRUE(url);
  auto who = sp_->consume(respond({"--request", *url}), now());
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->username, "alice");
}

// With a key, our metadata publishes the certificate and our AuthnRequests are signed; an IdP that wants
// signed requests verifies them, and refuses one whose query was changed.
TEST_F(SamlSp, SignedAuthnRequestIsVerifiedByTheIdp) {
  const auto strict = (suite_dir_->path() / "strict-idp").string();
  fs::create_directories(strict);
  fs::copy_file(fs::path(idpDir()) / "idp.key", fs::path(strict) / "idp.key",
                fs::copy_options::overwrite_existing);
  fs::copy_file(fs::path(idpDir()) / "idp.crt", fs::path(strict) / "idp.crt",
                fs::copy_options::overwrite_existing);
  auto md = runIdp({"metadata", strict, "--entity-id", kIdpEntityId, "--sso-url", kSsoUrl,
                    "--want-authn-requests-signed"});
  ASSERT_TRUE(md) << md.error().message;

  auto unsigned_config = config();
  unsigned_config.idp_metadata_xml = *md;
  auto refused = ServiceProvider::create(unsigned_config);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("wants signed AuthnRequests"));

  ASSERT_TRUE(runIdp({"keys", dir_.path().string()}));  // any key pair serves as the SP's
  auto c = config();
  c.idp_metadata_xml = *md;
  c.sp_cert_pem = readFile(dir_.path() / "idp.crt");
  c.sp_key_pem = readFile(dir_.path() / "idp.key");
  sp_ = makeSp(c);
  ASSERT_NE(sp_, nullptr);
  EXPECT_EQ(xpath(sp_->metadata(), "//*[local-name()='SPSSODescriptor']/@AuthnRequestsSigned"),
            std::vector<std::string>{"true"});
  EXPECT_EQ(xpath(sp_->metadata(),
                  "//*[local-name()='KeyDescriptor'][@use='signing']//*[local-name()='X509Certificate']")
                ->size(),
            1u);

  auto url = sp_->loginUrl("relay");
  ASSERT_TRUE(url);
  EXPECT_NE(queryParam(*url, "SigAlg"), "");
  EXPECT_NE(queryParam(*url, "Signature"), "");
  auto who = sp_->consume(respond({"--request", *url}, strict), now());
  ASSERT_TRUE(who) << who.error().message;

  auto changed = *url;
  const auto relay = changed.find("RelayState=relay");
  ASSERT_NE(relay, std::string::npos);
  changed.replace(relay, 16, "RelayState=other");
  std::vector<std::string> args{"respond", strict,  "--sp-metadata", sp_metadata_file_,
                                "--user",  "alice", "--request",     changed};
  auto forged = runIdp(args);
  ASSERT_FALSE(forged);
  EXPECT_THAT(forged.error().message, HasSubstr("ERR_FAILED_MESSAGE_SIGNATURE_VERIFICATION"));
}

// --- configuration -----------------------------------------------------------------------------------------

TEST_F(SamlSp, CreateRefusesUnusableConfiguration) {
  auto c = config();
  c.idp_metadata_xml = "<not-metadata/>";
  EXPECT_THAT(ServiceProvider::create(c).error().message, HasSubstr("cannot read the IdP metadata"));

  c = config();
  const auto cert_begin = c.idp_metadata_xml.find("<KeyDescriptor");
  const auto cert_end = c.idp_metadata_xml.find("</KeyDescriptor>");
  ASSERT_NE(cert_end, std::string::npos);
  c.idp_metadata_xml.erase(cert_begin, cert_end + std::string("</KeyDescriptor>").size() - cert_begin);
  EXPECT_THAT(ServiceProvider::create(c).error().message, HasSubstr("no signing certificate"));

  c = config();
  c.sp_cert_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_THAT(ServiceProvider::create(c).error().message, HasSubstr("both sp_cert_pem and sp_key_pem"));

  c = config();
  c.acs_url.clear();
  EXPECT_THAT(ServiceProvider::create(c).error().message, HasSubstr("acs_url is empty"));
}

// --- concurrency -------------------------------------------------------------------------------------------

TEST_F(SamlSp, ConcurrentLoginsAndConsumes) {
  constexpr int kThreads = 4;
  std::vector<std::string> responses;
  for (int i = 0; i < kThreads; ++i) responses.push_back(respond());
  std::vector<std::set<std::string>> ids(kThreads);
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int n = 0; n < 50; ++n) {
        auto url = sp_->loginUrl("");
        if (url) ids[i].insert(authnRequestId(*url));
      }
      if (sp_->consume(responses[i], now())) ++accepted;
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> all;
  for (const auto& s : ids) all.insert(s.begin(), s.end());
  EXPECT_EQ(all.size(), 50u * kThreads);
  EXPECT_EQ(accepted.load(), kThreads);
}

// --- ExpiringIds -------------------------------------------------------------------------------------------

TEST(ExpiringIds, ExpiresAndStaysBounded) {
  ExpiringIds ids(3);
  ids.insert("a", 100, 0);
  ids.insert("b", 50, 0);
  ids.insert("c", 200, 0);
  EXPECT_TRUE(ids.contains("b", 50));
  EXPECT_FALSE(ids.contains("b", 51));
  // Full: the one that would expire soonest (b) makes room.
  ids.insert("d", 300, 0);
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_FALSE(ids.contains("b", 0));
  EXPECT_TRUE(ids.contains("a", 0));
  // Past their time, a and c go before anything else would.
  ids.insert("e", 400, 250);
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_TRUE(ids.contains("d", 250));
  ids.erase("d");
  EXPECT_FALSE(ids.contains("d", 250));
  EXPECT_EQ(ids.size(), 1u);
}

}  // namespace
}  // namespace gatehouse::saml
