# tools/bench/lib.sh: shell functions shared by the benchmarks in tools/bench
# (sourced, never run). Adapted from the project's peer-bench harness.
#
# The sourcing script defines log() and die() first, and before calling these functions sets:
#   TMP            its temp dir                 STARTED      array of the PIDs it started
#   BACKEND_PORT   the origin's port            BACKEND_PID  the origin's PID (once started)
#   FIRST_SIZE     body size probed by wait_ready (GET /<FIRST_SIZE>.bin)
#   TPL            the templates' dir           WORKERS      worker processes/threads per server
#   READY_TIMEOUT  SAMPLE_INTERVAL QUIET_MAX QUIET_WAIT BASE_PORT NEXT_PORT
# Every process is signalled by the PID this script started, never by name.

NCPU=$(nproc)
HZ=$(getconf CLK_TCK)

# ---------------------------------------------------------------- install
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
install_pkgs() {            # installs the missing ones of "$@"; never starts their services
    local missing=() p u
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] || die "missing packages: ${missing[*]}; run as root or: sudo apt-get install --no-install-recommends ${missing[*]}"
    log "installing: ${missing[*]}"
    local made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then    # keep dpkg from starting the packaged services
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
    fi
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2 || log "apt-get update failed (continuing)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends "${missing[@]}" >&2
    local rc=$?
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
    for p in "${missing[@]}"; do                 # Debian enables the units it installs; undo that
        pkg_installed "$p" || continue
        for u in $(dpkg -L "$p" 2>/dev/null | grep -E '/systemd/system/[^/]+\.service$'); do
            command -v systemctl >/dev/null && systemctl disable "$(basename "$u")" >/dev/null 2>&1
        done
        for u in $(dpkg -L "$p" 2>/dev/null | grep -E '^/etc/init\.d/[^/]+$'); do
            update-rc.d "$(basename "$u")" disable >/dev/null 2>&1
        done
    done
    ((rc == 0)) || die "apt-get install failed for: ${missing[*]}"
}

# ---------------------------------------------------------------- processes (by PID only)
tree_pids() {                   # $1 = root PID -> it and all its descendants
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { kids[$2] = kids[$2] " " $1 }
        END { q[1] = root; n = 1; i = 1
              while (i <= n) { p = q[i++]; print p; m = split(kids[p], k, " ");
                               for (j = 1; j <= m; j++) q[++n] = k[j] } }'
}
tree_rss_kb() {                 # sum of VmRSS (KiB) over the process tree
    local p s=0 v
    for p in $(tree_pids "$1"); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null); s=$((s + ${v:-0}))
    done
    echo "$s"
}
tree_cpu_ticks() {              # utime+stime of the tree (all threads)
    local p s=0 v
    for p in $(tree_pids "$1"); do
        v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null); s=$((s + ${v:-0}))
    done
    echo "$s"
}
others_ticks() {                # "pid ticks" (utime+stime+cutime+cstime) of every process outside this
                                # script's tree (servers, origin, wrk, samplers), except ksoftirqd (it
                                # carries our own loopback traffic)
    local ours; ours=" $(tree_pids $$ | tr '\n' ' ') "
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v ours="$ours" '{
        pid = $1; name = $0; sub(/^[^(]*\(/, "", name); sub(/\).*$/, "", name)
        rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ")
        if (index(ours, " " pid " ") == 0 && name !~ /^ksoftirqd/) print pid, f[12] + f[13] + f[14] + f[15] }'
}
sys_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }

start_server() {                # $1 = name; rest = command. Sets LAST_PID; we stay the parent.
    local name=$1; shift
    "$@" >"$TMP/$name.out" 2>&1 &
    LAST_PID=$!
    STARTED+=("$LAST_PID")
}
stop_server() {                 # $1 = a PID we started: TERM, wait <= 5 s, then KILL its tree's leftovers
    local pid=$1 p i alive pids keep=() s
    [[ -n $pid ]] || return 0
    pids=$(tree_pids "$pid")
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 50); do
        alive=0
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for p in $pids; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
    wait "$pid" 2>/dev/null
    for s in "${STARTED[@]}"; do [[ $s != "$pid" ]] && keep+=("$s"); done
    STARTED=("${keep[@]}")
}

