// The instance actor's pure parts: restart backoff, the environment an
// instance gets, the words for its states. (Its life with real processes
// is covered by tests/integration/test_apps.py.)

#include "actors/instance.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace ika::actors {
namespace {

using namespace std::chrono_literals;

TEST(instance_backoff, doubles_from_half_a_second_and_stops_at_thirty) {
  EXPECT_EQ(restart_delay(1), 500ms);
  EXPECT_EQ(restart_delay(2), 1000ms);
  EXPECT_EQ(restart_delay(3), 2000ms);
  EXPECT_EQ(restart_delay(6), 16000ms);
  EXPECT_EQ(restart_delay(7), 30000ms);
  EXPECT_EQ(restart_delay(1000), 30000ms);
  EXPECT_EQ(restart_delay(0), 500ms);
}

instance_config config_with(std::map<std::string, std::string> env) {
  instance_config c;
  c.id = "hello-production-3";
  c.app = "hello/production";
  c.release.manifest.env = std::move(env);
  c.runtime = std::make_shared<instance_runtime>();
  c.runtime->path = "/usr/bin:/bin";
  c.runtime->home = "/home/ika";
  return c;
}

bool has(const std::vector<std::string>& env, const std::string& entry) {
  return std::find(env.begin(), env.end(), entry) != env.end();
}

TEST(instance_environment, is_clean_and_complete) {
  auto env = instance_environment(config_with({{"GREETING", "hi"}}), 41234, 3);
  EXPECT_TRUE(has(env, "PATH=/usr/bin:/bin"));
  EXPECT_TRUE(has(env, "HOME=/home/ika"));
  EXPECT_TRUE(has(env, "GREETING=hi"));
  EXPECT_TRUE(has(env, "PORT=41234"));
  EXPECT_TRUE(has(env, "HOST=127.0.0.1"));
  EXPECT_TRUE(has(env, "IKA_APP=hello/production"));
  EXPECT_TRUE(has(env, "IKA_INSTANCE=hello-production-3"));
  EXPECT_TRUE(has(env, "IKA_READY_FD=3"));
  EXPECT_EQ(env.size(), 8u) << "nothing of ika's own environment may leak in";
}

TEST(instance_environment, the_app_may_replace_path_and_home) {
  auto env = instance_environment(config_with({{"PATH", "/app/venv/bin:/usr/bin"}, {"HOME", "/srv"}}), 1, 3);
  EXPECT_TRUE(has(env, "PATH=/app/venv/bin:/usr/bin"));
  EXPECT_TRUE(has(env, "HOME=/srv"));
  EXPECT_FALSE(has(env, "PATH=/usr/bin:/bin"));
  EXPECT_EQ(std::count_if(env.begin(), env.end(), [](const auto& e) { return e.rfind("PATH=", 0) == 0; }), 1);
}

TEST(instance_phase_words, are_what_status_prints) {
  EXPECT_STREQ(to_string(instance_phase::healthy), "healthy");
  EXPECT_STREQ(to_string(instance_phase::backoff), "backoff");
  EXPECT_STREQ(to_string(instance_phase::backoff, true), "crash-loop");
  EXPECT_STREQ(to_string(instance_phase::failed), "failed");
}

} // namespace
} // namespace ika::actors
