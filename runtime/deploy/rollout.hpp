#pragma once
// A rolling update as an explicit state machine, free of actors, clocks and
// processes so that every transition is unit-tested; the `app` actor feeds
// it events and carries out the steps it returns.
//
//   begin ──> starting(batch k) ──all healthy──> holding(batch k)
//                  │                                  │ hold elapsed, still healthy
//                  │                                  v
//                  │                       switch: batch k serves, as many
//                  │                       old instances leave the balancer
//                  │                                  │
//                  │            more to start <───────┴───────> all new serve: done
//                  │
//   any new instance failed / crashed / unhealthy (in any phase) ──> failed
//
// A batch is at most `max_surge` new instances, started out of traffic.
// Old instances that leave the balancer are kept running (idle, draining)
// until the rollout is done: a failure in a later batch then puts exactly
// the processes that served before back into the balancer, untouched and
// without a cold start. On done the app drains and stops them.
//
// Instances are named by the ids the app gives them; states are the words
// instance actors report ("starting", "ready", "healthy", "unhealthy",
// "backoff", "crash-loop", "failed", "stopping", "stopped").

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ika::deploy {

enum class rollout_phase : std::uint8_t {
  starting, ///< the current batch's new instances are starting
  holding,  ///< all of the batch is healthy; waiting out the hold time
  done,     ///< every new instance serves; the old ones may go
  failed,   ///< stopped; the old instances serve again
};

const char* to_string(rollout_phase phase);

struct rollout_settings {
  std::uint32_t target = 1;    ///< new instances wanted (>= 1)
  std::uint32_t max_surge = 1; ///< new instances per batch (>= 1)
  std::chrono::milliseconds hold{1000};
};

/// What the app must do after an event. Fields are independent; an empty
/// step means "nothing, wait for the next event".
struct rollout_step {
  std::uint32_t start = 0;         ///< start this many new instances (then call launched() for each)
  std::vector<std::string> serve;  ///< put these into the load balancer
  std::vector<std::string> retire; ///< take these out of it (old ones: keep running until done)
  std::vector<std::string> stop;   ///< stop these (failure: the new ones)
  std::optional<std::chrono::steady_clock::time_point> wake_at; ///< call tick() then
  bool finished = false;                                        ///< done: drain and stop every old instance
  bool failed = false;                                          ///< failed: `why` says why
  std::string why;
};

class rollout {
public:
  using clock = std::chrono::steady_clock;

  /// `old_serving`: the instances in the load balancer now (may be empty).
  rollout(rollout_settings settings, std::vector<std::string> old_serving);

  /// Starts the first batch.
  rollout_step begin();
  /// The app started new instance `id` for the current batch.
  void launched(const std::string& id);
  /// An instance reported `state` (with `detail`, why).
  rollout_step on_state(const std::string& id, const std::string& state, const std::string& detail,
                        clock::time_point now);
  /// A timer asked for with wake_at fired.
  rollout_step tick(clock::time_point now);
  /// Gives up (e.g. the app is being deleted): the same step as a failure.
  rollout_step abort(std::string why);

  rollout_phase phase() const { return phase_; }
  bool active() const { return phase_ == rollout_phase::starting || phase_ == rollout_phase::holding; }
  /// Every new instance so far, and the old instances still in the balancer.
  const std::vector<std::string>& new_instances() const { return new_; }
  const std::vector<std::string>& old_serving() const { return old_; }
  /// Old instances taken out of the balancer (running, idle) so far.
  const std::vector<std::string>& retired() const { return retired_; }
  /// One line for `ika status`, e.g. "batch 2/3: holding (1 healthy), 2/4 new serving".
  std::string describe() const;

private:
  struct member {
    std::string id;
    std::string state = "starting";
    bool serving = false;
  };

  rollout_step next_batch();
  rollout_step fail(std::string why);
  bool is_new(const std::string& id) const;
  member* find(const std::string& id);
  std::uint32_t serving_new() const;

  rollout_settings settings_;
  rollout_phase phase_ = rollout_phase::starting;
  std::vector<std::string> old_;
  std::vector<std::string> retired_;
  std::vector<std::string> new_;
  std::vector<member> batch_;  ///< the current batch
  std::vector<member> served_; ///< new instances of earlier batches (serving)
  std::uint32_t batch_number_ = 0;
  std::uint32_t batch_wanted_ = 0;
  std::optional<clock::time_point> hold_until_;
};

} // namespace ika::deploy