render() {                      # $1 = template under $TPL, $2 = output, $3 = port; unset fields render empty
    sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$3|g" -e "s|@BACKEND_PORT@|${BACKEND_PORT:-}|g" \
        -e "s|@WORKERS@|$WORKERS|g" -e "s|@BACKEND_WORKERS@|${BACKEND_WORKERS:-}|g" \
        -e "s|@CERT@|${CERT:-}|g" -e "s|@KEY@|${KEY:-}|g" -e "s|@CERTKEY@|${CERTKEY:-}|g" \
        -e "s|@CACHE_DIR@|${CUR_CACHE_DIR:-}|g" -e "s|@CACHE_MB@|${CUR_CACHE_MB:-}|g" \
        -e "s|@MAX_OBJ@|${CUR_MAX_OBJ:-}|g" "$TPL/$1" > "$2"
}

# A port is free if no TCP socket (listening or connected) uses it as its local port.
port_free() { [[ -z $(ss -Htan "( sport = :$1 )" 2>/dev/null) ]]; }
pick_port() {                   # sets PICKED to the next free port at or above NEXT_PORT
    local p=$NEXT_PORT
    while ! port_free "$p"; do
        p=$((p + 1)); ((p - BASE_PORT > 1000)) && die "no free port in $BASE_PORT..$p"
    done
    PICKED=$p; NEXT_PORT=$((p + 1))
}

