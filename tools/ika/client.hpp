#pragma once
// The `ika` client commands: each connects to a node's admin actor over
// mutual TLS and sends it one typed message (two for deploy: upload, then
// deploy). The node is found through its data dir (the address it wrote,
// its admin credentials) or named with --node and --credentials.

#include <cstdint>
#include <string>

namespace ika::tools {

/// How a client command finds its node and prints.
struct client_options {
  std::string data_dir;    ///< default: data_dir_default()
  std::string node;        ///< admin address; default: the one in the data dir
  std::string credentials; ///< PEM file; default: the data dir's admin credentials
  bool json = false;
};

/// $IKA_DATA, else ~/.local/share/ika.
std::string data_dir_default();

/// "hello" → "hello/production"; validates both names. Empty on error
/// (with `error` set).
std::string normalize_app_id(const std::string& app, std::string& error);

int deploy_command(const client_options& o, const std::string& dir);
int apps_command(const client_options& o);
int status_command(const client_options& o, const std::string& app);
int scale_command(const client_options& o, const std::string& app, std::uint32_t instances);
int logs_command(const client_options& o, const std::string& app, const std::string& instance,
                 std::uint32_t lines, bool follow);
int stop_command(const client_options& o, const std::string& app);
int start_command(const client_options& o, const std::string& app);
int delete_command(const client_options& o, const std::string& app);
/// `ika releases APP`: the kept releases, newest first, the live one marked.
int releases_command(const client_options& o, const std::string& app);
/// `ika rollback APP [VERSION]`: a rolling update to a kept release (the
/// previous live one by default; VERSION may be a unique prefix).
int rollback_command(const client_options& o, const std::string& app, const std::string& version);

// -- ika cache -----------------------------------------------------------------
/// The response cache's shards: objects, bytes against the budget, hits,
/// misses, stale, bypass, collapsed waits, stores and evictions.
int cache_stats_command(const client_options& o);
/// ika certs: every certificate, its issuer, expiry and state.
int certs_command(const client_options& o);
/// ika certs renew HOST.
int certs_renew_command(const client_options& o, const std::string& host);
/// ika certs add HOST --cert F --key F: serve HOST with this pair.
int certs_add_command(const client_options& o, const std::string& host, const std::string& cert,
                      const std::string& key);
/// ika certs ca: the node's local CA certificate (PEM), to trust.
int certs_ca_command(const client_options& o);
/// Drops `app`'s cached responses whose path starts with `prefix` (all of
/// them when empty).
int cache_purge_command(const client_options& o, const std::string& app, const std::string& prefix);

// -- ika secrets ----------------------------------------------------------------
/// Sets secret `key` of `app`: the value is read from `from_file` (as is)
/// or, when that is empty, from stdin (one trailing newline dropped); never
/// from the command line. The app then restarts with it.
int secrets_set_command(const client_options& o, const std::string& app, const std::string& key,
                        const std::string& from_file);
/// Lists the names of `app`'s secrets and when each was set (never values).
int secrets_list_command(const client_options& o, const std::string& app);
/// Removes secret `key` of `app`; the app then restarts without it.
int secrets_unset_command(const client_options& o, const std::string& app, const std::string& key);

} // namespace ika::tools
