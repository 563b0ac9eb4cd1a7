#!/usr/bin/env bash
# Runs the Dockerfile's builder stage without a Docker engine: the same apt-get install, then the
# same `cargo build`, with nothing on PATH but the tools the builder image would have.
#
#   1. Reads the builder stage (`FROM rust:X-slim-bookworm AS builder`) of the Dockerfile: the
#      package list of its `apt-get install` and its `cargo build` command, so the two cannot drift.
#   2. Installs those packages here with apt-get if they are missing (this machine is Debian 12
#      bookworm, the builder's base; the script refuses to run on another release).
#   3. Builds a directory of symlinks to the image's tools, and only those:
#        - debian:bookworm-slim, which rust:*-slim-bookworm is built on: the Priority: required
#          packages of bookworm (what debootstrap --variant=minbase installs: coreutils, dash,
#          bash, sed, grep, mawk, findutils, diffutils, tar, gzip, perl-base, dpkg, apt, ...);
#        - what rust:*-slim adds: ca-certificates, gcc, libc6-dev (installed with
#          --no-install-recommends; its wget is removed again) and the rustup proxies (cargo,
#          rustc, rustdoc, rustup, ...) of the toolchain named by the tag;
#        - the packages that the Dockerfile's apt-get install names;
#      each with its Depends/Pre-Depends closure as dpkg resolves it on this machine, every
#      executable that `dpkg -L` lists under a bin/ or sbin/ directory, and the update-alternatives
#      links (cc, awk, which, ...) that the image would get in auto mode.
#   4. Checks that the Dockerfile's packages add tools the base lacks (make is not reachable
#      without them), then runs the Dockerfile's build command under `env -i` with PATH set to
#      that directory alone and checks that the binary runs (`--version`).
#
# Not verified (there is no Docker engine here): the image's filesystem itself (a tool that is
# called by absolute path, not through PATH, comes from this machine), the distroless runtime
# stage, the BuildKit cache mounts, COPY with .dockerignore, USER/EXPOSE/ENTRYPOINT.
#
# The build goes to $DOCKER_CHECK_TARGET_DIR (default: ${CARGO_TARGET_DIR:-target}/docker-check),
# never to the normal target dir: artifacts built with this machine's full PATH would hide a
# missing tool. Cargo does not rebuild when PATH changes, so the directory is wiped whenever the
# tool set, the toolchain or the build command differs from the one that filled it.
# It also builds tikv-jemalloc-sys with the base tools only and expects it to fail for want of
# make (about 20 s more; DOCKER_CHECK_NEGATIVE=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKERFILE=${DOCKERFILE:-Dockerfile}
TARGET_DIR=${DOCKER_CHECK_TARGET_DIR:-${CARGO_TARGET_DIR:-target}/docker-check}
mkdir -p "$TARGET_DIR"
TARGET_DIR=$(cd "$TARGET_DIR" && pwd)
# What rust:*-slim installs on top of debian:*-slim (rust-lang/docker-rust, slim Dockerfile).
RUST_SLIM_PACKAGES=(ca-certificates gcc libc6-dev)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'docker-build-check: %s\n' "$*" >&2
  exit 1
}

# --- 1. the builder stage of the Dockerfile -------------------------------------------------
python3 - "$DOCKERFILE" >"$WORK/stage" <<'PYEOF'
import re, shlex, sys

text = open(sys.argv[1]).read()
# Join continuation lines; comment lines inside a continuation are dropped, as Docker does.
lines, cur = [], ""
for raw in text.splitlines():
    s = raw.strip()
    if not s or s.startswith("#"):
        continue
    if s.endswith("\\"):
        cur += s[:-1] + " "
        continue
    cur += s
    if cur.strip():
        lines.append(cur.strip())
    cur = ""

