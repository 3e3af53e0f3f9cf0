#include "runtime/deploy/rollout.hpp"

#include <gtest/gtest.h>

using namespace ika::deploy;
using namespace std::chrono_literals;

namespace {

using strings = std::vector<std::string>;
const auto t0 = std::chrono::steady_clock::time_point{} + 1h;

rollout make(std::uint32_t target, std::uint32_t surge, std::chrono::milliseconds hold, strings old) {
  return rollout{rollout_settings{target, surge, hold}, std::move(old)};
}

/// Launches `n` instances named prefix1, prefix2, ... (continuing `next`).
strings launch(rollout& r, std::uint32_t n, int& next) {
  strings ids;
  for (std::uint32_t i = 0; i < n; ++i) {
    ids.push_back("n" + std::to_string(next++));
    r.launched(ids.back());
  }
  return ids;
}

} // namespace

TEST(Rollout, FirstDeployStartsHoldsThenServes) {
  auto r = make(1, 1, 500ms, {});
  int next = 1;
  auto s = r.begin();
  EXPECT_EQ(s.start, 1u);
  EXPECT_EQ(r.phase(), rollout_phase::starting);
  auto ids = launch(r, s.start, next);

  EXPECT_FALSE(r.on_state("n1", "ready", "", t0).wake_at);
  s = r.on_state("n1", "healthy", "", t0);
  EXPECT_EQ(r.phase(), rollout_phase::holding);
  ASSERT_TRUE(s.wake_at);
  EXPECT_EQ(*s.wake_at, t0 + 500ms);
  EXPECT_TRUE(s.serve.empty());

  // Too early: wait on.
  s = r.tick(t0 + 499ms);
  EXPECT_TRUE(s.serve.empty());
  EXPECT_EQ(*s.wake_at, t0 + 500ms);

  s = r.tick(t0 + 500ms);
  EXPECT_EQ(s.serve, strings{"n1"});
  EXPECT_TRUE(s.retire.empty());
  EXPECT_TRUE(s.finished);
  EXPECT_FALSE(s.failed);
  EXPECT_EQ(r.phase(), rollout_phase::done);
  EXPECT_FALSE(r.active());
}

TEST(Rollout, BatchesOfMaxSurgeReplaceOldOneForOne) {
  auto r = make(2, 1, 1s, {"o1", "o2"});
  int next = 1;
  auto s = r.begin();
  ASSERT_EQ(s.start, 1u);
  launch(r, 1, next);
  s = r.on_state("n1", "healthy", "", t0);
  s = r.tick(t0 + 1s);
  EXPECT_EQ(s.serve, strings{"n1"});
  EXPECT_EQ(s.retire, strings{"o1"});
  EXPECT_FALSE(s.finished);
  EXPECT_EQ(s.start, 1u) << "the next batch starts in the same step";
  EXPECT_EQ(r.retired(), strings{"o1"});
  EXPECT_EQ(r.old_serving(), strings{"o2"});
  EXPECT_EQ(r.describe(), "batch 2/2: starting 1 instance (0 healthy), 1/2 new serving");

  launch(r, 1, next);
  s = r.on_state("n2", "healthy", "", t0 + 2s);
  s = r.tick(t0 + 3s);
  EXPECT_EQ(s.serve, strings{"n2"});
  EXPECT_EQ(s.retire, strings{"o2"});
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(r.retired(), (strings{"o1", "o2"}));
  EXPECT_EQ(r.new_instances(), (strings{"n1", "n2"}));
}

TEST(Rollout, SurgeTwoOfThreeMakesBatchesOfTwoThenOne) {
  auto r = make(3, 2, 0ms, {"o1", "o2", "o3", "o4"});
  int next = 1;
  auto s = r.begin();
  ASSERT_EQ(s.start, 2u);
  launch(r, 2, next);
  // One healthy is not the whole batch.
  s = r.on_state("n1", "healthy", "", t0);
  EXPECT_TRUE(s.serve.empty());
  EXPECT_EQ(r.phase(), rollout_phase::starting);
  // Hold 0: the batch switches at once.
  s = r.on_state("n2", "healthy", "", t0);
  EXPECT_EQ(s.serve, (strings{"n1", "n2"}));
  EXPECT_EQ(s.retire, (strings{"o1", "o2"}));
  ASSERT_EQ(s.start, 1u);
  launch(r, 1, next);
  s = r.on_state("n3", "healthy", "", t0);
  EXPECT_EQ(s.serve, strings{"n3"});
  // The last batch retires every old instance left (4 old, 3 new).
  EXPECT_EQ(s.retire, (strings{"o3", "o4"}));
  EXPECT_TRUE(s.finished);
}

