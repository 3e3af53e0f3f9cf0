#pragma once
// The typed interfaces of ika's actors, in message-flow order. Each line
// says who sends the message, when, and what comes back.

#include "protocol/app_messages.hpp"
#include "protocol/atoms.hpp"
#include "protocol/messages.hpp"

#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include <vector>

namespace ika::protocol {

/// One per bound address: owns the acceptors on the io threads and the
/// route snapshot those threads read.
using listener_actor = caf::typed_actor<
    // node, on every route or instance change: publish this table, with
    // the apps' instances, to the io threads (atomically; requests in flight
    // keep what they started with). Replies ok once new requests see it.
    caf::replies_to<routes_atom, std::vector<route_spec>, std::vector<app_backends>>::with<ok_atom>,
    // node or admin: counters and the bound address.
    caf::replies_to<status_atom>::with<listener_status>,
    // node, on SIGTERM: stop accepting, close idle connections, let in-flight
    // requests finish within the timespan. Replies when done or at the deadline.
    caf::replies_to<drain_atom, caf::timespan>::with<drain_result>,
    // itself, every few milliseconds while draining: are we done yet?
    caf::reacts_to<check_atom>,
    // node, on SIGINT or after a drain: close everything now.
    caf::replies_to<stop_atom>::with<ok_atom>,
    // itself, hourly on HTTPS listeners: rotate the session ticket keys.
    caf::reacts_to<timer_atom>>;

/// One per process: spawns the listeners and stops them in order.
using node_actor = caf::typed_actor<
    // ika serve, once: bind every listener, publish the routes. Replies with
    // the status (bound addresses), or an error naming what failed to bind.
    caf::replies_to<start_atom>::with<node_status>,
    // admin (later) or a config reload: replace the static routes everywhere.
    caf::replies_to<routes_atom, std::vector<route_spec>>::with<ok_atom>,
    // an app actor, when deployed, started or stopped: these routes (each
    // with `app` set to its id) are the app's from now on, replacing its
    // previous ones; none releases them. Refused, naming the owner, when
    // another app or the static config has the same host and path.
    caf::replies_to<claim_atom, std::string, std::vector<route_spec>>::with<ok_atom>,
    // an app actor, whenever its set of healthy instances changes. Replies
    // once every listener routes new requests by it (an instance that left
    // gets no new request after the reply: the app may then drain it).
    caf::replies_to<backends_atom, app_backends>::with<ok_atom>,
    caf::replies_to<status_atom>::with<node_status>,
    // ika serve, on SIGTERM: drain every listener within the timespan.
    caf::replies_to<drain_atom, caf::timespan>::with<drain_result>,
    // ika serve, on SIGINT or after draining: stop everything now.
    caf::replies_to<stop_atom>::with<ok_atom>,
    // an app actor (its new release went live) or admin (ika cache purge):
    // drop the cached responses of app (every app's when empty) whose path
    // starts with the prefix; replies with how many.
    caf::replies_to<purge_atom, std::string, std::string>::with<std::uint64_t>,
    // admin (ika cache stats).
    caf::replies_to<cache_atom>::with<cache_status>,
    // a certificate actor, whenever its certificate or its state changes:
    // load the files of a new generation into every HTTPS listener.
    caf::reacts_to<certificate_atom, certificate_status>,
    // admin (ika certs): what every certificate actor last said.
    caf::replies_to<certificate_atom>::with<std::vector<certificate_status>>,
    // admin (ika certs renew HOST): renew now; replies at once.
    caf::replies_to<renew_atom, std::string>::with<certificate_status>,
    // admin (ika certs add HOST): this chain and key (PEM) serve HOST from
    // now on, kept in the data dir; replaces its ACME or self-signed one.
    caf::replies_to<certificate_atom, std::string, std::string, std::string>::with<certificate_status>>;

/// One per certificate name (a host or "*.parent"): gets, keeps and renews
/// its certificate from its source (ACME, the node's local CA, or files it
/// watches) and tells the node about every change.
using certificate_actor =
    caf::typed_actor<caf::replies_to<status_atom>::with<certificate_status>,
                     // admin (ika certs renew HOST): start a renewal now (files: re-read);
                     // replies with the state at once ("renewing"), not when it is done.
                     caf::replies_to<renew_atom>::with<certificate_status>,
                     // itself: timer of generation `gen` (renewal check, retry, file poll).
                     caf::reacts_to<timer_atom, std::uint64_t>,
                     // its ACME thread, order `order`: the chain was issued and saved (empty
                     // error), or why not and the seconds the CA asked to wait (0: none).
                     caf::reacts_to<issued_atom, std::uint64_t, std::string, std::uint32_t>,
                     // itself: the OCSP refresh timer of generation `gen`.
                     caf::reacts_to<ocsp_atom, std::uint64_t>,
                     // its OCSP thread, fetch `fetch`: the responder's answer (DER) or why
                     // there is none.
                     caf::reacts_to<ocsp_atom, std::uint64_t, std::string, std::string>,
                     // its owner: stop (an ACME order in flight is cancelled).
                     caf::replies_to<stop_atom>::with<ok_atom>>;

/// One per cache shard (N per node): owns admission, eviction and purges of
/// its part of the key space (runtime/cache/store.hpp says why hits and
/// fill locks do not go through it).
using cache_shard_actor = caf::typed_actor<
    // the io thread that completed fill `id`: admit it (or not).
    caf::reacts_to<fill_atom, std::uint64_t>,
    caf::replies_to<purge_atom, std::string, std::string>::with<std::uint64_t>,
    caf::replies_to<cache_atom>::with<cache_shard_status>,
    // itself, periodically: drop what is useless.
    caf::reacts_to<timer_atom>>;

/// One per process of an app (an instance keeps its id across restarts):
/// starts it, watches readiness and health, restarts it with backoff, stops
/// it. Tells its app actor every state change as (instance_atom,
/// instance_event).
using instance_actor = caf::typed_actor<
    // the process supervisor's thread: the process started (pid) or could
    // not (pid 0, why); its ready line (port); its exit (code, or -signal).
    // Each is tagged with the pid it is about.
    caf::reacts_to<spawned_atom, std::int32_t, std::string>,
    caf::reacts_to<ready_atom, std::int32_t, std::uint16_t>,
    caf::reacts_to<exited_atom, std::int32_t, std::int32_t>,
    // the prober: a health check of process `pid` passed (true) or failed,
    // with why.
    caf::reacts_to<probe_atom, std::int32_t, bool, std::string>,
    // itself: timer `kind` (start deadline, next probe, restart, stop
    // deadline) armed as generation `gen`; stale generations are ignored.
    caf::reacts_to<timer_atom, std::uint32_t, std::uint64_t>,
    // its app (the data plane found it unreachable): probe now.
    caf::reacts_to<check_atom>,
    // its app: SIGTERM, SIGKILL after the stop timeout; replies once the
    // process is gone (and the actor then quits).
    caf::replies_to<stop_atom>::with<ok_atom>,
    // its app: the current status.
    caf::replies_to<status_atom>::with<instance_status>>;

/// One per deployed app: owns its instances, its routes' claim and what the
/// data plane may send it. The admin actor forwards commands here.
using app_actor = caf::typed_actor<
    // admin: run this release (start instances, wait for healthy, switch
    // traffic, stop the old ones); replies when done or failed.
    caf::replies_to<deploy_atom, release_spec, caf::actor>::with<deploy_result>,
    // admin, after the app's secrets changed: a rolling update of the live
    // release (new processes get the new environment). Refused while a
    // rollout runs; a no-op (changed = false) with no instance running.
    caf::replies_to<restart_atom, caf::actor>::with<deploy_result>,
    caf::replies_to<status_atom>::with<app_status>,
    caf::replies_to<scale_atom, std::uint32_t>::with<app_status>,
    caf::replies_to<logs_atom, log_query>::with<std::vector<log_line>>,
    // admin for `ika logs -f`: send new lines to this actor as
    // (logs_atom, log_line) until it goes down.
    caf::replies_to<follow_atom, log_query, caf::actor>::with<ok_atom>,
    caf::replies_to<stop_atom>::with<app_status>, caf::replies_to<start_atom>::with<app_status>,
    // admin: stop everything, release the routes; the actor then quits.
    caf::replies_to<delete_atom>::with<ok_atom>,
    // its instances, on every state change.
    caf::reacts_to<instance_atom, instance_event>,
    // the process supervisor's thread: a line of an instance's output.
    caf::reacts_to<output_atom, log_line>,
    // itself: re-check a drain; a rollout's hold timer (generation).
    caf::reacts_to<check_atom>, caf::reacts_to<timer_atom, std::uint64_t>,
    // the data plane: a connect to this instance failed.
    caf::reacts_to<suspect_atom, std::string>,
    // the data plane: a request waits for this on-demand app; start an
    // instance unless one is starting or serving.
    caf::reacts_to<wake_atom>>;

/// The node's admin endpoint: what `ika` commands, the admin shell and
/// (later) cluster peers send, over mutual TLS. App ids are "name/env".
using admin_actor = caf::typed_actor<
    // ika deploy: a piece of a release archive; replies with the pieces
    // received so far. The last piece stores the release (validated,
    // unpacked) or fails naming why.
    caf::replies_to<upload_atom, upload_chunk>::with<std::uint32_t>,
    // ika deploy: deploy a stored release (error "unknown release" when it
    // must be uploaded first).
    caf::replies_to<deploy_atom, deploy_request>::with<deploy_result>,
    caf::replies_to<apps_atom>::with<std::vector<app_status>>,
    caf::replies_to<status_atom, std::string>::with<app_status>,
    caf::replies_to<scale_atom, std::string, std::uint32_t>::with<app_status>,
    caf::replies_to<logs_atom, log_query>::with<std::vector<log_line>>,
    caf::replies_to<follow_atom, log_query, caf::actor>::with<ok_atom>,
    caf::replies_to<stop_atom, std::string>::with<app_status>,
    caf::replies_to<start_atom, std::string>::with<app_status>,
    caf::replies_to<delete_atom, std::string>::with<ok_atom>,
    // ika releases APP: the kept releases, newest first.
    caf::replies_to<releases_atom, std::string>::with<std::vector<release_info>>,
    // ika rollback APP [VERSION]: a rolling update to a kept release (the
    // one before the live one when VERSION is empty); progress to the watcher.
    caf::replies_to<rollback_atom, std::string, std::string, caf::actor>::with<deploy_result>,
    // ika secrets set APP KEY: stores the value encrypted; a rolling restart
    // of the app follows (progress to the watcher).
    caf::replies_to<secret_set_atom, std::string, std::string, secret_value, caf::actor>::with<deploy_result>,
    // ika secrets unset APP KEY (an unknown key is an error).
    caf::replies_to<secret_del_atom, std::string, std::string, caf::actor>::with<deploy_result>,
    // ika secrets list APP: names and when set, never values.
    caf::replies_to<secrets_atom, std::string>::with<std::vector<secret_info>>,
    // anyone: the node's status (listeners, bound addresses).
    caf::replies_to<status_atom>::with<node_status>,
    // ika cache stats / ika cache purge APP [PATH-PREFIX].
    caf::replies_to<certificate_atom>::with<std::vector<certificate_status>>,
    caf::replies_to<certificate_atom, std::string, std::string, std::string>::with<certificate_status>,
    caf::replies_to<renew_atom, std::string>::with<certificate_status>,
    caf::replies_to<cache_atom>::with<cache_status>,
    caf::replies_to<purge_atom, std::string, std::string>::with<std::uint64_t>,
    // ika serve, at shutdown: stop every app's instances (SIGTERM, then
    // SIGKILL after their stop timeouts), without changing what is stored;
    // replies once all are gone.
    caf::replies_to<drain_atom>::with<ok_atom>>;

/// One per node: the apps' secrets, sealed under the node's secret key
/// (which can later be a cluster key). Keeps only ciphertext; publishes
/// what instances decrypt at launch. Replies come once the change is
/// durable in the store. Errors never contain a value.
using secrets_actor = caf::typed_actor<
    // admin (ika secrets set): seal and store the value of (app, name),
    // replacing an earlier one. Refused: an invalid or reserved name, a
    // value over 64 KiB or holding a NUL byte.
    caf::replies_to<secret_set_atom, std::string, std::string, secret_value>::with<ok_atom>,
    // admin (ika secrets unset): forget (app, name); an unknown name is an error.
    caf::replies_to<secret_del_atom, std::string, std::string>::with<ok_atom>,
    // admin (ika secrets list): the app's secrets by name, never values.
    caf::replies_to<secrets_atom, std::string>::with<std::vector<secret_info>>>;

} // namespace ika::protocol
