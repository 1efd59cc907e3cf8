// Static access tokens against a real SQLite store: issue, verify, revoke, and the distinct failure reasons.
#include "identity/tokens.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "store/sqlite_store.h"
#include "support/temp_dir.h"

namespace gatehouse::identity {
namespace {

using testing::TempDir;

class TokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::openSqliteStore(dir_.path() / "g.db");
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
  }
  TempDir dir_;
  std::unique_ptr<store::Store> store_;
};

TEST(TokenHash, IsLowercaseHexSha256) {
  // FIPS 180-2 test vector for "abc".
  EXPECT_EQ(hashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(TokensTest, IssuedSecretIsPrefixedUrlSafeAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    auto t = issueToken(*store_, "alice", {"dba"});
    ASSERT_TRUE(t.ok()) << t.error().message;
    ASSERT_TRUE(t->secret.starts_with("ght_"));
    const std::string body = t->secret.substr(4);
    EXPECT_EQ(body.size(), 43u);  // 32 bytes in unpadded base64
    for (char c : body) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << t->secret;
    }
    EXPECT_TRUE(seen.insert(t->secret).second);
  }
}

TEST_F(TokensTest, VerifiesForItsUserWithGroups) {
  auto t = issueToken(*store_, "alice@example.com", {"dba", "oncall"});
  ASSERT_TRUE(t.ok());
  auto v = verifyToken(*store_, t->secret, "alice@example.com");
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ(v->id, t->id);
  EXPECT_EQ(v->user, "alice@example.com");
  EXPECT_EQ(v->groups, (std::vector<std::string>{"dba", "oncall"}));
}

TEST_F(TokensTest, StoresOnlyTheHashOfTheSecret) {
  auto t = issueToken(*store_, "alice", {});
  ASSERT_TRUE(t.ok());
  auto found = store_->findTokenByHash(hashToken(t->secret));
  ASSERT_TRUE(found.ok() && found->has_value());
  store_.reset();  // close, so the WAL is checkpointed into the file
  std::string bytes;
  for (const char* suffix : {"", "-wal"}) {
    // fread rather than istreambuf_iterator, which trips GCC 12's -Wnull-dereference at -O1 and above.
    std::FILE* f = std::fopen((dir_.path() / (std::string("g.db") + suffix)).c_str(), "rb");
    if (f == nullptr) {
      continue;  // no -wal file once the last connection has checkpointed it
    }
    char chunk[4096];
    for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, f)) > 0;) {
      bytes.append(chunk, n);
    }
    std::fclose(f);
  }
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(bytes.find(t->secret.substr(4)), std::string::npos);
  EXPECT_NE(bytes.find(hashToken(t->secret)), std::string::npos);
}

TEST_F(TokensTest, RejectsUnknownRevokedAndOtherUsersTokensWithDistinctReasons) {
  auto t = issueToken(*store_, "alice", {});
  ASSERT_TRUE(t.ok());

  auto unknown = verifyToken(*store_, "ght_" + std::string(43, 'A'), "alice");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("unknown"), std::string::npos) << unknown.error().message;

  auto not_ours = verifyToken(*store_, "hunter2", "alice");
  ASSERT_FALSE(not_ours.ok());
  EXPECT_NE(not_ours.error().message.find("not a gatehouse token"), std::string::npos);

  auto mismatch = verifyToken(*store_, t->secret, "bob");
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message.find("belongs to user 'alice'"), std::string::npos)
      << mismatch.error().message;

  // One character off is a different token.
  std::string tampered = t->secret;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verifyToken(*store_, tampered, "alice").ok());

  ASSERT_TRUE(store_->revokeToken(t->id).ok());
  auto revoked = verifyToken(*store_, t->secret, "alice");
  ASSERT_FALSE(revoked.ok());
  EXPECT_NE(revoked.error().message.find("revoked"), std::string::npos) << revoked.error().message;
  EXPECT_NE(revoked.error().message.find(t->id), std::string::npos);
}

TEST_F(TokensTest, RevokingOneTokenLeavesTheUsersOtherTokensValid) {
  auto first = issueToken(*store_, "alice", {});
  auto second = issueToken(*store_, "alice", {});
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(store_->revokeToken(first->id).ok());
  EXPECT_FALSE(verifyToken(*store_, first->secret, "alice").ok());
  EXPECT_TRUE(verifyToken(*store_, second->secret, "alice").ok());
}

TEST_F(TokensTest, RefusesAnEmptyUser) {
  auto t = issueToken(*store_, "", {"dba"});
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(store_->listTokens()->empty());
}

}  // namespace
}  // namespace gatehouse::identity