TEST(Rollout, ScaleUpRetiresWhatThereIs) {
  auto r = make(3, 1, 0ms, {"o1"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  auto s = r.on_state("n1", "healthy", "", t0);
  EXPECT_EQ(s.retire, strings{"o1"});
  launch(r, 1, next);
  s = r.on_state("n2", "healthy", "", t0);
  EXPECT_TRUE(s.retire.empty());
  EXPECT_FALSE(s.finished);
  launch(r, 1, next);
  s = r.on_state("n3", "healthy", "", t0);
  EXPECT_TRUE(s.finished);
}

TEST(Rollout, FailureWhileStartingStopsTheNewAndTouchesNothingElse) {
  for (const char* state : {"failed", "backoff", "crash-loop", "stopped"}) {
    auto r = make(2, 2, 1s, {"o1", "o2"});
    int next = 1;
    r.begin();
    launch(r, 2, next);
    r.on_state("n1", "healthy", "", t0);
    auto s = r.on_state("n2", state, "exited with code 3", t0);
    EXPECT_TRUE(s.failed) << state;
    EXPECT_EQ(s.why, std::string{"new instance n2 "} + state + ": exited with code 3");
    EXPECT_EQ(s.stop, (strings{"n1", "n2"}));
    EXPECT_TRUE(s.serve.empty()) << "no old instance had left";
    EXPECT_TRUE(s.retire.empty());
    EXPECT_EQ(r.phase(), rollout_phase::failed);
    EXPECT_EQ(r.old_serving(), (strings{"o1", "o2"}));
  }
}

TEST(Rollout, UnhealthyDuringTheHoldFails) {
  auto r = make(1, 1, 5s, {"o1"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  r.on_state("n1", "healthy", "", t0);
  ASSERT_EQ(r.phase(), rollout_phase::holding);
  auto s = r.on_state("n1", "unhealthy", "probe: 500", t0 + 1s);
  EXPECT_TRUE(s.failed);
  EXPECT_EQ(s.stop, strings{"n1"});
  // The hold timer firing afterwards does nothing.
  s = r.tick(t0 + 5s);
  EXPECT_TRUE(s.serve.empty());
  EXPECT_FALSE(s.finished);
}

TEST(Rollout, FailureInALaterBatchRestoresTheRetiredOldInstances) {
  auto r = make(2, 1, 0ms, {"o1", "o2"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  auto s = r.on_state("n1", "healthy", "", t0);
  ASSERT_EQ(s.retire, strings{"o1"});
  launch(r, 1, next);
  s = r.on_state("n2", "failed", "not ready within 30s", t0);
  EXPECT_TRUE(s.failed);
  EXPECT_EQ(s.retire, strings{"n1"}) << "the new one that served leaves the balancer";
  EXPECT_EQ(s.serve, strings{"o1"}) << "the old one that left comes back";
  EXPECT_EQ(s.stop, (strings{"n1", "n2"}));
  EXPECT_TRUE(r.retired().empty());
  EXPECT_EQ(r.old_serving(), (strings{"o2", "o1"}));
}

TEST(Rollout, ANewInstanceThatServesAndThenCrashesFailsTheRollout) {
  auto r = make(2, 1, 0ms, {"o1", "o2"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  r.on_state("n1", "healthy", "", t0);
  launch(r, 1, next);
  auto s = r.on_state("n1", "backoff", "killed by signal 9", t0);
  EXPECT_TRUE(s.failed);
  EXPECT_EQ(s.serve, strings{"o1"});
}

TEST(Rollout, OldInstancesAndUnknownIdsAreIgnored) {
  auto r = make(1, 1, 1s, {"o1"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  auto s = r.on_state("o1", "backoff", "crashed", t0);
  EXPECT_FALSE(s.failed);
  s = r.on_state("x9", "failed", "", t0);
  EXPECT_FALSE(s.failed);
  EXPECT_EQ(r.phase(), rollout_phase::starting);
}

TEST(Rollout, NothingHappensAfterTheEnd) {
  auto r = make(1, 1, 0ms, {});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  ASSERT_TRUE(r.on_state("n1", "healthy", "", t0).finished);
  auto s = r.on_state("n1", "failed", "", t0);
  EXPECT_FALSE(s.failed);
  EXPECT_FALSE(r.abort("deleted").failed);
  EXPECT_EQ(r.phase(), rollout_phase::done);
}

TEST(Rollout, AbortFailsAnActiveRollout) {
  auto r = make(2, 1, 0ms, {"o1", "o2"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  r.on_state("n1", "healthy", "", t0);
  auto s = r.abort("the app is being deleted");
  EXPECT_TRUE(s.failed);
  EXPECT_EQ(s.why, "the app is being deleted");
  EXPECT_EQ(s.serve, strings{"o1"});
}

TEST(Rollout, SettingsBelowOneAreRaisedToOne) {
  auto r = make(0, 0, 0ms, {});
  EXPECT_EQ(r.begin().start, 1u);
  EXPECT_EQ(r.describe(), "batch 1/1: starting 1 instance (0 healthy), 0/1 new serving");
}

TEST(Rollout, DescribeHolding) {
  auto r = make(1, 1, 1500ms, {});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  r.on_state("n1", "healthy", "", t0);
  EXPECT_EQ(r.describe(), "batch 1/1: holding 1500 ms, 0/1 new serving");
}