stage, image = None, None
runs = []
for line in lines:
    word, _, rest = line.partition(" ")
    word = word.upper()
    if word == "FROM":
        m = re.match(r"(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
        stage = m.group(2)
        if stage == "builder":
            image = m.group(1)
    elif word == "RUN" and stage == "builder":
        runs.append(rest)
if image is None:
    sys.exit("no `FROM ... AS builder` stage")
m = re.fullmatch(r"rust:(\d+\.\d+(?:\.\d+)?)-slim-(\w+)", image)
if not m:
    sys.exit(f"builder image {image} is not rust:VERSION-slim-SUITE")

packages, build = [], None
for run in runs:
    words = shlex.split(run)
    while words and words[0].startswith("--"):  # --mount=..., --network=...
        words.pop(0)
    # split the shell command list on && and ;
    cmds, cmd = [], []
    for w in words:
        if w in ("&&", ";", "||"):
            cmds.append(cmd)
            cmd = []
        else:
            cmd.append(w.rstrip(";"))
    cmds.append(cmd)
    for c in cmds:
        if c[:2] == ["apt-get", "install"]:
            packages += [w for w in c[2:] if not w.startswith("-")]
        if c[:2] == ["cargo", "build"]:
            if build is not None:
                sys.exit("more than one cargo build in the builder stage")
            build = shlex.join(c)
if build is None:
    sys.exit("no `cargo build` in the builder stage")
print(image)
print(m.group(1))
print(m.group(2))
print(" ".join(packages))
print(build)
PYEOF
{
  read -r IMAGE
  read -r RUST_VERSION
  read -r SUITE_WANTED
  read -r PACKAGE_SPECS
  read -r BUILD_CMD
} <"$WORK/stage"
say "builder image: $IMAGE"
say "Dockerfile apt-get install: ${PACKAGE_SPECS:-(none)}"
say "Dockerfile build command: $BUILD_CMD"

# shellcheck disable=SC1091 # os-release is a plain VAR=value file
SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ "$SUITE" = "$SUITE_WANTED" ] ||
  die "this machine is Debian '$SUITE', the builder is $SUITE_WANTED: its packages would not match"

# --- 2. the Dockerfile's packages ------------------------------------------------------------
read -r -a SPECS <<<"$PACKAGE_SPECS"
PACKAGES=()
for spec in "${SPECS[@]}"; do PACKAGES+=("${spec%%=*}"); done
installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }
missing=()
for i in "${!PACKAGES[@]}"; do
  installed "${PACKAGES[$i]}" || missing+=("${SPECS[$i]}")
done
for p in "${RUST_SLIM_PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  SUDO=()
  [ "$(id -u)" -eq 0 ] || SUDO=(sudo -n)
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# --- 3. the image's tools --------------------------------------------------------------------
# Priority: required of the suite, from apt's lists (the archive's priorities, which can differ
# from the ones in the installed packages' own control files).
apt-cache dumpavail | awk '/^Package:/ { p = $2 } /^Priority: required/ { print p }' |
  sort -u >"$WORK/required"
if [ ! -s "$WORK/required" ]; then
  [ "$(id -u)" -eq 0 ] || die "apt has no package lists; run apt-get update"
  apt-get update -qq
  apt-cache dumpavail | awk '/^Package:/ { p = $2 } /^Priority: required/ { print p }' |
    sort -u >"$WORK/required"
fi
[ -s "$WORK/required" ] || die "no Priority: required packages in apt's lists"
mapfile -t REQUIRED <"$WORK/required"
missing=()
for p in "${REQUIRED[@]}" apt; do installed "$p" || missing+=("$p"); done
[ "${#missing[@]}" -eq 0 ] ||
  die "packages of debian:$SUITE-slim are not installed here: ${missing[*]}"

# The toolchain of the tag (rust:1.95 is the newest 1.95.x); rustup cannot fetch one here.
TOOLCHAIN=$(rustup toolchain list | awk '{ print $1 }' |
  grep -E "^${RUST_VERSION//./\\.}(\\.[0-9]+)?-x86_64-unknown-linux-gnu$" | sort -V | tail -n 1 || true)
if [ -z "$TOOLCHAIN" ]; then
  release=$(rustc -vV | awk '/^release:/ { print $2 }')
  case "$release" in
    "$RUST_VERSION" | "$RUST_VERSION".*) TOOLCHAIN=$(rustup show active-toolchain | awk '{ print $1 }') ;;
    *) die "no Rust $RUST_VERSION toolchain installed (rustup toolchain install $RUST_VERSION)" ;;
  esac
fi
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
RUSTUP_BIN=$(readlink -f "$CARGO_HOME/bin/rustup")

