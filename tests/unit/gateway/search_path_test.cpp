// The search_path setting as the server reports it, split into the schemas unqualified names resolve in.
#include <gtest/gtest.h>

#include "gateway/upstream.h"

namespace gatehouse::gateway {
namespace {

using Names = std::vector<std::string>;

TEST(SearchPath, SettingIsSplitAndUserResolved) {
  EXPECT_EQ(parseSearchPath("\"$user\", public", "app"), (Names{"app", "public"}));
  EXPECT_EQ(parseSearchPath("hr,public", "app"), (Names{"hr", "public"}));
  EXPECT_EQ(parseSearchPath("\"My Schema\", \"a\"\"b\", x", "app"), (Names{"My Schema", "a\"b", "x"}));
  EXPECT_EQ(parseSearchPath("\"a,b\", c", "app"), (Names{"a,b", "c"}));
  EXPECT_TRUE(parseSearchPath("", "app").empty());
  EXPECT_EQ(parseSearchPath("$user", "app"), Names{"app"});
}

}  // namespace
}  // namespace gatehouse::gateway
