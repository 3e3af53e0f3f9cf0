// The rollout state machine, transition by transition.
//
// States: starting(k): batch k launched, not all of it healthy; holding(k):
// all of batch k healthy, the hold timer runs; done; failed. Events: begin,
// launched, on_state(id, word), tick, abort. An on_state's id is one of:
// batch (a new instance of the current batch), served (a new one of an
// earlier batch, serving), old (still serving), retired (old, out of the
// balancer), unknown. "fail" is any word is_failure() takes: failed,
// backoff, crash-loop, unhealthy, stopping, stopped.
//
// Every (state, event) pair, what it does, and the tests that drive it:
//
// (new)    begin -> starting(1), start min(surge, target)
//            FirstDeployStartsHoldsThenServes, SurgeTwoOfThreeMakesBatchesOfTwoThenOne,
//            SettingsBelowOneAreRaisedToOne
// starting on_state(batch, starting | ready) -> nothing
//            StartingAndReadyChangeNothing, FirstDeployStartsHoldsThenServes
// starting on_state(batch, healthy), not all healthy -> nothing
//            SurgeTwoOfThreeMakesBatchesOfTwoThenOne
// starting on_state(batch, healthy), batch not all launched yet -> nothing (no hold)
//            HealthyBeforeTheWholeBatchIsLaunchedDoesNotHold
// starting on_state(batch, healthy), all healthy, hold > 0 -> holding, wake_at = now + hold
//            FirstDeployStartsHoldsThenServes, HealthyBeforeTheWholeBatchIsLaunchedDoesNotHold
// starting on_state(batch, healthy), all healthy, hold = 0 -> switch at once (as a tick)
//            SurgeTwoOfThreeMakesBatchesOfTwoThenOne, ScaleUpRetiresWhatThereIs
// starting on_state(batch, fail) -> failed: stop the new, touch nothing else (all six words)
//            FailureWhileStartingStopsTheNewAndTouchesNothingElse,
//            UnhealthyAfterHealthyWhileTheBatchStartsFails, FailureWithoutDetailNamesJustTheState
// starting on_state(served, fail), batch k > 1 -> failed: served retire, retired serve again
//            ANewInstanceThatServesAndThenCrashesFailsTheRollout,
//            FailureInALaterBatchRestoresTheRetiredOldInstances
// starting on_state(served, healthy | ready) -> nothing (batch k is not healthy)
//            AServedInstanceReportingHealthyDoesNotCompleteTheNextBatch
// starting on_state(old | retired | unknown, any) -> ignored
//            OldAndUnknownIdsAreIgnored, RetiredOldInstancesAreIgnoredWhileStarting
// starting tick (any time) -> nothing
//            TickWhileStartingIsANoOp
// starting abort -> failed: stop the launched new, retired serve again
//            AbortWhileStartingStopsTheLaunchedOnes, AbortFailsAnActiveRollout
// holding  tick before the hold ends -> wake_at the same time again
//            FirstDeployStartsHoldsThenServes
// holding  tick when the hold ended, more batches -> batch serves, as many old retire, next starts
//            BatchesOfMaxSurgeReplaceOldOneForOne
// holding  tick when the hold ended, last batch -> done, every old retires
//            FirstDeployStartsHoldsThenServes, SurgeTwoOfThreeMakesBatchesOfTwoThenOne
// holding  on_state(batch, healthy | ready) -> nothing; the hold is not restarted
//            HealthyAgainDuringTheHoldKeepsTheTimer
// holding  on_state(batch, fail) -> failed; a later tick does nothing
//            UnhealthyDuringTheHoldFails, ACrashDuringTheHoldFails (the other five words)
// holding  on_state(batch | served, fail), batch k > 1 -> failed: served retire, retired serve
//            FailureDuringTheHoldOfALaterBatchRestoresTheOld
// holding  on_state(old | retired | unknown, any) -> ignored
//            OldRetiredAndUnknownIdsAreIgnoredDuringTheHold
// holding  abort -> failed; a later tick does nothing
//            AbortWhileHoldingCancelsTheHold
// done     on_state, abort -> nothing
//            NothingHappensAfterTheEnd
// done     tick -> nothing
//            TickAfterTheEndIsANoOp
// failed   on_state, tick -> nothing
//            UnhealthyDuringTheHoldFails, ACrashDuringTheHoldFails,
//            UnhealthyAfterHealthyWhileTheBatchStartsFails, AbortWhileStartingStopsTheLaunchedOnes
// failed   abort -> nothing
//            AbortAfterAFailureDoesNothing
// any      describe -> one line per phase
//            BatchesOfMaxSurgeReplaceOldOneForOne, DescribeHolding, DescribeDoneAndFailed
//
// Not driven on purpose: launched() outside `starting` and begin() twice
// (the app calls begin once, and launched only for a step's `start`).

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
  for (const char* state : {"failed", "backoff", "crash-loop", "unhealthy", "stopping", "stopped"}) {
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

TEST(Rollout, OldAndUnknownIdsAreIgnored) {
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

// -- starting -----------------------------------------------------------------------------

TEST(Rollout, StartingAndReadyChangeNothing) {
  auto r = make(1, 1, 1s, {"o1"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  for (const char* state : {"starting", "ready", "starting"}) {
    auto s = r.on_state("n1", state, "", t0);
    EXPECT_EQ(s.start, 0u) << state;
    EXPECT_TRUE(s.serve.empty() && s.retire.empty() && s.stop.empty()) << state;
    EXPECT_FALSE(s.wake_at || s.finished || s.failed) << state;
    EXPECT_EQ(r.phase(), rollout_phase::starting) << state;
  }
}

TEST(Rollout, HealthyBeforeTheWholeBatchIsLaunchedDoesNotHold) {
  auto r = make(2, 2, 1s, {"o1", "o2"});
  int next = 1;
  ASSERT_EQ(r.begin().start, 2u);
  launch(r, 1, next);
  // Only one of the two is launched yet: its being healthy is not the batch.
  auto s = r.on_state("n1", "healthy", "", t0);
  EXPECT_FALSE(s.wake_at);
  EXPECT_EQ(r.phase(), rollout_phase::starting);
  launch(r, 1, next);
  s = r.on_state("n2", "healthy", "", t0 + 10ms);
  EXPECT_EQ(r.phase(), rollout_phase::holding);
  ASSERT_TRUE(s.wake_at);
  EXPECT_EQ(*s.wake_at, t0 + 10ms + 1s);
}

TEST(Rollout, UnhealthyAfterHealthyWhileTheBatchStartsFails) {
  auto r = make(2, 2, 1s, {"o1"});
  int next = 1;
  r.begin();
  launch(r, 2, next);
  r.on_state("n1", "healthy", "", t0);
  // n2 is still starting when n1 turns unhealthy.
  auto s = r.on_state("n1", "unhealthy", "health check: status 503", t0);
  EXPECT_TRUE(s.failed);
  EXPECT_EQ(s.why, "new instance n1 unhealthy: health check: status 503");
  EXPECT_EQ(s.stop, (strings{"n1", "n2"}));
  EXPECT_TRUE(s.serve.empty());
  EXPECT_TRUE(s.retire.empty());
  EXPECT_EQ(r.old_serving(), strings{"o1"});
  // n2 becoming healthy afterwards does not revive it.
  s = r.on_state("n2", "healthy", "", t0);
  EXPECT_FALSE(s.wake_at);
  EXPECT_EQ(r.phase(), rollout_phase::failed);
}

TEST(Rollout, FailureWithoutDetailNamesJustTheState) {
  auto r = make(1, 1, 1s, {});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  auto s = r.on_state("n1", "stopping", "", t0);
  EXPECT_TRUE(s.failed);
  EXPECT_EQ(s.why, "new instance n1 stopping");
}

TEST(Rollout, AServedInstanceReportingHealthyDoesNotCompleteTheNextBatch) {
  auto r = make(2, 1, 0ms, {"o1", "o2"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  ASSERT_EQ(r.on_state("n1", "healthy", "", t0).start, 1u);
  launch(r, 1, next);
  // n1 (serving, batch 1) repeats itself: batch 2 (n2) is not healthy yet.
  for (const char* state : {"healthy", "ready"}) {
    auto s = r.on_state("n1", state, "", t0);
    EXPECT_TRUE(s.serve.empty()) << state;
    EXPECT_FALSE(s.finished) << state;
    EXPECT_EQ(r.phase(), rollout_phase::starting) << state;
  }
  EXPECT_TRUE(r.on_state("n2", "healthy", "", t0).finished);
}

TEST(Rollout, RetiredOldInstancesAreIgnoredWhileStarting) {
  auto r = make(2, 1, 0ms, {"o1", "o2"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  ASSERT_EQ(r.on_state("n1", "healthy", "", t0).retire, strings{"o1"});
  launch(r, 1, next);
  auto s = r.on_state("o1", "failed", "exited with code 1", t0);
  EXPECT_FALSE(s.failed) << "old instances are not the rollout's to judge";
  EXPECT_EQ(r.phase(), rollout_phase::starting);
  EXPECT_EQ(r.retired(), strings{"o1"});
}

TEST(Rollout, TickWhileStartingIsANoOp) {
  auto r = make(2, 1, 1s, {"o1", "o2"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  auto expect_nothing = [&](const rollout_step& s) {
    EXPECT_EQ(s.start, 0u);
    EXPECT_TRUE(s.serve.empty() && s.retire.empty() && s.stop.empty());
    EXPECT_FALSE(s.wake_at || s.finished || s.failed);
    EXPECT_EQ(r.phase(), rollout_phase::starting);
  };
  // Batch 1, nothing healthy: a (stray) timer long after changes nothing.
  expect_nothing(r.tick(t0 + 1h));
  r.on_state("n1", "healthy", "", t0);
  ASSERT_TRUE(r.tick(t0 + 1s).start == 1u);
  launch(r, 1, next);
  // Batch 2 starting: the old hold timer firing again does not switch it.
  expect_nothing(r.tick(t0 + 2s));
  EXPECT_EQ(r.old_serving(), strings{"o2"});
  EXPECT_EQ(r.new_instances(), (strings{"n1", "n2"}));
}

TEST(Rollout, AbortWhileStartingStopsTheLaunchedOnes) {
  auto r = make(2, 2, 1s, {"o1", "o2"});
  int next = 1;
  r.begin();
  launch(r, 2, next);
  r.on_state("n1", "healthy", "", t0);
  auto s = r.abort("the app is being deleted");
  EXPECT_TRUE(s.failed);
  EXPECT_EQ(s.why, "the app is being deleted");
  EXPECT_EQ(s.stop, (strings{"n1", "n2"}));
  EXPECT_TRUE(s.serve.empty()) << "no old instance had left";
  EXPECT_TRUE(s.retire.empty()) << "no new instance served";
  EXPECT_FALSE(s.wake_at);
  EXPECT_EQ(r.phase(), rollout_phase::failed);
  EXPECT_EQ(r.old_serving(), (strings{"o1", "o2"}));
  // Late news of the stopped instances changes nothing.
  EXPECT_FALSE(r.on_state("n2", "healthy", "", t0).wake_at);
  EXPECT_FALSE(r.on_state("n2", "stopped", "", t0).failed);
  EXPECT_TRUE(r.tick(t0 + 1h).serve.empty());
}

// -- holding ------------------------------------------------------------------------------

TEST(Rollout, HealthyAgainDuringTheHoldKeepsTheTimer) {
  auto r = make(1, 1, 1s, {"o1"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  ASSERT_TRUE(r.on_state("n1", "healthy", "", t0).wake_at);
  for (const char* state : {"healthy", "ready"}) {
    auto s = r.on_state("n1", state, "", t0 + 500ms);
    EXPECT_FALSE(s.wake_at) << state << ": the hold is not restarted";
    EXPECT_TRUE(s.serve.empty()) << state;
    EXPECT_EQ(r.phase(), rollout_phase::holding) << state;
  }
  auto s = r.tick(t0 + 1s);
  EXPECT_EQ(s.serve, strings{"n1"});
  EXPECT_TRUE(s.finished);
}

TEST(Rollout, ACrashDuringTheHoldFails) {
  for (const char* state : {"failed", "backoff", "crash-loop", "stopping", "stopped"}) {
    auto r = make(1, 1, 5s, {"o1"});
    int next = 1;
    r.begin();
    launch(r, 1, next);
    r.on_state("n1", "healthy", "", t0);
    ASSERT_EQ(r.phase(), rollout_phase::holding) << state;
    auto s = r.on_state("n1", state, "killed by signal 9", t0 + 1s);
    EXPECT_TRUE(s.failed) << state;
    EXPECT_EQ(s.why, std::string{"new instance n1 "} + state + ": killed by signal 9");
    EXPECT_EQ(s.stop, strings{"n1"}) << state;
    EXPECT_TRUE(s.serve.empty()) << state;
    EXPECT_TRUE(s.retire.empty()) << state << ": n1 never served";
    EXPECT_FALSE(s.wake_at) << state;
    EXPECT_EQ(r.phase(), rollout_phase::failed) << state;
    EXPECT_EQ(r.old_serving(), strings{"o1"}) << state;
    // The hold timer firing afterwards does nothing.
    s = r.tick(t0 + 5s);
    EXPECT_TRUE(s.serve.empty()) << state;
    EXPECT_FALSE(s.finished) << state;
  }
}

TEST(Rollout, FailureDuringTheHoldOfALaterBatchRestoresTheOld) {
  // Either the held instance of batch 2 or the serving one of batch 1 fails.
  for (const char* culprit : {"n2", "n1"}) {
    for (const char* state : {"unhealthy", "backoff", "failed"}) {
      SCOPED_TRACE(std::string{culprit} + " " + state);
      auto r = make(3, 1, 1s, {"o1", "o2", "o3"});
      int next = 1;
      r.begin();
      launch(r, 1, next);
      r.on_state("n1", "healthy", "", t0);
      auto s = r.tick(t0 + 1s);
      ASSERT_EQ(s.retire, strings{"o1"});
      launch(r, 1, next);
      s = r.on_state("n2", "healthy", "", t0 + 2s);
      ASSERT_EQ(r.phase(), rollout_phase::holding);
      ASSERT_TRUE(s.wake_at);

      s = r.on_state(culprit, state, "x", t0 + 2500ms);
      EXPECT_TRUE(s.failed);
      EXPECT_EQ(s.retire, strings{"n1"}) << "the new one that served leaves the balancer";
      EXPECT_EQ(s.serve, strings{"o1"}) << "the old one that left comes back";
      EXPECT_EQ(s.stop, (strings{"n1", "n2"}));
      EXPECT_EQ(s.start, 0u);
      EXPECT_TRUE(r.retired().empty());
      EXPECT_EQ(r.old_serving(), (strings{"o2", "o3", "o1"})) << "o2 and o3 never left";
      EXPECT_EQ(r.phase(), rollout_phase::failed);
      // The hold of batch 2 ending later does not switch anything.
      s = r.tick(t0 + 3s);
      EXPECT_TRUE(s.serve.empty());
      EXPECT_EQ(s.start, 0u);
    }
  }
}

TEST(Rollout, OldRetiredAndUnknownIdsAreIgnoredDuringTheHold) {
  auto r = make(2, 1, 1s, {"o1", "o2"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  r.on_state("n1", "healthy", "", t0);
  ASSERT_EQ(r.tick(t0 + 1s).retire, strings{"o1"});
  launch(r, 1, next);
  r.on_state("n2", "healthy", "", t0 + 1s);
  ASSERT_EQ(r.phase(), rollout_phase::holding);
  EXPECT_FALSE(r.on_state("o1", "failed", "", t0 + 1s).failed) << "retired";
  EXPECT_FALSE(r.on_state("o2", "unhealthy", "", t0 + 1s).failed) << "old, serving";
  EXPECT_FALSE(r.on_state("x9", "crash-loop", "", t0 + 1s).failed) << "unknown";
  EXPECT_EQ(r.phase(), rollout_phase::holding);
  auto s = r.tick(t0 + 2s);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(s.retire, strings{"o2"});
  EXPECT_EQ(r.retired(), (strings{"o1", "o2"}));
}

TEST(Rollout, AbortWhileHoldingCancelsTheHold) {
  auto r = make(2, 1, 1s, {"o1", "o2"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  r.on_state("n1", "healthy", "", t0);
  ASSERT_EQ(r.tick(t0 + 1s).retire, strings{"o1"});
  launch(r, 1, next);
  r.on_state("n2", "healthy", "", t0 + 1s);
  ASSERT_EQ(r.phase(), rollout_phase::holding);
  auto s = r.abort("the node is shutting down");
  EXPECT_TRUE(s.failed);
  EXPECT_EQ(s.why, "the node is shutting down");
  EXPECT_EQ(s.stop, (strings{"n1", "n2"}));
  EXPECT_EQ(s.retire, strings{"n1"});
  EXPECT_EQ(s.serve, strings{"o1"});
  EXPECT_EQ(r.phase(), rollout_phase::failed);
  s = r.tick(t0 + 2s);
  EXPECT_TRUE(s.serve.empty());
  EXPECT_FALSE(s.finished);
  EXPECT_EQ(r.phase(), rollout_phase::failed);
}

// -- done, failed -------------------------------------------------------------------------

TEST(Rollout, TickAfterTheEndIsANoOp) {
  auto r = make(1, 1, 1s, {"o1"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  r.on_state("n1", "healthy", "", t0);
  ASSERT_TRUE(r.tick(t0 + 1s).finished);
  auto s = r.tick(t0 + 2s);
  EXPECT_FALSE(s.finished);
  EXPECT_TRUE(s.serve.empty() && s.retire.empty() && s.stop.empty());
  EXPECT_FALSE(s.wake_at);
  EXPECT_EQ(s.start, 0u);
  EXPECT_EQ(r.phase(), rollout_phase::done);
}

TEST(Rollout, AbortAfterAFailureDoesNothing) {
  auto r = make(1, 1, 1s, {"o1"});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  ASSERT_TRUE(r.on_state("n1", "failed", "", t0).failed);
  auto s = r.abort("deleted");
  EXPECT_FALSE(s.failed);
  EXPECT_TRUE(s.stop.empty() && s.serve.empty());
  EXPECT_EQ(r.phase(), rollout_phase::failed);
}

TEST(Rollout, DescribeDoneAndFailed) {
  auto r = make(1, 1, 0ms, {});
  int next = 1;
  r.begin();
  launch(r, 1, next);
  r.on_state("n1", "healthy", "", t0);
  EXPECT_EQ(r.describe(), "batch 1/1: done, 1/1 new serving");
  auto f = make(2, 1, 0ms, {"o1"});
  f.begin();
  launch(f, 1, next);
  f.on_state("n2", "backoff", "", t0);
  EXPECT_EQ(f.describe(), "batch 1/2: failed, 0/2 new serving");
}
