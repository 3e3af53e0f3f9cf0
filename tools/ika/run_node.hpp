#pragma once

#include "runtime/config/node_config.hpp"

#include <optional>
#include <string>

namespace ika::tools {

/// A node that runs apps: its data dir and admin address (`ika serve`).
/// Without one the node only proxies (`ika proxy`).
struct platform_options {
  std::string data_dir;
  std::string admin = "127.0.0.1:7700";
};

/// Runs a node until SIGTERM (graceful drain, exit 0) or SIGINT (fast
/// exit). Prints one "ika: listening on http://ADDR (NAME)" line per
/// listener on stdout once all are bound, then (with a platform) "ika: admin
/// on ADDR (mutual TLS)". Returns the process exit code.
int run_node(config::node_config config, const std::optional<platform_options>& platform = std::nullopt);

} // namespace ika::tools
