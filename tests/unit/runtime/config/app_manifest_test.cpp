#include "runtime/config/app_manifest.hpp"

#include "tests/support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace ika::config {
namespace {

using namespace std::chrono_literals;
using ika::test::temp_dir;

app_manifest parse_manifest_ok(const std::string& text) {
  auto result = parse_app_manifest(text, "ika.toml");
  if (auto* error = std::get_if<config_error>(&result)) {
    ADD_FAILURE() << "unexpected error: " << error->to_string();
    return {};
  }
  return std::get<app_manifest>(result);
}

config_error parse_manifest_error(const std::string& text) {
  auto result = parse_app_manifest(text, "ika.toml");
  if (auto* error = std::get_if<config_error>(&result))
    return *error;
  return config_error{"", 0, "", "parsed without an error"};
}

// Lines 1-5 of most tests; what a test appends starts on line 6.
const std::string base = "name = \"hello\"\n"
                         "command = [\"python3\", \"app.py\"]\n"
                         "[[routes]]\n"
                         "host = \"hello.localhost\"\n"
                         "\n";

// The error for `base` followed by `extra` (which starts on line 6).
config_error error_with(const std::string& extra) {
  return parse_manifest_error(base + extra);
}

TEST(AppManifestTest, FullFile) {
  auto m = parse_manifest_ok(R"(name = "hello"
environment = "staging"
command = ["python3", "app.py", "--port", "$PORT"]
instances = 3
stop_timeout = "5s"
start_timeout = "1m"

[[routes]]
host = "Hello.Example.COM"
path = "/api/*"

[[routes]]
host = "*.hello.localhost"

[env]
GREETING = "hi"
PATH = "/app/venv/bin:/usr/bin"
_x1 = ""

[health]
path = "/healthz"
interval = "5s"
timeout = "500ms"
healthy_threshold = 1
unhealthy_threshold = 5
)");
  EXPECT_EQ(m.name, "hello");
  EXPECT_EQ(m.environment, "staging");
  EXPECT_EQ(m.id(), "hello/staging");
  EXPECT_EQ(m.command, (std::vector<std::string>{"python3", "app.py", "--port", "$PORT"}));
  EXPECT_EQ(m.instances, 3u);
  EXPECT_EQ(m.stop_timeout, 5s);
  EXPECT_EQ(m.start_timeout, 60s);
  ASSERT_EQ(m.routes.size(), 2u);
  EXPECT_EQ(m.routes[0], (app_route{"hello.example.com", "/api/*"}));
  EXPECT_EQ(m.routes[1], (app_route{"*.hello.localhost", "/*"}));
  EXPECT_EQ(m.env, (std::map<std::string, std::string>{
                       {"GREETING", "hi"}, {"PATH", "/app/venv/bin:/usr/bin"}, {"_x1", ""}}));
  ASSERT_TRUE(m.health.has_value());
  EXPECT_EQ(m.health->path, "/healthz");
  EXPECT_EQ(m.health->interval, 5s);
  EXPECT_EQ(m.health->timeout, 500ms);
  EXPECT_EQ(m.health->healthy_threshold, 1u);
  EXPECT_EQ(m.health->unhealthy_threshold, 5u);
}

TEST(AppManifestTest, Defaults) {
  auto m = parse_manifest_ok(base);
  EXPECT_EQ(m.environment, "production");
  EXPECT_EQ(m.id(), "hello/production");
  EXPECT_EQ(m.instances, 1u);
  EXPECT_EQ(m.stop_timeout, 10s);
  EXPECT_EQ(m.start_timeout, 30s);
  EXPECT_TRUE(m.env.empty());
  EXPECT_FALSE(m.health.has_value());
  ASSERT_EQ(m.routes.size(), 1u);
  EXPECT_EQ(m.routes[0].path, "/*");
  EXPECT_EQ(m.rollout.max_surge, 1u);
  EXPECT_EQ(m.rollout.hold, 1s);
  EXPECT_EQ(m.rollout.drain_timeout, 30s);
  EXPECT_EQ(m.demand.idle_timeout, 5min);
  EXPECT_EQ(m.demand.max_waiters, 1000u);
  EXPECT_EQ(m.demand.wait_timeout, 30s);

  auto tuned =
      parse_manifest_ok("instances = 0\n" + base +
                        "[deploy]\nmax_surge = 2\nhold = \"0s\"\ndrain_timeout = \"5s\"\n"
                        "[on_demand]\nidle_timeout = \"2s\"\nmax_waiters = 3\nwait_timeout = \"750ms\"\n");
  EXPECT_EQ(tuned.instances, 0u);
  EXPECT_EQ(tuned.rollout.max_surge, 2u);
  EXPECT_EQ(tuned.rollout.hold, 0ms);
  EXPECT_EQ(tuned.rollout.drain_timeout, 5s);
  EXPECT_EQ(tuned.demand.idle_timeout, 2s);
  EXPECT_EQ(tuned.demand.max_waiters, 3u);
  EXPECT_EQ(tuned.demand.wait_timeout, 750ms);

  auto h = parse_manifest_ok(base + "[health]\npath = \"/up\"\n");
  ASSERT_TRUE(h.health.has_value());
  EXPECT_EQ(h.health->interval, 10s);
  EXPECT_EQ(h.health->timeout, 2s);
  EXPECT_EQ(h.health->healthy_threshold, 2u);
  EXPECT_EQ(h.health->unhealthy_threshold, 3u);

  auto inline_routes = parse_manifest_ok(
      "name = \"a\"\ncommand = [\"x\"]\nroutes = [{host = \"*\"}, {host = \"b\", path = \"/x\"}]\n");
  EXPECT_EQ(inline_routes.routes.size(), 2u);
}

TEST(AppManifestTest, ErrorsNameFileLineAndKey) {
  auto e =
      parse_manifest_error("name = \"hello\"\ncommand = [\"x\"]\ninstances = -1\n[[routes]]\nhost = \"a\"\n");
  EXPECT_EQ(e.to_string(), "ika.toml:3: instances: must be between 0 and 64, got -1");

  // After [[routes]], a key belongs to the route.
  auto late = error_with("instances = 2\n");
  EXPECT_EQ(late.to_string().rfind("ika.toml:6: routes[1].instances: unknown key", 0), 0u)
      << late.to_string();
}

// Found by the manifest fuzzer (tests/fuzz/crashes/manifest-nul-in-table-header):
// a header-only toml++ with assertions aborts here; ika's does not.
TEST(AppManifestTest, NulBytesAreACleanError) {
  using namespace std::string_literals;
  auto e = error_with("[\0\0\0\0\0\0\0\0]\nhost = \"a..b\"\n"s);
  EXPECT_EQ(e.line, 6);
  EXPECT_NE(e.message.find("expected bare key starting character"), std::string::npos) << e.to_string();
  auto in_value = error_with("[env]\nA = \"x\0y\"\n"s);
  EXPECT_EQ(in_value.line, 7) << in_value.to_string();
}

struct bad_case {
  std::string text; // appended to base unless whole
  int line;
  std::string key;
  std::string message_part;
};

TEST(AppManifestTest, EachBadKeyIsNamedWithItsLine) {
  // Top-level keys must come before [[routes]]: these go in a file of their own.
  std::vector<bad_case> top{
      {"name = \"Hello\"\ncommand = [\"x\"]\n", 1, "name", "invalid app name 'Hello'"},
      {"name = \"a-\"\ncommand = [\"x\"]\n", 1, "name", "invalid app name"},
      {"name = \"" + std::string(64, 'a') + "\"\ncommand = [\"x\"]\n", 1, "name", "invalid app name"},
      {"name = \"9lives\"\ncommand = [\"x\"]\n", 1, "name", "invalid app name"},
      {"name = \"a_b\"\ncommand = [\"x\"]\n", 1, "name", "invalid app name"},
      {"name = 5\ncommand = [\"x\"]\n", 1, "name", "expected a string"},
      {"name = \"a\"\nenvironment = \"Prod\"\ncommand = [\"x\"]\n", 2, "environment",
       "invalid environment name"},
      {"name = \"a\"\ncommand = []\n", 2, "command", "empty command"},
      {"name = \"a\"\ncommand = \"python3 app.py\"\n", 2, "command", "expected an array of strings"},
      {"name = \"a\"\ncommand = [\"x\",\n 3]\n", 3, "command[2]", "expected a string"},
      {"name = \"a\"\ncommand = [\"\"]\n", 2, "command[1]", "empty program name"},
      {"name = \"a\"\ncommand = [\"x\"]\ninstances = 65\n", 3, "instances", "between 0 and 64"},
      {"name = \"a\"\ncommand = [\"x\"]\n[deploy]\nmax_surge = 0\n", 4, "deploy.max_surge",
       "between 1 and 64"},
      {"name = \"a\"\ncommand = [\"x\"]\n[deploy]\nsurge = 1\n", 4, "deploy.surge", "unknown key"},
      {"name = \"a\"\ncommand = [\"x\"]\n[deploy]\ndrain_timeout = \"0s\"\n", 4, "deploy.drain_timeout",
       "greater than 0"},
      {"name = \"a\"\ncommand = [\"x\"]\n[on_demand]\nmax_waiters = 0\n", 4, "on_demand.max_waiters",
       "between 1 and 100000"},
      {"name = \"a\"\ncommand = [\"x\"]\n[on_demand]\nidle_timeout = 5\n", 4, "on_demand.idle_timeout",
       "needs a unit"},
      {"name = \"a\"\ncommand = [\"x\"]\ninstances = \"2\"\n", 3, "instances", "expected an integer"},
      {"name = \"a\"\ncommand = [\"x\"]\nstop_timeout = 10\n", 3, "stop_timeout", "needs a unit"},
      {"name = \"a\"\ncommand = [\"x\"]\nstop_timeout = \"10 seconds\"\n", 3, "stop_timeout",
       "invalid duration"},
      {"name = \"a\"\ncommand = [\"x\"]\nstart_timeout = \"0s\"\n", 3, "start_timeout", "greater than 0"},
      {"name = \"a\"\ncommand = [\"x\"]\nenv = \"staging\"\n", 3, "env",
       "the environment name is the key 'environment'"},
  };
  for (const auto& c : top) {
    auto text = c.text;
    if (text.find("routes") == std::string::npos)
      text += "[[routes]]\nhost = \"a\"\n";
    auto e = parse_manifest_error(text);
    EXPECT_EQ(e.file, "ika.toml") << c.text;
    EXPECT_EQ(e.line, c.line) << c.text << " -> " << e.to_string();
    EXPECT_EQ(e.key, c.key) << c.text << " -> " << e.to_string();
    EXPECT_NE(e.message.find(c.message_part), std::string::npos) << c.text << " -> " << e.to_string();
  }

  std::vector<bad_case> appended{
      {"[[routes]]\nhost = \"Bad Host\"\n", 7, "routes[2].host", "invalid host pattern"},
      {"[[routes]]\nhost = \"a:80\"\n", 7, "routes[2].host", "invalid host pattern"},
      {"[[routes]]\nhost = \"\"\n", 7, "routes[2].host", "empty host pattern"},
      {"[[routes]]\nhost = \"a\"\npath = \"api\"\n", 8, "routes[2].path", "invalid path pattern"},
      {"[[routes]]\npath = \"/x\"\n", 6, "routes[2].host", "required key is missing"},
      {"[[routes]]\nhost = \"a\"\nport = 80\n", 8, "routes[2].port", "unknown key"},
      {"[env]\nGOOD = \"1\"\nPORT = \"8080\"\n", 8, "env.PORT", "PORT is set by ika"},
      {"[env]\nHOST = \"0.0.0.0\"\n", 7, "env.HOST", "HOST is set by ika"},
      {"[env]\nIKA_APP = \"x\"\n", 7, "env.IKA_APP", "reserved for ika"},
      {"[env]\n\"1BAD\" = \"x\"\n", 7, "env.1BAD", "invalid variable name"},
      {"[env]\n\"A-B\" = \"x\"\n", 7, "env.A-B", "invalid variable name"},
      {"[env]\nDEBUG = true\n", 7, "env.DEBUG", "quote it"},
      {"[health]\ninterval = \"5s\"\n", 6, "health.path", "required key is missing"},
      {"[health]\npath = \"healthz\"\n", 7, "health.path", "invalid health path"},
      {"[health]\npath = \"/h\"\ninterval = \"1s\"\ntimeout = \"2s\"\n", 9, "health.timeout",
       "exceeds health.interval"},
      {"[health]\npath = \"/h\"\nhealthy_threshold = 0\n", 8, "health.healthy_threshold",
       "between 1 and 100"},
      {"[health]\npath = \"/h\"\nunhealthy_threshold = 101\n", 8, "health.unhealthy_threshold",
       "between 1 and 100"},
      {"[health]\npath = \"/h\"\nretries = 3\n", 8, "health.retries", "unknown key"},
  };
  for (const auto& c : appended) {
    auto e = error_with(c.text);
    EXPECT_EQ(e.line, c.line) << c.text << " -> " << e.to_string();
    EXPECT_EQ(e.key, c.key) << c.text << " -> " << e.to_string();
    EXPECT_NE(e.message.find(c.message_part), std::string::npos) << c.text << " -> " << e.to_string();
  }
}

TEST(AppManifestTest, UnknownTopLevelKeyIsNamed) {
  auto e = parse_manifest_error(
      "name = \"a\"\ncommand = [\"x\"]\nreplicas = 2\nimage = \"x\"\n[[routes]]\nhost = \"a\"\n");
  EXPECT_EQ(e.line, 3);
  EXPECT_EQ(e.key, "replicas");
  EXPECT_NE(e.message.find("unknown key"), std::string::npos);
  EXPECT_NE(e.message.find("instances"), std::string::npos); // lists what is known

  auto table = parse_manifest_error(base + "[database]\nurl = \"x\"\n");
  EXPECT_EQ(table.key, "database");
}

TEST(AppManifestTest, MissingRequiredKeys) {
  auto no_name = parse_manifest_error("command = [\"x\"]\n[[routes]]\nhost = \"a\"\n");
  EXPECT_EQ(no_name.key, "name");
  EXPECT_EQ(no_name.line, 0);
  EXPECT_EQ(no_name.to_string().rfind("ika.toml: name: required key is missing", 0), 0u)
      << no_name.to_string();

  auto no_command = parse_manifest_error("name = \"a\"\n[[routes]]\nhost = \"a\"\n");
  EXPECT_EQ(no_command.key, "command");

  auto no_routes = parse_manifest_error("name = \"a\"\ncommand = [\"x\"]\n");
  EXPECT_EQ(no_routes.key, "routes");
  EXPECT_NE(no_routes.message.find("at least one"), std::string::npos);

  auto empty_routes = parse_manifest_error("name = \"a\"\ncommand = [\"x\"]\nroutes = []\n");
  EXPECT_EQ(empty_routes.key, "routes");
  EXPECT_EQ(empty_routes.line, 3);
}

TEST(AppManifestTest, DuplicateRoutesAreRefused) {
  auto e = error_with("[[routes]]\nhost = \"HELLO.localhost\"\npath = \"/*\"\n");
  EXPECT_EQ(e.key, "routes[2]");
  EXPECT_EQ(e.line, 6);
  EXPECT_NE(e.message.find("duplicate route"), std::string::npos);
  EXPECT_NE(e.message.find("routes[1]"), std::string::npos);

  // Same host, other path: fine.
  auto m = parse_manifest_ok(base + "[[routes]]\nhost = \"hello.localhost\"\npath = \"/api/*\"\n");
  EXPECT_EQ(m.routes.size(), 2u);
}

TEST(AppManifestTest, TomlSyntaxErrorHasALine) {
  auto e = parse_manifest_error("name = \"a\"\ncommand = [\"x\"\n");
  EXPECT_EQ(e.file, "ika.toml");
  EXPECT_GE(e.line, 2);
  EXPECT_TRUE(e.key.empty());
  EXPECT_FALSE(e.message.empty());
}

TEST(AppManifestTest, Names) {
  EXPECT_TRUE(valid_app_name("a"));
  EXPECT_TRUE(valid_app_name("hello-world-2"));
  EXPECT_TRUE(valid_app_name("a" + std::string(62, 'b')));
  EXPECT_FALSE(valid_app_name("a" + std::string(63, 'b')));
  EXPECT_FALSE(valid_app_name("Hello"));
  EXPECT_FALSE(valid_app_name("a-"));
  EXPECT_FALSE(valid_app_name("-a"));
  EXPECT_FALSE(valid_app_name("1a"));
  EXPECT_FALSE(valid_app_name(""));
  EXPECT_FALSE(valid_app_name("a.b"));
  EXPECT_FALSE(valid_app_name("a/b"));

  EXPECT_EQ(instance_id_prefix("hello/staging"), "hello-staging");
  EXPECT_EQ(instance_id_of("hello/production", "hello-production-3"), "hello-production-3");
  EXPECT_EQ(instance_id_of("hello/production", "3"), "hello-production-3");
  EXPECT_EQ(instance_id_of("hello/production", "99"), "hello-production-99");
  EXPECT_EQ(instance_id_of("hello/production", "other-production-3"), "");
  EXPECT_EQ(instance_id_of("hello/production", "hello-production-"), "");
  EXPECT_EQ(instance_id_of("hello/production", "hello-production-3x"), "");
  EXPECT_EQ(instance_id_of("hello/production", "hello-staging-3"), "");
  EXPECT_EQ(instance_id_of("hello/production", "-3"), "");
  EXPECT_EQ(instance_id_of("hello/production", "1234567890"), "");
  EXPECT_EQ(instance_id_of("hello/production", ""), "");

  EXPECT_TRUE(valid_env_name("PATH"));
  EXPECT_TRUE(valid_env_name("_a1"));
  EXPECT_FALSE(valid_env_name("1A"));
  EXPECT_FALSE(valid_env_name("A=B"));
  EXPECT_FALSE(valid_env_name(""));
  EXPECT_FALSE(reserved_env_reason("PORT").empty());
  EXPECT_FALSE(reserved_env_reason("HOST").empty());
  EXPECT_FALSE(reserved_env_reason("IKA_READY_FD").empty());
  EXPECT_TRUE(reserved_env_reason("PATH").empty());
  EXPECT_TRUE(reserved_env_reason("IKAX").empty());
}

TEST(AppManifestTest, LoadFromFile) {
  temp_dir dir{"ika-manifest"};
  auto file = dir.write("ika.toml", base);
  auto ok = load_app_manifest(file);
  ASSERT_TRUE(std::holds_alternative<app_manifest>(ok));
  EXPECT_EQ(std::get<app_manifest>(ok).name, "hello");

  std::ofstream{file} << "instances = 100\n" << base;
  auto bad = load_app_manifest(file);
  ASSERT_TRUE(std::holds_alternative<config_error>(bad));
  EXPECT_EQ(std::get<config_error>(bad).file, file);
  EXPECT_EQ(std::get<config_error>(bad).line, 1);
  EXPECT_EQ(std::get<config_error>(bad).key, "instances");

  auto missing = load_app_manifest(dir / "nope.toml");
  ASSERT_TRUE(std::holds_alternative<config_error>(missing));
  EXPECT_NE(std::get<config_error>(missing).message.find("cannot open"), std::string::npos);
}

TEST(AppManifestTest, CacheSection) {
  auto m = parse_manifest_ok(base + "[cache]\nenabled = true\nmax_object = \"1MiB\"\nset_cookie = true\n");
  EXPECT_TRUE(m.cache.enabled);
  EXPECT_EQ(m.cache.max_object, 1u << 20);
  EXPECT_TRUE(m.cache.set_cookie);
  auto d = parse_manifest_ok(base);
  EXPECT_FALSE(d.cache.enabled);
  EXPECT_EQ(d.cache.max_object, 0u);
  auto e = error_with("[cache]\nenable = true\n");
  EXPECT_EQ(e.key, "cache.enable");
  EXPECT_EQ(error_with("[cache]\nenabled = 1\n").message, "expected true or false, got an integer");
}

TEST(AppManifestTest, TlsSection) {
  auto d = parse_manifest_ok(base);
  EXPECT_EQ(d.tls.mode, "auto");
  EXPECT_TRUE(d.tls.redirect);
  for (std::string mode : {"auto", "acme", "self-signed", "off"}) {
    auto m = parse_manifest_ok(base + "[tls]\nmode = \"" + mode + "\"\nredirect = false\n");
    EXPECT_EQ(m.tls.mode, mode);
    EXPECT_FALSE(m.tls.redirect);
  }
  auto e = error_with("[tls]\nmode = \"letsencrypt\"\n");
  EXPECT_EQ(e.key, "tls.mode");
  EXPECT_NE(e.message.find("unknown mode 'letsencrypt'"), std::string::npos);
  EXPECT_EQ(error_with("[tls]\ncert = \"a\"\n").key, "tls.cert");
}

} // namespace
} // namespace ika::config
