// libFuzzer target for app manifests (runtime/config/app_manifest.hpp): the
// `ika.toml` that `ika deploy` packs and the node reads again from the
// release it stores. A broken manifest must be an error naming what is
// wrong, never a crash, a hang or an exception. Checked, beyond "no crash,
// leak, UB or overflow":
//
// - an error has a message;
// - an accepted manifest has a valid app name and environment, a program
//   to run, at most 64 instances, at least one route, and no environment
//   variable with an invalid or reserved name;
// - parsing the same text twice gives the same answer.
//
// The input is the TOML text as it is (the seed corpus holds the example
// apps' manifests and hand-made broken ones).
//
// Build and run: FUZZ_TARGET=manifest tests/fuzz/run (see tests/fuzz/README.md).

#include "runtime/config/app_manifest.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <variant>

namespace {

using namespace ika::config;

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "manifest_fuzz: contract violated: %s\n", what);
  std::abort();
}

void check(const manifest_result& r) {
  if (const auto* e = std::get_if<config_error>(&r)) {
    if (e->message.empty())
      violated("an error without a message");
    return;
  }
  const auto& m = std::get<app_manifest>(r);
  if (!valid_app_name(m.name))
    violated("an accepted manifest with an invalid name");
  if (!valid_app_name(m.environment))
    violated("an accepted manifest with an invalid environment");
  if (m.instances > max_app_instances)
    violated("more instances than the maximum");
  if (m.routes.empty())
    violated("an accepted manifest without a route");
  if (m.command.empty() || m.command.front().empty())
    violated("an accepted manifest without a program to run");
  for (const auto& [name, value] : m.env) {
    if (!valid_env_name(name))
      violated("an invalid environment variable name accepted");
    if (!reserved_env_reason(name).empty())
      violated("a reserved environment variable accepted");
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto first = parse_app_manifest(text, "ika.toml");
  check(first);
  auto second = parse_app_manifest(text, "ika.toml");
  if (first.index() != second.index())
    violated("the same text parsed twice gave different answers");
  if (const auto* e = std::get_if<config_error>(&first)) {
    if (e->to_string() != std::get<config_error>(second).to_string())
      violated("the same text parsed twice gave different errors");
  } else if (std::get<app_manifest>(first).id() != std::get<app_manifest>(second).id()) {
    violated("the same text parsed twice gave different apps");
  }
  return 0;
}
