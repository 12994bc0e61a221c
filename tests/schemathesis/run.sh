#!/usr/bin/env bash
# schemathesis against the gateway's own OpenAPI documents, on the real binaries. Per dialect,
# on its own fresh Postgres database, server and gateway:
#   1. /openapi/{dialect}.json is fetched and validated as OpenAPI 3.1 (openapi-spec-validator),
#      and a deliberately broken copy must be refused;
#   2. an administrator is bootstrapped (Portainer admin init + login); schemathesis must report
#      a violation seeded into a copy of the document (proof that checks and credential work);
#   3. schemathesis runs every operation of the document with that session, checking: no 5xx
#      (not_a_server_error), documented status codes, documented content types and response
#      headers, and response bodies matching the documented schemas.
#
#   bash tests/schemathesis/run.sh                  # all four dialects
#   bash tests/schemathesis/run.sh portainer tyk    # only these
#   SCHEMATHESIS_MAX_EXAMPLES=50 bash tests/schemathesis/run.sh
#
# The venv target/schemathesis-venv is reused while its recorded hash of requirements.txt matches.
# Database helpers: tests/clients/support.py. Needs cargo, python3, PyPI and Postgres at
# TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
HERE="$ROOT/tests/schemathesis"
VENV="$TARGET_DIR/schemathesis-venv"
DB_PYTHON="$VENV/bin/python"
# Hypothesis (under schemathesis) calls ast.parse deep in recursion, which CPython 3.11 before
# 3.11.8 refuses with "SystemError: AST constructor recursion depth mismatch" (gh-106905): prefer
# a newer interpreter for the venv when the machine has one.
if [[ -z "${PYTHON:-}" ]]; then
  candidates=(python3.13 python3.12)
  if command -v pyenv >/dev/null 2>&1; then
    for v in 3.13 3.12; do
      for p in "$(pyenv root)"/versions/"$v".*/bin/python"$v"; do candidates+=("$p"); done
    done
  fi
  for candidate in "${candidates[@]}"; do
    if "$candidate" -c 'import venv' >/dev/null 2>&1; then
      PYTHON="$candidate"
      break
    fi
  done
fi
PYTHON="${PYTHON:-python3}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-25}"
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance"

stack_init schemathesis

# schemathesis, run inside the scratch directory so that its state (.schemathesis/) never lands in
# the repository.
schemathesis() { (cd "$WORK" && "$VENV/bin/schemathesis" --no-color "$@"); }

if [[ $# -gt 0 ]]; then DIALECTS=("$@"); else DIALECTS=(portainer trieve tyk openai); fi

build_binaries

section "venv"
mkdir -p "$(dirname "$VENV")"
# The recorded hash covers the interpreter version too.
ensure_venv venv "$VENV" "$HERE/requirements.txt" per-interpreter
"$VENV/bin/python" --version
"$VENV/bin/schemathesis" --version

# A GET route per dialect that needs the credential and answers 200 with an object.
declare -A PROBE=(
  [portainer]="/api/users/me"
  [trieve]="/api/auth/me"
  [tyk]="/api/v1/users"
  [openai]="/v1/organization/users"
)

# How each dialect carries the administrator session.
auth_header() {
  case "$1" in
    trieve) echo "Authorization: $JWT" ;;
    *) echo "Authorization: Bearer $JWT" ;;
  esac
}

FAILED=()
for d in "${DIALECTS[@]}"; do
  # A fresh database, server and gateway per dialect: schemathesis creates, changes and deletes
  # users (it may, e.g., make a second administrator and demote the first through Tyk), so no
  # dialect's run depends on what an earlier one left behind.
  section "$d: starting server and gateway"
  start_stack "" warn
  echo "gateway on $GATEWAY_URL, database $DB_NAME"

  section "$d: OpenAPI 3.1 validation"
  "$VENV/bin/python" "$HERE/support.py" fetch "$GATEWAY_URL" "$d" "$WORK/$d.json"
  "$VENV/bin/python" "$HERE/support.py" validate "$WORK/$d.json"
  "$VENV/bin/python" "$HERE/support.py" validate-must-fail "$WORK/$d.json"

  section "$d: bootstrap an administrator session"
  JWT="$("$VENV/bin/python" "$HERE/support.py" bootstrap "$GATEWAY_URL")"
  AUTH="$(auth_header "$d")"

  # The checks must bite: on a copy of the document whose probe route documents a property the
  # gateway never sends, schemathesis has to fail. This also proves that the credential works
  # (a 401 would never be checked against the 200 schema).
  section "$d: self-check, a seeded schema violation on GET ${PROBE[$d]} must be reported"
  "$VENV/bin/python" "$HERE/support.py" seed-violation "$WORK/$d.json" "$WORK/$d-seeded.json" "${PROBE[$d]}"
  if schemathesis run "$WORK/$d-seeded.json" \
    --url "$GATEWAY_URL" \
    --header "$AUTH" \
    --checks response_schema_conformance \
    --include-path "${PROBE[$d]}" --include-method GET \
    --phases fuzzing \
    --max-examples 3 \
    --seed 1 \
    --generation-with-security-parameters false \
    --generation-database none >"$WORK/$d-seeded.out" 2>&1; then
    cat "$WORK/$d-seeded.out"
    echo "schemathesis did not report the seeded violation for $d" >&2
    exit 1
  fi
  grep -q "seeded_violation" "$WORK/$d-seeded.out" || {
    cat "$WORK/$d-seeded.out"
    echo "schemathesis failed for $d, but not on the seeded violation" >&2
    exit 1
  }
  echo "reported, as it must be"

  section "$d: schemathesis (max $MAX_EXAMPLES examples per operation)"
  # Output sanitisation hides the Authorization header in reports. The seed is fixed so that a
  # failure can be replayed; change SCHEMATHESIS_SEED to explore further.
  if ! schemathesis run "$WORK/$d.json" \
    --url "$GATEWAY_URL" \
    --header "$AUTH" \
    --checks "$CHECKS" \
    --max-examples "$MAX_EXAMPLES" \
    --seed "${SCHEMATHESIS_SEED:-1}" \
    --generation-with-security-parameters false \
    --generation-database none \
    --request-timeout 15 \
    --workers 2; then
    FAILED+=("$d")
  fi
  stop_stack
done

if [[ ${#FAILED[@]} -gt 0 ]]; then
  echo "schemathesis found failures in: ${FAILED[*]}" >&2
  exit 1
fi
section "schemathesis: no server errors and no schema violations (${DIALECTS[*]})"
