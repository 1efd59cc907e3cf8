// Reviews in the store: one rejection rejects, N distinct approvals approve, the requester and outsiders cannot
// decide, an approval runs its statement once within its window, and time runs out.
#include <gtest/gtest.h>

#include "store/sqlite_store.h"
#include "support/temp_dir.h"

namespace gatehouse::store {
namespace {

using testing::TempDir;

constexpr int64_t kNow = 1'800'000'000'000'000;
constexpr int64_t kMinute = 60'000'000;

class Reviews : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = openSqliteStore(dir_.path() / "store.db");
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }

  NewReview request(int approvals = 1, std::string hash = "h1") {
    return NewReview{.requester = "alice", .requester_groups = {"dev"}, .connection = "pg", .session_id = "ses_1",
                     .seq = 4, .sql = "DELETE FROM t", .statement_hash = std::move(hash), .rule = "unfiltered-writes",
                     .reason = "delete, delete_without_where", .mode = "async", .approver_groups = {"admins"},
                     .approvals_needed = approvals, .decide_by_us = kNow + 10 * kMinute, .window_us = 60 * kMinute};
  }
  ReviewRow create(int approvals = 1, std::string hash = "h1") {
    auto r = store_->createReview(request(approvals, std::move(hash)), kNow);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : ReviewRow{};
  }
  std::string decideError(const std::string& id, const std::string& who, std::vector<std::string> groups,
                          bool approve, int64_t at = kNow + kMinute) {
    auto r = store_->decideReview(id, who, groups, approve, "", at);
    return r ? std::string("(decided)") : r.error().message;
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(Reviews, ApprovalRunsTheStatementOnceWithinItsWindow) {
  const auto r = create();
  EXPECT_EQ(r.status, "pending");
  EXPECT_TRUE(r.id.starts_with("rev_"));
  auto pending = store_->findPendingReview("h1", kNow + kMinute);
  ASSERT_TRUE(pending && *pending);
  EXPECT_EQ((*pending)->id, r.id);
  auto claimed = store_->claimApprovedReview("h1", kNow + kMinute, "ses_2", 3);
  ASSERT_TRUE(claimed);
  EXPECT_FALSE(*claimed) << "not approved yet";

  auto decided = store_->decideReview(r.id, "bob", {"admins"}, true, "looks fine", kNow + kMinute);
  ASSERT_TRUE(decided) << decided.error().message;
  EXPECT_EQ(decided->status, "approved");
  ASSERT_EQ(decided->decisions.size(), 1u);
  EXPECT_EQ(decided->decisions[0].approver, "bob");
  EXPECT_EQ(decided->decisions[0].reason, "looks fine");
  EXPECT_EQ(decided->usable_until_us, kNow + 61 * kMinute);

  claimed = store_->claimApprovedReview("h1", kNow + 2 * kMinute, "ses_2", 3);
  ASSERT_TRUE(claimed && *claimed);
  EXPECT_EQ((*claimed)->id, r.id);
  claimed = store_->claimApprovedReview("h1", kNow + 3 * kMinute, "ses_2", 3);
  ASSERT_TRUE(claimed);
  EXPECT_FALSE(*claimed) << "an approval runs its statement once";
  auto got = store_->getReview(r.id, kNow + 3 * kMinute);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->status, "used");
  EXPECT_TRUE((*got)->used_at_us);
  EXPECT_EQ((*got)->used_session_id, "ses_2") << "the statement that ran under it";
  EXPECT_EQ((*got)->used_seq, 3u);
}

TEST_F(Reviews, OneRejectionRejects) {
  const auto r = create(2);
  auto decided = store_->decideReview(r.id, "carol", {"admins"}, false, "too broad", kNow + kMinute);
  ASSERT_TRUE(decided);
  EXPECT_EQ(decided->status, "rejected");
  EXPECT_EQ(decideError(r.id, "bob", {"admins"}, true), "review " + r.id + " is rejected, not pending: it can no longer be decided");
  auto claimed = store_->claimApprovedReview("h1", kNow + 2 * kMinute, "ses_2", 3);
  ASSERT_TRUE(claimed);
  EXPECT_FALSE(*claimed);
}

TEST_F(Reviews, NDistinctApproversAreNeeded) {
  const auto r = create(2);
  auto first = store_->decideReview(r.id, "bob", {"admins"}, true, "", kNow + kMinute);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, "pending") << "one of two";
  EXPECT_EQ(decideError(r.id, "bob", {"admins"}, true), "bob has already decided review " + r.id);
  auto second = store_->decideReview(r.id, "carol", {"admins", "ops"}, true, "", kNow + kMinute);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, "approved");
  EXPECT_EQ(second->decisions.size(), 2u);
}

TEST_F(Reviews, TheRequesterAndOutsidersCannotDecide) {
  const auto r = create();
  EXPECT_EQ(decideError(r.id, "alice", {"admins"}, true),
            "review " + r.id + " was requested by alice, who cannot decide their own review");
  EXPECT_EQ(decideError(r.id, "mallory", {"dev"}, true),
            "mallory is not in an approver group of review " + r.id + " (admins)");
  EXPECT_EQ(decideError("rev_nope", "bob", {"admins"}, true), "no review with id rev_nope");
  auto got = store_->getReview(r.id, kNow + kMinute);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->status, "pending");
  EXPECT_TRUE((*got)->decisions.empty());
}

TEST_F(Reviews, TimeRunsOut) {
  const auto r = create();
  EXPECT_EQ(decideError(r.id, "bob", {"admins"}, true, kNow + 11 * kMinute),
            "review " + r.id + " is expired, not pending: it can no longer be decided");
  const auto r2 = create(1, "h2");
  ASSERT_TRUE(store_->decideReview(r2.id, "bob", {"admins"}, true, "", kNow + kMinute));
  auto claimed = store_->claimApprovedReview("h2", kNow + 62 * kMinute, "ses_2", 3);
  ASSERT_TRUE(claimed);
  EXPECT_FALSE(*claimed) << "the approval's window has passed";
  auto pending = store_->listReviews(true, kNow + 62 * kMinute);
  ASSERT_TRUE(pending);
  EXPECT_TRUE(pending->empty());
  auto all = store_->listReviews(false, kNow + 62 * kMinute);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].status, "expired");
  EXPECT_EQ((*all)[1].status, "expired");
}

TEST_F(Reviews, ReviewsSurviveReopening) {
  const auto r = create();
  ASSERT_TRUE(store_->decideReview(r.id, "bob", {"admins"}, true, "ok", kNow + kMinute));
  store_.reset();
  auto s = openSqliteStore(dir_.path() / "store.db");
  ASSERT_TRUE(s);
  auto got = (*s)->getReview(r.id, kNow + 2 * kMinute);
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->status, "approved");
  EXPECT_EQ((*got)->request.sql, "DELETE FROM t");
  EXPECT_EQ((*got)->request.approver_groups, std::vector<std::string>{"admins"});
  ASSERT_EQ((*got)->decisions.size(), 1u);
  EXPECT_EQ((*got)->decisions[0].reason, "ok");
}

}  // namespace
}  // namespace gatehouse::store
