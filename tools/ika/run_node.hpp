#pragma once

#include "runtime/config/node_config.hpp"

namespace ika::tools {

/// Runs a node until SIGTERM (graceful drain, exit 0) or SIGINT (fast
/// exit). Prints one "ika: listening on http://ADDR (NAME)" line per
/// listener on stdout once all are bound. Returns the process exit code.
int run_node(config::node_config config);

} // namespace ika::tools
