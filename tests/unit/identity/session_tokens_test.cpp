// Session tokens and service account keys against a real SQLite store: issue, verify, expiry, revocation, keys
// from another gateway, a token for another audience, the signing key file, and the service account lifecycle.
#include "identity/session_tokens.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include "identity/service_accounts.h"
#include "store/sqlite_store.h"
#include "support/temp_dir.h"

namespace gatehouse::identity {
namespace {

constexpr int64_t kNow = 1'800'000'000'000'000;  // microseconds

class SessionTokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::openSqliteStore(dir_.path() / "g.db");
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
    auto key = loadOrCreateSigningKey(dir_.path() / "signing.key");
    ASSERT_TRUE(key) << key.error().message;
    tokens_ = std::make_unique<SessionTokens>(std::move(*key), std::chrono::minutes(15), *store_);
  }
  IssuedSessionToken issue(int64_t now = kNow) {
    auto t = tokens_->issue({.subject = "ci", .groups = {"deploy", "build"}, .source = "service_account:sak_1"}, now);
    EXPECT_TRUE(t) << t.error().message;
    return t ? *t : IssuedSessionToken{};
  }
  testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<SessionTokens> tokens_;
};

TEST_F(SessionTokensTest, IssuedTokensVerifyWithTheirIdentity) {
  const auto t = issue();
  EXPECT_TRUE(looksLikeJwt(t.token));
  EXPECT_EQ(t.expires_at_us, kNow + 15 * 60 * 1'000'000LL);
  auto v = tokens_->verify(t.token, kNow + 1'000'000);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->id, t.id);
  EXPECT_EQ(v->identity.subject, "ci");
  EXPECT_EQ(v->identity.groups, (std::vector<std::string>{"deploy", "build"}));
  EXPECT_EQ(v->identity.source, "service_account:sak_1");
  auto listed = store_->listSessionTokens(true, kNow);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().id, t.id);
}

TEST_F(SessionTokensTest, ExpiredTokensAreRefusedAfterTheLeeway) {
  const auto t = issue();
  EXPECT_TRUE(tokens_->verify(t.token, t.expires_at_us + 10'000'000)) << "within the 30 s leeway";
  auto late = tokens_->verify(t.token, t.expires_at_us + 31'000'000);
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message.find("exp"), std::string::npos) << late.error().message;
}

TEST_F(SessionTokensTest, RevokedTokensAreRefused) {
  const auto t = issue();
  ASSERT_TRUE(store_->revokeSessionToken(t.id));
  auto v = tokens_->verify(t.token, kNow);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("revoked"), std::string::npos) << v.error().message;
  EXPECT_FALSE(store_->revokeSessionToken("gst_unknown")) << "an unknown id is an error";
}

TEST_F(SessionTokensTest, TokensOfAnotherGatewayKeyAreRefused) {
  auto other_key = loadOrCreateSigningKey(dir_.path() / "other.key");
  ASSERT_TRUE(other_key);
  SessionTokens other(std::move(*other_key), std::chrono::minutes(15), *store_);
  auto foreign = other.issue({.subject = "ci", .groups = {"deploy"}, .source = "x"}, kNow);
  ASSERT_TRUE(foreign);
  EXPECT_FALSE(tokens_->verify(foreign->token, kNow)) << "signed by another key, though recorded in the same store";
}

TEST_F(SessionTokensTest, TokensTheStoreDoesNotKnowAreRefused) {
  // Signed with this gateway's key but never recorded (say, issued by a gateway whose store was replaced).
  auto key = loadOrCreateSigningKey(dir_.path() / "signing.key");
  ASSERT_TRUE(key);
  const boost::json::object claims{{"iss", "gatehouse"}, {"aud", "gatehouse"}, {"sub", "ci"},
                                   {"groups", boost::json::array{"deploy"}}, {"iat", kNow / 1'000'000},
                                   {"exp", kNow / 1'000'000 + 600}, {"jti", "gst_never_recorded"}};
  auto token = jws::sign(claims, *key);
  ASSERT_TRUE(token);
  auto v = tokens_->verify(*token, kNow);
  ASSERT_FALSE(v) << "fails closed";
}

TEST_F(SessionTokensTest, AnotherAudienceOrIssuerIsRefused) {
  auto key = loadOrCreateSigningKey(dir_.path() / "signing.key");
  ASSERT_TRUE(key);
  for (const auto& [iss, aud] : {std::pair{"gatehouse", "someone-else"}, std::pair{"idp", "gatehouse"}}) {
    const boost::json::object claims{{"iss", iss}, {"aud", aud}, {"sub", "ci"}, {"exp", kNow / 1'000'000 + 600},
                                     {"jti", "gst_x"}};
    auto token = jws::sign(claims, *key);
    ASSERT_TRUE(token);
    EXPECT_FALSE(tokens_->verify(*token, kNow)) << iss << " / " << aud;
  }
}

