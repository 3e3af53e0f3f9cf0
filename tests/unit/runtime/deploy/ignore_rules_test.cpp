#include "runtime/deploy/ignore_rules.hpp"

#include <gtest/gtest.h>

namespace ika::deploy {
namespace {

TEST(IgnoreRulesTest, BlankLinesAndCommentsAreSkipped) {
  auto rules = ignore_rules::parse("\n# a comment\n   \n\r\n*.log\n");
  EXPECT_EQ(rules.size(), 1u);
  EXPECT_TRUE(rules.ignored("x.log", false));
  EXPECT_FALSE(rules.ignored("# a comment", false));
  EXPECT_FALSE(ignore_rules{}.ignored("anything", false));
}

TEST(IgnoreRulesTest, StarAndQuestionMarkStayInOneSegment) {
  auto rules = ignore_rules::parse("*.pyc\nfile?.txt\n");
  EXPECT_TRUE(rules.ignored("a.pyc", false));
  EXPECT_TRUE(rules.ignored("deep/er/a.pyc", false));
  EXPECT_TRUE(rules.ignored(".pyc", false));
  EXPECT_FALSE(rules.ignored("a.pyc.bak", false));
  EXPECT_TRUE(rules.ignored("file1.txt", false));
  EXPECT_FALSE(rules.ignored("file12.txt", false));
  EXPECT_FALSE(rules.ignored("file.txt", false));

  auto anchored = ignore_rules::parse("doc/*.txt\n");
  EXPECT_TRUE(anchored.ignored("doc/a.txt", false));
  EXPECT_FALSE(anchored.ignored("doc/sub/a.txt", false));
  EXPECT_FALSE(anchored.ignored("x/doc/a.txt", false));
}

TEST(IgnoreRulesTest, DoubleStar) {
  auto any_depth = ignore_rules::parse("**/cache\n");
  EXPECT_TRUE(any_depth.ignored("cache", true));
  EXPECT_TRUE(any_depth.ignored("a/b/cache", true));

  auto middle = ignore_rules::parse("a/**/b\n");
  EXPECT_TRUE(middle.ignored("a/b", false));
  EXPECT_TRUE(middle.ignored("a/x/b", false));
  EXPECT_TRUE(middle.ignored("a/x/y/b", false));
  EXPECT_FALSE(middle.ignored("c/a/x/b", false));

  auto inside = ignore_rules::parse("logs/**\n");
  EXPECT_FALSE(inside.ignored("logs", true));
  EXPECT_TRUE(inside.ignored("logs/a", false));
  EXPECT_TRUE(inside.ignored("logs/a/b.log", false));

  auto many = ignore_rules::parse("**/**/**/**/**/**/**/**/x/**/**/**/**/y\n");
  EXPECT_FALSE(many.ignored("a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/z", false));
  EXPECT_TRUE(many.ignored("a/x/b/y", false));
}

TEST(IgnoreRulesTest, TrailingSlashMatchesDirectoriesOnly) {
  auto rules = ignore_rules::parse("build/\n");
  EXPECT_TRUE(rules.ignored("build", true));
  EXPECT_TRUE(rules.ignored("src/build", true));
  EXPECT_FALSE(rules.ignored("build", false));
}

TEST(IgnoreRulesTest, LeadingSlashAnchors) {
  auto rules = ignore_rules::parse("/secret.txt\n/tmp/\n");
  EXPECT_TRUE(rules.ignored("secret.txt", false));
  EXPECT_FALSE(rules.ignored("a/secret.txt", false));
  EXPECT_TRUE(rules.ignored("tmp", true));
  EXPECT_FALSE(rules.ignored("a/tmp", true));
}

TEST(IgnoreRulesTest, NegationAndLastMatchWins) {
  auto rules = ignore_rules::parse("*.log\n!important.log\n");
  EXPECT_TRUE(rules.ignored("debug.log", false));
  EXPECT_FALSE(rules.ignored("important.log", false));
  EXPECT_FALSE(rules.ignored("sub/important.log", false));

  auto again = ignore_rules::parse("*.log\n!important.log\n*.log\n");
  EXPECT_TRUE(again.ignored("important.log", false));
}

TEST(IgnoreRulesTest, ClassesAndEscapes) {
  auto rules = ignore_rules::parse("[abc].txt\n[!0-9]x\n\\#hash\n\\!bang\nstar\\*\ntrail\\ \n");
  EXPECT_TRUE(rules.ignored("a.txt", false));
  EXPECT_FALSE(rules.ignored("d.txt", false));
  EXPECT_TRUE(rules.ignored("yx", false));
  EXPECT_FALSE(rules.ignored("5x", false));
  EXPECT_TRUE(rules.ignored("#hash", false));
  EXPECT_TRUE(rules.ignored("!bang", false));
  EXPECT_TRUE(rules.ignored("star*", false));
  EXPECT_FALSE(rules.ignored("starry", false));
  EXPECT_TRUE(rules.ignored("trail ", false));
}

TEST(IgnoreRulesTest, CrlfAndTrailingSpaces) {
  auto rules = ignore_rules::parse("*.tmp   \r\nnode_modules/\r\n");
  EXPECT_TRUE(rules.ignored("a.tmp", false));
  EXPECT_TRUE(rules.ignored("x/node_modules", true));
}

TEST(IgnoreRulesTest, LinesThatAreNoPattern) {
  auto rules = ignore_rules::parse("/\n!\n//\n");
  EXPECT_EQ(rules.size(), 0u);
  EXPECT_FALSE(rules.ignored("a", false));
}

TEST(IgnoreRulesTest, MatchSegment) {
  EXPECT_TRUE(match_segment("*", ""));
  EXPECT_TRUE(match_segment("a*b*c", "aXXbYYc"));
  EXPECT_FALSE(match_segment("a*b*c", "aXXbYY"));
  EXPECT_TRUE(match_segment("[a-c]?", "bz"));
  EXPECT_TRUE(match_segment("[", "["));   // unterminated class: a literal
  EXPECT_TRUE(match_segment("[]]", "]")); // ']' first in a class is literal
}

} // namespace
} // namespace ika::deploy
