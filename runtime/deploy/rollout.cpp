#include "runtime/deploy/rollout.hpp"

#include <algorithm>

namespace ika::deploy {

namespace {

/// States after which a new instance cannot be trusted with traffic.
bool is_failure(const std::string& state) {
  return state == "failed" || state == "backoff" || state == "crash-loop" || state == "unhealthy" ||
         state == "stopping" || state == "stopped";
}

std::string count_of(std::size_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

} // namespace

const char* to_string(rollout_phase phase) {
  switch (phase) {
    case rollout_phase::starting:
      return "starting";
    case rollout_phase::holding:
      return "holding";
    case rollout_phase::done:
      return "done";
    case rollout_phase::failed:
      return "failed";
  }
  return "?";
}

rollout::rollout(rollout_settings settings, std::vector<std::string> old_serving)
    : settings_(settings), old_(std::move(old_serving)) {
  settings_.target = std::max<std::uint32_t>(settings_.target, 1);
  settings_.max_surge = std::max<std::uint32_t>(settings_.max_surge, 1);
}

rollout_step rollout::begin() {
  return next_batch();
}

void rollout::launched(const std::string& id) {
  new_.push_back(id);
  batch_.push_back(member{id});
}

bool rollout::is_new(const std::string& id) const {
  return std::find(new_.begin(), new_.end(), id) != new_.end();
}

rollout::member* rollout::find(const std::string& id) {
  for (auto* list : {&batch_, &served_})
    for (auto& m : *list)
      if (m.id == id)
        return &m;
  return nullptr;
}

std::uint32_t rollout::serving_new() const {
  return static_cast<std::uint32_t>(served_.size());
}

rollout_step rollout::next_batch() {
  rollout_step step;
  batch_.clear();
  hold_until_.reset();
  batch_wanted_ = std::min(settings_.max_surge, settings_.target - serving_new());
  ++batch_number_;
  phase_ = rollout_phase::starting;
  step.start = batch_wanted_;
  return step;
}

rollout_step rollout::fail(std::string why) {
  rollout_step step;
  phase_ = rollout_phase::failed;
  hold_until_.reset();
  step.failed = true;
  step.why = std::move(why);
  // The new ones leave the balancer and stop; the old ones that left it
  // come back.
  for (const auto& m : served_)
    step.retire.push_back(m.id);
  step.stop = new_;
  step.serve = retired_;
  old_.insert(old_.end(), retired_.begin(), retired_.end());
  retired_.clear();
  return step;
}

rollout_step rollout::abort(std::string why) {
  if (!active())
    return {};
  return fail(std::move(why));
}

rollout_step rollout::on_state(const std::string& id, const std::string& state, const std::string& detail,
                               clock::time_point now) {
  if (!active() || !is_new(id))
    return {};
  auto* m = find(id);
  if (m == nullptr)
    return {};
  m->state = state;
  if (is_failure(state)) {
    auto why = "new instance " + id + " " + state;
    if (!detail.empty())
      why += ": " + detail;
    return fail(std::move(why));
  }
  if (phase_ != rollout_phase::starting || batch_.size() < batch_wanted_)
    return {};
  bool all = std::all_of(batch_.begin(), batch_.end(), [](const member& b) { return b.state == "healthy"; });
  if (!all)
    return {};
  phase_ = rollout_phase::holding;
  hold_until_ = now + settings_.hold;
  if (settings_.hold.count() == 0)
    return tick(now);
  rollout_step step;
  step.wake_at = hold_until_;
  return step;
}

rollout_step rollout::tick(clock::time_point now) {
  if (phase_ != rollout_phase::holding || !hold_until_)
    return {};
  if (now < *hold_until_) {
    rollout_step step;
    step.wake_at = hold_until_;
    return step;
  }
  // The batch stayed healthy for the hold time: it joins the balancer and
  // as many old instances leave it.
  rollout_step step;
  for (auto& m : batch_) {
    m.serving = true;
    step.serve.push_back(m.id);
    served_.push_back(m);
  }
  auto leaving = std::min(batch_.size(), old_.size());
  if (serving_new() >= settings_.target)
    leaving = old_.size();
  step.retire.assign(old_.begin(), old_.begin() + static_cast<std::ptrdiff_t>(leaving));
  retired_.insert(retired_.end(), step.retire.begin(), step.retire.end());
  old_.erase(old_.begin(), old_.begin() + static_cast<std::ptrdiff_t>(leaving));
  batch_.clear();
  if (serving_new() >= settings_.target) {
    phase_ = rollout_phase::done;
    hold_until_.reset();
    step.finished = true;
    return step;
  }
  auto next = next_batch();
  step.start = next.start;
  return step;
}

std::string rollout::describe() const {
  auto batches = (settings_.target + settings_.max_surge - 1) / settings_.max_surge;
  std::string out = "batch " + std::to_string(batch_number_) + "/" + std::to_string(batches) + ": ";
  switch (phase_) {
    case rollout_phase::starting: {
      auto healthy =
          std::count_if(batch_.begin(), batch_.end(), [](const member& m) { return m.state == "healthy"; });
      out += "starting " + count_of(batch_wanted_, "instance") + " (" + std::to_string(healthy) + " healthy)";
      break;
    }
    case rollout_phase::holding:
      out += "holding " + std::to_string(settings_.hold.count()) + " ms";
      break;
    case rollout_phase::done:
      out += "done";
      break;
    case rollout_phase::failed:
      out += "failed";
      break;
  }
  out += ", " + std::to_string(serving_new()) + "/" + std::to_string(settings_.target) + " new serving";
  return out;
}

} // namespace ika::deploy