wait_ready() {                  # $1 = PID, $2 = port -> 0 once GET /<first size>.bin answers 200
    local pid=$1 port=$2 i code
    for i in $(seq 1 $((READY_TIMEOUT * 10))); do
        kill -0 "$pid" 2>/dev/null || return 1
        code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$port/$FIRST_SIZE.bin")
        [[ $code == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}
# ---------------------------------------------------------------- proxies by mode (idle, instructions)
# make_cert: one self-signed ECDSA P-256 certificate (SAN localhost, 127.0.0.1) for every target,
# in CERT and KEY, and both in one PEM in CERTKEY (HAProxy's form).
make_cert() {
    mkdir -p "$(dirname "$CERT")"; chmod 755 "$(dirname "$CERT")"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$KEY" -out "$CERT" >"$TMP/openssl.log" 2>&1 ||
        { cat "$TMP/openssl.log" >&2; die "openssl could not make the certificate"; }
    cat "$CERT" "$KEY" > "$CERTKEY"
    chmod 644 "$CERT"; chmod 600 "$KEY" "$CERTKEY"              # read by root at start-up
}
# start_origin: the static nginx origin (one 100-byte body, /100.bin) on a free port; sets
# BACKEND_PORT and BACKEND_PID.
start_origin() {
    pick_port; BACKEND_PORT=$PICKED
    mkdir -p "$TMP/www" "$TMP/backend/tmp"; chmod 755 "$TMP/www" "$TMP/backend"
    head -c 100 /dev/urandom > "$TMP/www/100.bin"; chmod 644 "$TMP/www/100.bin"
    render proxy-origin.nginx.conf.tmpl "$TMP/backend/nginx.conf" "$BACKEND_PORT"
    start_server backend nginx -c "$TMP/backend/nginx.conf" -p "$TMP/backend" -e "$TMP/backend/error.log"
    BACKEND_PID=$LAST_PID
    wait_ready "$BACKEND_PID" "$BACKEND_PORT" || die "origin did not start"
}
# start_peer TARGET MODE PORT: nginx, haproxy, caddy (plain only) or ika ($IKA_BIN) as a reverse
# proxy to the origin, plain HTTP or TLS (mode plain|tls), WORKERS processes or threads; under
# "${WRAP[@]}" (a profiler) when the caller sets it. Sets LAST_PID.
start_peer() {
    local t=$1 mode=$2 port=$3 tpl wrap=()
    [[ -n ${WRAP+set} ]] && wrap=("${WRAP[@]}")
    case $t in
    nginx)
        rm -rf "$TMP/nginx"; mkdir -p "$TMP/nginx/tmp"; chmod 755 "$TMP/nginx"
        tpl=proxy-nginx.conf.tmpl; [[ $mode == tls ]] && tpl=tls-nginx.conf.tmpl
        render "$tpl" "$TMP/nginx/nginx.conf" "$port"
        # NGINX_MASTER=off: the one process serves (a profiler then watches it, not a forked child)
        [[ ${NGINX_MASTER:-on} == off ]] && sed -i 's/^master_process on;/master_process off;/' "$TMP/nginx/nginx.conf"
        start_server nginx "${wrap[@]}" nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" -e "$TMP/nginx/error.log" ;;
    haproxy)
        mkdir -p "$TMP/haproxy"
        tpl=proxy-haproxy.cfg.tmpl; [[ $mode == tls ]] && tpl=tls-haproxy.cfg.tmpl
        render "$tpl" "$TMP/haproxy/haproxy.cfg" "$port"
        start_server haproxy "${wrap[@]}" haproxy -db -f "$TMP/haproxy/haproxy.cfg" ;;
    caddy)
        rm -rf "$TMP/caddy"; mkdir -p "$TMP/caddy/data" "$TMP/caddy/config"
        render proxy-Caddyfile.tmpl "$TMP/caddy/Caddyfile" "$port"
        start_server caddy "${wrap[@]}" env GOMAXPROCS="$WORKERS" HOME="$TMP/caddy" XDG_DATA_HOME="$TMP/caddy/data" \
            XDG_CONFIG_HOME="$TMP/caddy/config" caddy run --config "$TMP/caddy/Caddyfile" --adapter caddyfile ;;
    ika)
        local tls=()
        [[ $mode == tls ]] && tls=(--cert "$CERT" --key "$KEY")
        start_server ika "${wrap[@]}" "$IKA_BIN" proxy --from "127.0.0.1:$port" --to "127.0.0.1:$BACKEND_PORT" \
            --workers "$WORKERS" "${tls[@]}" ;;
    *) die "unknown target $t" ;;
    esac
}
peer_ready() {                  # $1 = PID, $2 = mode, $3 = port -> 0 once GET /100.bin answers 200
    local i scheme=http
    [[ $2 == tls ]] && scheme=https
    for i in $(seq 1 $((READY_TIMEOUT * 10))); do
        kill -0 "$1" 2>/dev/null || return 1
        [[ $(curl -sk -o /dev/null -m 1 -w '%{http_code}' "$scheme://127.0.0.1:$3/100.bin") == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}
loopback_only() {               # $1 = PID: every socket its tree listens on must be on loopback
    local re bad
    re="pid=($(tree_pids "$1" | paste -sd'|')),"
    bad=$(ss -Htulnp 2>/dev/null | awk -v re="$re" '$0 ~ re {print $5}' |
          grep -vE '^(127\.[0-9.]+|\[::1\]|\[::ffff:127\.[0-9.]+\]):[0-9]+$')
    [[ -z $bad ]] || { log "refusing: it listens on non-loopback address(es): $(echo $bad)"; return 1; }
}

# ---------------------------------------------------------------- measurement
to_ms() { awk -v v="$1" 'BEGIN { u = v; sub(/^[0-9.]+/, "", u); n = v + 0;
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1;
    if (f < 0) print "NA"; else printf "%.3f", n * f }'; }
machine_busy_pct() {            # CPU of the whole machine over $1 s, in % of one core
    local a b; a=$(sys_ticks); sleep "$1"; b=$(sys_ticks)
    awk -v a="$a" -v b="$b" -v n="$NCPU" 'BEGIN { split(a, x, " "); split(b, y, " "); d = y[2] - x[2];
        printf "%.0f", (d > 0) ? (y[1] - x[1]) / d * n * 100 : 0 }'
}
quiet_wait() {                  # wait <= QUIET_WAIT s for a quiet box; echoes the last reading
    local tries=0 b
    while :; do
        b=$(machine_busy_pct 0.5)
        if ((b <= QUIET_MAX)) || ((tries >= QUIET_WAIT * 2)); then echo "$b"; return; fi
        ((tries == 0)) && log "  machine busy (${b}% of a core) before the run; waiting up to ${QUIET_WAIT}s"
        tries=$((tries + 1))
    done
}

# run_load <raw output file> <server PID> <command...>: runs the load generator (wrk) to its end
# while sampling the server tree's RSS every SAMPLE_INTERVAL (and calling the function named by
# LOAD_SAMPLE_HOOK, if set, at each sample). Sets, for the measured window:
#   LR_RSS_PEAK LR_RSS_END   server tree VmRSS, KiB (peak sampled; right after the load ended)
#   LR_SRV LR_ORG LR_WRK     CPU of the server tree, the origin (0 if the server is the origin), the
#                            load generator, in % of one core
#   LR_MACH LR_OTHER         the whole machine; every process outside this script's tree (a build...)
run_load() {
    local raw=$1 pid=$2; shift 2
    local cpu0 cpu1 org0=0 org1=0 sys0 sys1 t0 t1 r
    LR_RSS_PEAK=0
    others_ticks > "$TMP/others0"
    cpu0=$(tree_cpu_ticks "$pid"); sys0=$(sys_ticks); t0=$(date +%s.%N)
    [[ $pid != "$BACKEND_PID" ]] && org0=$(tree_cpu_ticks "$BACKEND_PID")
    # the load generator runs under a tiny bash wrapper that reports its CPU ticks (cutime+cstime) on exit
    bash -c '"$@" >"$0" 2>&1; rc=$?; read -r -a st </proc/$$/stat
             echo $((st[15] + st[16])) >"$0.cpu"; exit $rc' "$raw" "$@" &
    local wpid=$!
    while kill -0 "$wpid" 2>/dev/null; do
        r=$(tree_rss_kb "$pid"); ((r > LR_RSS_PEAK)) && LR_RSS_PEAK=$r
        [[ -n ${LOAD_SAMPLE_HOOK:-} ]] && "$LOAD_SAMPLE_HOOK"
        sleep "$SAMPLE_INTERVAL"
    done
    wait "$wpid"
    cpu1=$(tree_cpu_ticks "$pid"); sys1=$(sys_ticks); t1=$(date +%s.%N)
    others_ticks > "$TMP/others1"
    [[ $pid != "$BACKEND_PID" ]] && org1=$(tree_cpu_ticks "$BACKEND_PID")
    LR_RSS_END=$(tree_rss_kb "$pid"); ((LR_RSS_END > LR_RSS_PEAK)) && LR_RSS_PEAK=$LR_RSS_END
    # CPU ticks other processes used meanwhile (a process started since t0 counts from zero)
    local oth_ticks; oth_ticks=$(awk 'NR == FNR { t0[$1] = $2; next }
        { d = $2 - t0[$1]; if (d > 0) s += d } END { print s + 0 }' "$TMP/others0" "$TMP/others1")
    local wrk_ticks; wrk_ticks=$(cat "$raw.cpu" 2>/dev/null || echo 0); rm -f "$raw.cpu"
    read -r LR_SRV LR_ORG LR_WRK LR_MACH LR_OTHER < <(awk -v s0="$cpu0" -v s1="$cpu1" \
        -v o0="$org0" -v o1="$org1" -v w="$wrk_ticks" -v m0="$sys0" -v m1="$sys1" -v t0="$t0" -v t1="$t1" \
        -v ot="$oth_ticks" -v hz="$HZ" -v n="$NCPU" 'BEGIN {
            wall = t1 - t0; split(m0, a, " "); split(m1, b, " "); d = b[2] - a[2]
            srv = (s1 - s0) / hz / wall * 100; org = (o1 - o0) / hz / wall * 100; wk = w / hz / wall * 100
            mach = (d > 0) ? (b[1] - a[1]) / d * n * 100 : 0
            oth = ot / hz / wall * 100
            # a parent reaping a child adds the whole of its CPU (cutime) even if most was spent
            # before the window: never report more than the machine used beyond ours
            rest = mach - srv - org - wk; if (rest < 0) rest = 0; if (oth > rest) oth = rest
            printf "%.0f %.0f %.0f %.0f %.0f", srv, org, wk, mach, oth }')
}
parse_wrk() {                   # $1 = wrk --latency output -> W_RPS W_REQS W_P50 W_P99 (ms) W_ERRS
    local raw=$1 non2xx sockerr
    W_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$raw")
    W_REQS=$(awk '/requests in/ {print $1}' "$raw")
    W_P50=$(to_ms "$(awk '$1=="50%" {print $2}' "$raw")")
    W_P99=$(to_ms "$(awk '$1=="99%" {print $2}' "$raw")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$raw")
    sockerr=$(awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10 }' "$raw")
    W_ERRS=$(( ${non2xx:-0} + ${sockerr:-0} ))
    [[ -n $W_RPS ]] || W_ERRS=$((W_ERRS + 1))      # wrk failed outright
}

# awk function for the report scripts: median of arr[1..m] (numeric)
AWK_MEDIAN='
function median(arr, m,    i, j, v, a) {
    for (i = 1; i <= m; i++) a[i] = arr[i] + 0
    for (i = 2; i <= m; i++) { v = a[i]; j = i - 1; while (j > 0 && a[j] > v) { a[j + 1] = a[j]; j-- } a[j + 1] = v }
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}'