# tooldir DIR PACKAGE...: DIR gets a symlink for every executable of the packages' closure.
tooldir() {
  local dir=$1
  shift
  mkdir -p "$dir"
  python3 - "$dir" "$@" <<'PYEOF'
import os, re, subprocess, sys

out, roots = sys.argv[1], sys.argv[2:]
fmt = "${Package}\t${db:Status-Status}\t${Provides}\t${Pre-Depends}, ${Depends}\n"
db = subprocess.run(["dpkg-query", "-W", "-f", fmt], capture_output=True, text=True, check=True)
deps, provides = {}, {}
for line in db.stdout.splitlines():
    name, status, prov, dep = line.split("\t")
    if status != "installed":
        continue
    deps[name] = dep
    for p in prov.split(","):
        if p.strip():
            provides.setdefault(p.split()[0], []).append(name)

def alternatives(group):
    """Package names that satisfy one `a | b (>= 1) | c:any` group, in apt's order of choice."""
    names = []
    for alt in group.split("|"):
        alt = re.sub(r"\(.*?\)|\[.*?\]|<.*?>", "", alt).strip().split(":")[0]
        if alt:
            names += ([alt] if alt in deps else []) + provides.get(alt, [])
    return names

chosen, todo = set(), list(roots)
while todo:
    pkg = todo.pop()
    if pkg in chosen:
        continue
    if pkg not in deps:
        sys.exit(f"package {pkg} is not installed")
    chosen.add(pkg)
    for group in deps[pkg].split(","):
        if not group.strip():
            continue
        names = alternatives(group)
        if not names:
            sys.exit(f"{pkg}: no installed package satisfies '{group.strip()}'")
        if not any(n in chosen for n in names):
            todo.append(names[0])

files = set()
listing = subprocess.run(["dpkg-query", "-L", *sorted(chosen)], capture_output=True, text=True,
                         check=True).stdout.splitlines()
bin_dir = re.compile(r"^/(usr/)?(local/)?s?bin/[^/]+$")
tools = {}
for path in sorted(listing, key=lambda p: (not p.startswith("/usr/"), p)):
    if bin_dir.match(path) and os.path.isfile(path) and os.access(path, os.X_OK):
        files.add(os.path.realpath(path))
        tools.setdefault(os.path.basename(path), path)

# update-alternatives in auto mode: the highest priority alternative among the chosen files.
sel = subprocess.run(["update-alternatives", "--get-selections"], capture_output=True, text=True,
                     check=True).stdout.split()[0::3]
for name in sel:
    q = subprocess.run(["update-alternatives", "--query", name], capture_output=True, text=True)
    if q.returncode:
        continue
    link, best, section, slaves, alts = None, None, None, {}, []
    for line in q.stdout.splitlines():
        if line.startswith("Link: "):
            link = line[6:]
        elif line.startswith("Alternative: "):
            alts.append([line[13:], 0, {}])
        elif line.startswith("Priority: "):
            alts[-1][1] = int(line[10:])
        elif line == "Slaves:":
            section = "alt" if alts else "master"
        elif line.startswith(" ") and section:
            k, v = line.split(None, 1)
            (alts[-1][2] if section == "alt" else slaves)[k] = v
    alts = [a for a in alts if os.path.realpath(a[0]) in files]
    if not alts:
        continue
    path, _, slave_paths = max(alts, key=lambda a: a[1])
    for lnk, target in [(link, path)] + [(slaves[k], v) for k, v in slave_paths.items() if k in slaves]:
        if bin_dir.match(lnk) and os.access(target, os.X_OK):
            tools.setdefault(os.path.basename(lnk), target)

for name, path in tools.items():
    os.symlink(path, os.path.join(out, name))
with open(os.path.join(out, ".packages"), "w") as f:
    f.write("\n".join(sorted(chosen)) + "\n")
PYEOF
  # The rustup proxies of CARGO_HOME/bin (not cargo-installed tools).
  local f
  for f in "$CARGO_HOME"/bin/*; do
    [ "$(readlink -f "$f")" = "$RUSTUP_BIN" ] && ln -s "$f" "$dir/$(basename "$f")"
  done
  return 0
}

BASE=$WORK/base-bin
IMAGE_BIN=$WORK/image-bin
tooldir "$BASE" "${REQUIRED[@]}" apt "${RUST_SLIM_PACKAGES[@]}"
tooldir "$IMAGE_BIN" "${REQUIRED[@]}" apt "${RUST_SLIM_PACKAGES[@]}" "${PACKAGES[@]}"
say "base tools (debian:$SUITE-slim + rust:$RUST_VERSION-slim, $(wc -l <"$BASE/.packages") packages): $(find "$BASE" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l)"
say "image tools (+ ${PACKAGES[*]:-nothing}): $(find "$IMAGE_BIN" -mindepth 1 -maxdepth 1 ! -name '.*' | wc -l)"
say "toolchain: $TOOLCHAIN"

# The environment of the build: only the tool dir on PATH. Network settings pass through (a
# docker build gets the daemon's), and nothing else.
clean_env() {
  local path=$1
  shift
  local vars=(HOME="$HOME" PATH="$path" CARGO_HOME="$CARGO_HOME" RUSTUP_HOME="$RUSTUP_HOME"
    RUSTUP_TOOLCHAIN="$TOOLCHAIN" CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}")
  local v
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY SSL_CERT_FILE \
    SSL_CERT_DIR CARGO_HTTP_CAINFO RUSTUP_AUTO_INSTALL; do
    [ -z "${!v:-}" ] || vars+=("$v=${!v}")
  done
  env -i "${vars[@]}" "$@"
}

# --- 4. checks -------------------------------------------------------------------------------
verified=()
# The Dockerfile's packages must each bring a tool that the base does not have.
for p in "${PACKAGES[@]}"; do
  new=()
  while read -r tool; do
    [ -n "$tool" ] && [ ! -e "$BASE/$tool" ] && [ -e "$IMAGE_BIN/$tool" ] && new+=("$tool")
  done < <(dpkg-query -L "$p" | grep -E '^/(usr/)?s?bin/[^/]+$' | xargs -r -n1 basename)
  [ "${#new[@]}" -gt 0 ] || die "Dockerfile package $p adds no tool to $IMAGE: is it needed?"
  verified+=("$p adds ${new[*]} (absent from the base image)")
done
if clean_env "$BASE" /bin/sh -c 'command -v make' >/dev/null; then
  die "make is reachable with the base tools alone: the isolation does not work"
fi
clean_env "$IMAGE_BIN" /bin/sh -c 'command -v make' >/dev/null ||
  die "make is not reachable with the image's tools: tikv-jemalloc-sys needs it"
verified+=("make is reachable with the image's tools and not with the base's")

if [ "${DOCKER_CHECK_NEGATIVE:-1}" = 1 ]; then
  say "negative check: tikv-jemalloc-sys with the base tools only (must fail for want of make)"
  if clean_env "$BASE" CARGO_TARGET_DIR="$WORK/negative" \
    cargo build --release --locked -p tikv-jemalloc-sys >"$WORK/negative.log" 2>&1; then
    die "tikv-jemalloc-sys built without the Dockerfile's packages: is make still needed?"
  fi
  last_run=$(grep 'running:' "$WORK/negative.log" | tail -n 1 | sed 's/^ *//')
  failure=$(grep -m1 'failed to execute command' "$WORK/negative.log" | sed 's/^ *//' || true)
  if [[ "$last_run" != *'"make"' || "$failure" != *'No such file or directory'* ]]; then
    tail -n 30 "$WORK/negative.log"
    die "the negative build failed, but not for want of make"
  fi
  printf '  %s\n  %s\n' "$last_run" "$failure"
  verified+=("without the Dockerfile's packages tikv-jemalloc-sys fails to run make: $failure")
fi

# The target dir holds only what was built with this same tool set: wipe it when the tool set,
# the toolchain or the command differs from the one that filled it (cargo would not notice).
mapfile -t IMAGE_PACKAGES <"$IMAGE_BIN/.packages"
STAMP=$(
  {
    echo "$BUILD_CMD"
    clean_env "$IMAGE_BIN" rustc -vV
    for f in "$IMAGE_BIN"/*; do printf '%s %s\n' "$(basename "$f")" "$(readlink -f "$f")"; done
    dpkg-query -W -f='${Package} ${Version}\n' "${IMAGE_PACKAGES[@]}"
  } | sha256sum | cut -d' ' -f1
)
MARK=$TARGET_DIR/.docker-build-check
if [ -n "$(ls -A "$TARGET_DIR")" ] && [ ! -f "$MARK" ]; then
  die "$TARGET_DIR is not empty and was not made by this script; set DOCKER_CHECK_TARGET_DIR"
fi
if [ "$(cat "$MARK" 2>/dev/null)" != "$STAMP" ]; then
  say "fresh target dir $TARGET_DIR (first run, or the tool set or toolchain changed)"
  find "$TARGET_DIR" -mindepth 1 -delete
  echo "$STAMP" >"$MARK"
fi

say "env -i PATH=<image tools> CARGO_TARGET_DIR=$TARGET_DIR /bin/sh -c '$BUILD_CMD'"
start=$SECONDS
clean_env "$IMAGE_BIN" CARGO_TARGET_DIR="$TARGET_DIR" /bin/sh -c "$BUILD_CMD"
verified+=("'$BUILD_CMD' succeeds with only the image's tools on PATH ($((SECONDS - start)) s)")

BIN=$(sed -n 's/.*--bin[ =]\([^ ]*\).*/\1/p' <<<"$BUILD_CMD")
BIN=$TARGET_DIR/release/${BIN:-elasticache-grpc}
version=$("$BIN" --version)
verified+=("the binary runs: $version")

echo
echo "Verified, without a Docker engine:"
printf '  - %s\n' "${verified[@]}"
cat <<'EOF'
Not verified (needs a Docker engine):
  - the image's own filesystem: only PATH is restricted; a tool called by absolute path, the
    headers and the libraries come from this machine (same Debian release and packages)
  - COPY . . with .dockerignore (the build here sees the whole work tree)
  - the BuildKit cache mounts, and the install into /out
  - the distroless runtime stage: that the binary starts on gcr.io/distroless/cc-debian12
EOF
