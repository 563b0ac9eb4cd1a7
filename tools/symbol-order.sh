#!/usr/bin/env bash
# Regenerates link/startup.order, the functions the release binary runs from its start to its
# first health check and then its first Describe — started as deployed (the AWS chain, an
# endpoint) and with --emulator — which build.rs has the linker (LLD) lay out together.
#
#   tools/symbol-order.sh [BINARY]      # default target/release/elasticache-grpc
#   tools/symbol-order.sh --report [BINARY]   # how many of the file's names BINARY has
#
# Why: the kernel maps a binary's code 64 KiB around each page fault, so a start-up path that
# touches ~1.4 MiB of functions spread over 27 MB of .text kept ~13.6 MiB of code resident
# (BENCHMARKS.md, "Idle RSS: start-up code packed together"). Packed, the same path keeps ~1.6 MiB.
#
# The file lists mangled symbol names, which are stable across most edits (the hash in a Rust
# symbol is of the crate and the item, not of the code) but not across dependency or toolchain
# upgrades, and not for the `.llvm.NNN` copies ThinLTO makes of a changed module. Names that no
# longer exist are ignored by the linker, so a stale file only packs less: `.ci/run` fails when
# the idle RSS is over its budget, and `--report` says how much of the file still matches.
# Regenerate it after bumping Cargo.lock or the toolchain, from the binary users get:
#
#   cargo build --release --locked --bin elasticache-grpc && tools/symbol-order.sh
#   cargo build --release --locked --bin elasticache-grpc   # relink with the new order
#
# (`cargo bench` builds the binary with the dev-dependencies' features, hence other symbol
# names: its binary is not the one to profile.)
#
# Needs valgrind (callgrind, callgrind_control), curl and nm. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

report=false
if [[ "${1:-}" == "--report" ]]; then
  report=true
  shift
fi
bin=${1:-target/release/elasticache-grpc}
order=link/startup.order
[[ -x "$bin" ]] || { echo "no binary at $bin (cargo build --release)" >&2; exit 2; }

defined() { nm --defined-only "$1" | awk 'NF == 3 { print $3 }' | sort -u; }

if $report; then
  total=$(grep -c . "$order")
  found=$(comm -12 <(sort -u "$order") <(defined "$bin") | wc -l)
  echo "symbol order: $found of $total names of $order are in $bin ($((found * 100 / total))%)"
  exit 0
fi

for tool in valgrind callgrind_control curl nm; do
  command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 2; }
done
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
cp "$bin" "$work/bin"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# gRPC frames: the health request for the service, and an empty DescribeServerlessCaches.
printf '\x00\x00\x00\x00\x23\x0a\x21elasticache.v1.ElastiCacheService' >"$work/health"
printf '\x00\x00\x00\x00\x00' >"$work/empty"
call() {
  curl -s --http2-prior-knowledge -o /dev/null -D "$work/head" -H 'content-type: application/grpc' \
    -H 'te: trailers' --data-binary @"$work/$3" "http://127.0.0.1:$1/$2" && grep -qi 'grpc-status: 0' "$work/head"
}

# Profiles one start of the facade (its arguments after the run's name) under callgrind: up to
# SERVING and one health check (dumped), then one Describe, then SIGINT.
profile() {
  local name=$1 port
  shift
  port=$(free_port)
  AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIDPROFILE \
    AWS_SECRET_ACCESS_KEY=profile valgrind --tool=callgrind --demangle=no \
    --callgrind-out-file="$work/$name.out" "$work/bin" --listen "127.0.0.1:$port" \
    --allow-unauthenticated "$@" >"$work/$name.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 240); do
    call "$port" grpc.health.v1.Health/Check health && break
    sleep 0.5
  done
  call "$port" grpc.health.v1.Health/Check health || { cat "$work/$name.log" >&2; echo "never SERVING" >&2; exit 1; }
  callgrind_control -d "$pid" >/dev/null 2>&1
  call "$port" elasticache.v1.ElastiCacheService/DescribeServerlessCaches empty \
    || { echo "the Describe failed" >&2; exit 1; }
  kill -INT "$pid"
  wait "$pid" || true
}

# As deployed: the standard AWS chain (static keys in the environment), an upstream endpoint (a
# standalone emulator, not profiled); then what --emulator adds at start.
emulator_port=$(free_port)
"$work/bin" emulator --listen "127.0.0.1:$emulator_port" --settle-ms 0 --s3-dir "$work/s3" \
  >"$work/emulator.log" 2>&1 &
pids+=("$!")
AWS_ENDPOINT_URL_ELASTICACHE="http://127.0.0.1:$emulator_port" profile deployed
profile embedded --emulator --s3-dir "$work/s3"

# Names in first-seen order, the deployed start first: start-up and the health check (the first
# dump), then what the Describe added; then what the embedded emulator's start added. Only names
# defined in the binary itself.
python3 - "$work" "$order" <<'EOF'
import glob, re, subprocess, sys
work, order = sys.argv[1], sys.argv[2]
defined = set(
    line.split()[2]
    for line in subprocess.run(["nm", "--defined-only", f"{work}/bin"], capture_output=True, text=True).stdout.splitlines()
    if len(line.split()) == 3
)
dumps = []
for run in ("deployed", "embedded"):
    parts = sorted(glob.glob(f"{work}/{run}.out.*"), key=lambda p: int(p.rsplit(".", 1)[1]))
    dumps += parts + [f"{work}/{run}.out"]
names, seen = [], set()
for dump in dumps:
    for line in open(dump, errors="replace"):
        m = re.match(r"c?fn=\(\d+\) (.+)$", line.rstrip("\n"))
        if m and m.group(1) in defined and m.group(1) not in seen:
            seen.add(m.group(1))
            names.append(m.group(1))
with open(order, "w") as out:
    out.write("\n".join(names) + "\n")
print(f"{order}: {len(names)} functions")
EOF