TEST_F(SessionTokensTest, TheSigningKeyFileIsMadeOnceAndPrivate) {
  const auto path = dir_.path() / "signing.key";
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  auto again = loadOrCreateSigningKey(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->kid(), tokens_->key().kid()) << "the same key, the same id";
  EXPECT_TRUE(again->kid().starts_with("gh-"));
  const auto t = issue();
  SessionTokens reloaded(std::move(*again), std::chrono::minutes(15), *store_);
  EXPECT_TRUE(reloaded.verify(t.token, kNow)) << "a restart keeps accepting the tokens it gave";
}

TEST(LooksLikeJwt, ThreeBase64UrlParts) {
  EXPECT_TRUE(looksLikeJwt("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"));
  EXPECT_FALSE(looksLikeJwt("ght_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"));
  EXPECT_FALSE(looksLikeJwt("a.b"));
  EXPECT_FALSE(looksLikeJwt("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2l n"));
  EXPECT_FALSE(looksLikeJwt("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln.x"));
}

class ServiceAccountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::openSqliteStore(dir_.path() / "g.db");
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  testing::TempDir dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(ServiceAccountsTest, CreateVerifyRotateRevoke) {
  auto first = createServiceAccount(*store_, "ci-deploy", {"deploy"});
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(first->secret.starts_with(kServiceKeyPrefix));
  EXPECT_EQ(first->secret.size(), 4u + 43u);
  auto who = verifyServiceAccountKey(*store_, first->secret);
  ASSERT_TRUE(who) << who.error().message;
  EXPECT_EQ(who->account, "ci-deploy");
  EXPECT_EQ(who->groups, (std::vector<std::string>{"deploy"}));
  EXPECT_EQ(who->key_id, first->key_id);

  auto kept = rotateServiceAccountKey(*store_, "ci-deploy", true);
  ASSERT_TRUE(kept);
  EXPECT_TRUE(verifyServiceAccountKey(*store_, first->secret)) << "--keep-old";
  auto rotated = rotateServiceAccountKey(*store_, "ci-deploy", false);
  ASSERT_TRUE(rotated);
  EXPECT_FALSE(verifyServiceAccountKey(*store_, first->secret));
  EXPECT_FALSE(verifyServiceAccountKey(*store_, kept->secret));
  EXPECT_TRUE(verifyServiceAccountKey(*store_, rotated->secret));

  ASSERT_TRUE(store_->revokeServiceAccountKey(rotated->key_id));
  auto refused = verifyServiceAccountKey(*store_, rotated->secret);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("revoked"), std::string::npos);

  auto listed = store_->listServiceAccounts();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().keys.size(), 3u);
  for (const auto& k : listed->front().keys) EXPECT_TRUE(k.revoked_at_us.has_value());
}

TEST_F(ServiceAccountsTest, KeysAreStoredOnlyAsHashes) {
  auto key = createServiceAccount(*store_, "agent-1", {"ops"});
  ASSERT_TRUE(key);
  auto found = store_->findServiceAccountKey(key->secret);
  ASSERT_TRUE(found);
  EXPECT_FALSE(found->has_value()) << "looking up the clear key finds nothing";
}

TEST_F(ServiceAccountsTest, BadNamesGroupsAndDuplicatesAreRefused) {
  for (const char* bad : {"", "Upper", "-dash-first", "has space", "semi;colon", "x/y"})
    EXPECT_FALSE(createServiceAccount(*store_, bad, {"g"})) << bad;
  EXPECT_FALSE(createServiceAccount(*store_, std::string(64, 'a'), {"g"}));
  EXPECT_FALSE(createServiceAccount(*store_, "nogroups", {}));
  EXPECT_FALSE(createServiceAccount(*store_, "emptygroup", {""}));
  ASSERT_TRUE(createServiceAccount(*store_, "twice", {"g"}));
  auto again = createServiceAccount(*store_, "twice", {"g"});
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("exists"), std::string::npos);
  EXPECT_FALSE(rotateServiceAccountKey(*store_, "nobody", false));
  EXPECT_FALSE(store_->revokeServiceAccountKey("sak_unknown"));
  EXPECT_FALSE(verifyServiceAccountKey(*store_, "ght_not_a_service_key"));
  EXPECT_FALSE(verifyServiceAccountKey(*store_, "ghk_unknownunknownunknownunknownunknownunknown"));
}

}  // namespace
}  // namespace gatehouse::identity
