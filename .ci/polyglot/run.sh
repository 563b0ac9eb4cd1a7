#!/usr/bin/env bash
# Polyglot CI checks: the gRPC facade from a generated Python client, grpcurl, curl (Connect, over
# HTTP/1.1 and HTTP/2), the official Connect client for Node (.ci/connect: Connect JSON, Connect
# binary, gRPC-Web), the official Connect web client in headless Chromium (.ci/connect/browser.mjs;
# Debian's chromium must be installed: missing is a failure), and the standalone ElastiCache
# emulator from boto3 (the serverless lifecycle, then one lifecycle of each node-based family).
#
#   .ci/polyglot/run.sh target/debug/elasticache-grpc
#
# Needs only Python >= 3.9 with venv + pip (POLYGLOT_PYTHON picks the interpreter, default python3).
# Creates or reuses the venv .ci/.venv (POLYGLOT_VENV overrides), reinstalling when
# requirements.txt changes. Starts `BIN --emulator` and `BIN emulator` on free loopback ports and
# stops both on exit. Every check prints `ok <name>` or `FAIL <name>: <reason>`; the last line
# on stdout is `N passed, N failed`; the exit status is non-zero when anything failed.
set -euo pipefail

started_at=$SECONDS
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() { echo "usage: $0 PATH/TO/elasticache-grpc" >&2; exit 2; }
[[ $# -eq 1 ]] || usage
bin=$1
[[ $bin == /* ]] || bin=$PWD/$bin
[[ -x $bin && -f $bin ]] || { echo "error: $1 is not an executable file" >&2; exit 2; }

venv=${POLYGLOT_VENV:-$repo/.ci/.venv}
base_python=${POLYGLOT_PYTHON:-python3}
settle_ms=200
ready_timeout_s=30

passed=0
failed=0
summary_printed=
phase="setup"
work=$(mktemp -d "${TMPDIR:-/tmp}/polyglot.XXXXXX")
facade_pid=
emulator_pid=

export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# Plain server logs (they are dumped on failure).
export NO_COLOR=1

log() { echo "[polyglot $((SECONDS - started_at))s] $*" >&2; }

pass() { passed=$((passed + 1)); echo "ok $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }

summary() {
    summary_printed=1
    log "done in $((SECONDS - started_at))s"
    echo "$passed passed, $failed failed"
}

stop() { # stop PID: TERM, a bounded wait, then KILL
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 5s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

stop_servers() {
    stop "$facade_pid"; facade_pid=
    stop "$emulator_pid"; emulator_pid=
}

dump_logs() {
    local f
    for f in "$work"/facade.log "$work"/emulator.log; do
        [[ -s $f ]] || continue
        echo "----- last lines of $(basename "$f") -----" >&2
        tail -n 40 "$f" >&2
    done
}

on_exit() {
    local rc=$?
    set +e
    trap - EXIT
    if [[ -f $work/child.pid ]]; then
        stop "$(cat "$work/child.pid")"
    fi
    stop_servers
    if [[ -z $summary_printed ]]; then
        fail "run.sh" "aborted with status $rc during $phase"
        dump_logs
        summary
        rc=1
    fi
    rm -rf "$work"
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- venv ---------------------------------------------------------------------------------------

phase="venv setup"
"$base_python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
    || { echo "error: $base_python is older than 3.9" >&2; exit 1; }
want_stamp=$("$base_python" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' \
    "$here/requirements.txt")
stamp_file=$venv/.polyglot-requirements.sha256
if [[ -x $venv/bin/python && -f $stamp_file && $(cat "$stamp_file") == "$want_stamp" ]] \
    && "$venv/bin/python" -c 'import grpc, grpc_tools, grpc_status, boto3' 2>/dev/null; then
    log "reusing venv $venv"
else
    log "creating venv $venv"
    rm -rf "$venv"
    if ! "$base_python" -m venv "$venv" >&2; then
        # Some distributions ship Python without ensurepip (no `venv` with pip): use virtualenv.
        log "python -m venv failed; falling back to virtualenv"
        rm -rf "$venv"
        "$base_python" -m pip install --user --disable-pip-version-check -q virtualenv >&2
        "$base_python" -m virtualenv -q "$venv" >&2
    fi
    timeout 900 "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
        -r "$here/requirements.txt" >&2
    echo "$want_stamp" >"$stamp_file"
fi
py=$venv/bin/python
grpcurl=$venv/bin/grpcurl
[[ -x $grpcurl ]] || { echo "error: grpcurl is not in the venv" >&2; exit 1; }

# Everything below talks to loopback only: keep any CI proxy out of the way (pip above may need it).
loopback="127.0.0.1,localhost"
export no_proxy="$loopback${no_proxy:+,$no_proxy}" NO_PROXY="$loopback${NO_PROXY:+,$NO_PROXY}"
export no_grpc_proxy="$loopback${no_grpc_proxy:+,$no_grpc_proxy}"

# ---- Python client from proto/ ------------------------------------------------------------------

phase="stub generation"
gen=$work/gen
mkdir -p "$gen"
wkt=$("$py" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
"$py" -m grpc_tools.protoc -I "$repo/proto" -I "$wkt" \
    --python_out="$gen" --grpc_python_out="$gen" "$repo"/proto/elasticache/v1/*.proto
log "generated $(find "$gen" -name '*.py' | wc -l) Python modules from proto/"

# ---- servers ------------------------------------------------------------------------------------

free_ports() { # two distinct free loopback ports
    "$py" -c 'import socket; s = [socket.socket() for _ in range(2)]; [x.bind(("127.0.0.1", 0)) for x in s]; print(*[x.getsockname()[1] for x in s]); [x.close() for x in s]'
}

# start_servers: both servers up and ready, or a non-zero status. A port taken between picking
# and binding (another job on the machine) is retried with fresh ports.
start_servers() {
    local attempt
    for attempt in 1 2 3; do
        read -r facade_port emulator_port < <(free_ports)
        facade_addr=127.0.0.1:$facade_port
        emulator_url=http://127.0.0.1:$emulator_port
        env -u AWS_ENDPOINT_URL -u AWS_ENDPOINT_URL_ELASTICACHE \
            "$bin" --emulator --listen "$facade_addr" >"$work/facade.log" 2>&1 &
        facade_pid=$!
        "$bin" emulator --listen "127.0.0.1:$emulator_port" --settle-ms "$settle_ms" \
            >"$work/emulator.log" 2>&1 &
        emulator_pid=$!
        if "$py" "$here/wait_ready.py" grpc-health "$facade_addr" "$facade_pid" "$ready_timeout_s" \
            && "$py" "$here/wait_ready.py" emulator "127.0.0.1:$emulator_port" "$emulator_pid" "$ready_timeout_s"; then
            return 0
        fi
        dump_logs
        stop_servers
        if ! grep -qi "address already in use\|addrinuse" "$work/facade.log" "$work/emulator.log"; then
            return 1
        fi
        log "port clash on attempt $attempt; retrying with fresh ports"
    done
    return 1
}

phase="server start"
start_servers
log "facade (embedded emulator) on $facade_addr, standalone emulator on $emulator_url"

# ---- checks -------------------------------------------------------------------------------------

# run_check NAME TIMEOUT_S DIR PROGRAM ARGS...: run PROGRAM in DIR and tally its ok/FAIL lines; a
# program that dies without reporting a FAIL (crash, timeout) counts as one more failure. It runs
# in the background and is waited for, so INT/TERM reach on_exit at once (bash defers traps while
# a foreground command runs); on_exit stops it through $work/child.pid.
run_check() {
    local name=$1 limit=$2 dir=$3 out=$work/$1.out rc oks fails
    shift 3
    rm -f "$out.rc"
    {
        cd "$dir"
        AWS_CONFIG_FILE=$work/no-aws-config AWS_SHARED_CREDENTIALS_FILE=$work/no-aws-credentials \
            env -u AWS_PROFILE -u AWS_DEFAULT_PROFILE timeout "$limit" "$@" &
        echo $! >"$work/child.pid"
        rc=0
        wait $! || rc=$?
        echo "$rc" >"$out.rc"
    } | tee "$out" &
    wait $! || true
    rm -f "$work/child.pid"
    rc=$(cat "$out.rc" 2>/dev/null || echo 255)
    oks=$(grep -c '^ok ' "$out" || true)
    fails=$(grep -c '^FAIL ' "$out" || true)
    passed=$((passed + oks))
    failed=$((failed + fails))
    if [[ $rc -ne 0 && $fails -eq 0 ]]; then
        fail "$name" "exited with status $rc$([[ $rc -eq 124 ]] && echo " (timed out after ${limit}s)") without reporting a failing check"
    elif [[ $rc -eq 0 && $oks -eq 0 ]]; then
        fail "$name" "reported no checks"
    fi
}

# run_py NAME TIMEOUT_S SCRIPT ARGS...: a Python check of .ci/polyglot.
run_py() { run_check "$1" "$2" "$here" "$py" "${@:3}"; }

# run_node NAME TIMEOUT_S SCRIPT ARGS...: a Node check of .ci/connect.
run_node() { run_check "$1" "$2" "$repo/.ci/connect" node "${@:3}"; }

# gcurl ARGS...: grpcurl against the facade, bounded; output in $gout, status in $grc.
gcurl() {
    set +e
    gout=$(timeout 30 "$grpcurl" -plaintext -max-time 10 "$@" 2>&1)
    grc=$?
    set -e
}

phase="grpcurl checks"
gcurl "$facade_addr" list
if [[ $grc -eq 0 ]] && grep -qx 'elasticache.v1.ElastiCacheService' <<<"$gout"; then
    pass grpcurl-list-service
else
    fail grpcurl-list-service "status $grc; 'list' shows: $(tr '\n' ' ' <<<"$gout")"
fi

gcurl "$facade_addr" describe elasticache.v1.ServerlessCacheSnapshot
if [[ $grc -eq 0 ]] && grep -q 'message ServerlessCacheSnapshot {' <<<"$gout" \
    && grep -q 'serverless_cache_snapshot_name = 1;' <<<"$gout"; then
    pass grpcurl-describe-snapshot-message
else
    fail grpcurl-describe-snapshot-message "status $grc: $(head -c 300 <<<"$gout" | tr '\n' ' ')"
fi

gcurl "$facade_addr" describe google.rpc.BadRequest
if [[ $grc -eq 0 ]] && grep -q 'message BadRequest {' <<<"$gout"; then
    pass grpcurl-describe-google-rpc-type
else
    fail grpcurl-describe-google-rpc-type "status $grc: $(head -c 300 <<<"$gout" | tr '\n' ' ')"
fi

gcurl "$facade_addr" grpc.health.v1.Health/Check
if [[ $grc -eq 0 ]] && grep -q '"status": "SERVING"' <<<"$gout"; then
    pass grpcurl-health-serving
else
    fail grpcurl-health-serving "status $grc: $(head -c 300 <<<"$gout" | tr '\n' ' ')"
fi

# A missing required field: INVALID_ARGUMENT (grpcurl exits 64 + 3), with the BadRequest detail
# printed as JSON, which needs google.rpc.BadRequest from reflection (else it prints base64).
gcurl -d '{"serverless_cache_snapshot_name": "polyglot-missing-bucket"}' \
    "$facade_addr" elasticache.v1.ElastiCacheService/ExportServerlessCacheSnapshot
if [[ $grc -eq 67 ]] && grep -q 'Code: InvalidArgument' <<<"$gout" \
    && grep -q '"@type":"type.googleapis.com/google.rpc.BadRequest"' <<<"$gout" \
    && grep -q '"fieldViolations":\[{"field":"s3_bucket_name"' <<<"$gout"; then
    pass grpcurl-missing-field-bad-request-json
else
    fail grpcurl-missing-field-bad-request-json "status $grc: $(tr '\n' ' ' <<<"$gout" | head -c 600)"
fi

# A watch through grpcurl, which prints each message as it arrives: the embedded emulator keeps a
# new cache `creating` for ~2 s, so 1 s in, the output shows "creating" and not yet "available";
# then the stream ends by itself (status 0) after the settled "available".
phase="grpcurl watch"
watch_cache=polyglot-watch-$$
gcurl -d "{\"serverless_cache_name\": \"$watch_cache\", \"engine\": \"valkey\"}" \
    "$facade_addr" elasticache.v1.ElastiCacheService/CreateServerlessCache
if [[ $grc -ne 0 ]]; then
    fail grpcurl-watch-streams "CreateServerlessCache: status $grc: $(tr '\n' ' ' <<<"$gout" | head -c 300)"
else
    timeout 30 "$grpcurl" -plaintext -max-time 20 -d "{\"serverless_cache_name\": \"$watch_cache\"}" \
        "$facade_addr" elasticache.v1.ElastiCacheService/WatchServerlessCache >"$work/watch.out" 2>&1 &
    watch_pid=$!
    sleep 1
    early=$(cat "$work/watch.out")
    wrc=0
    wait "$watch_pid" || wrc=$?
    late=$(cat "$work/watch.out")
    if grep -q '"status": "creating"' <<<"$early" && ! grep -q '"status": "available"' <<<"$early" \
        && [[ $wrc -eq 0 ]] && grep -q '"status": "available"' <<<"$late" \
        && grep -q '"event": "WATCH_EVENT_CHANGED"' <<<"$late" && grep -q '"settled": true' <<<"$late"; then
        pass grpcurl-watch-streams
    else
        fail grpcurl-watch-streams "status $wrc; after 1 s: $(tr '\n' ' ' <<<"$early" | head -c 300); at the end: $(tr '\n' ' ' <<<"$late" | head -c 600)"
    fi
fi

phase="Connect checks with curl"
embedded_emulator=$(grep -o 'endpoint=http://[0-9.:]*' "$work/facade.log" | head -n 1 | cut -d= -f2 || true)
run_py connect_curl_check.py 120 connect_curl_check.py --addr "$facade_addr" --emulator "$embedded_emulator"

phase="Connect clients (Node: connect-node over Connect JSON, Connect binary, gRPC-Web)"
if (cd "$repo/.ci/connect" && timeout 600 npm ci --no-audit --no-fund --silent >&2 \
    && timeout 120 node_modules/.bin/buf generate >&2); then
    run_node connect_node 300 check.mjs --addr "$facade_addr"
    # A page in headless Chromium calling its own facade (one whose cors_allowed_origins names
    # the page's loopback origin) with connect-web, over HTTP/1.1 as browsers on plaintext do.
    phase="browser (headless Chromium: connect-web from an allowed origin)"
    browser_started=$SECONDS
    run_node connect_browser 180 browser.mjs --bin "$bin"
    log "browser check took $((SECONDS - browser_started))s"
else
    fail connect-node-setup "npm ci or buf generate failed in .ci/connect"
fi

phase="gRPC client checks"
run_py grpc_client_check.py 180 grpc_client_check.py --addr "$facade_addr" --gen "$gen"

phase="boto3 checks"
run_py boto3_lifecycle.py 300 boto3_lifecycle.py --endpoint "$emulator_url" --settle-ms "$settle_ms"

phase="boto3 family lifecycles"
run_py boto3_families.py 300 boto3_families.py --endpoint "$emulator_url" --settle-ms "$settle_ms"

# ---- the servers must still be up, then stop cleanly ---------------------------------------------

phase="shutdown"
for server in facade emulator; do
    pid_var=${server}_pid
    if kill -0 "${!pid_var}" 2>/dev/null; then
        pass "$server-survived-the-checks"
    else
        fail "$server-survived-the-checks" "process exited during the run"
    fi
done
stop_servers
[[ $failed -eq 0 ]] || dump_logs
summary
[[ $failed -eq 0 ]]
