#!/usr/bin/env bash
# Real-client conformance: each product's own published client, unmodified, against a running
# identity-server + identity-gateway on a fresh Postgres database.
#
#   bash tests/clients/run.sh              # every product (each directory with requirements.txt)
#   bash tests/clients/run.sh portainer    # only these
#
# Per product <p> (a directory tests/clients/<p>/):
#   - requirements.txt pins the client and pytest; the venv target/clients-venv/<p> is reused
#     while its recorded hash of requirements.txt matches, and rebuilt otherwise;
#   - a fresh database, server and gateway are started for it and removed afterwards;
#   - pytest runs tests/clients/<p>/ with GATEWAY_URL=http://127.0.0.1:<port> (and
#     IDENTITY_GRPC_ADDR) in the environment.
# Needs: cargo, python3 with venv/pip, PyPI, and Postgres at TEST_DATABASE_URL
# (default postgres://postgres@127.0.0.1:5432/postgres). No psql or curl.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLIENTS="$ROOT/tests/clients"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENVS="$TARGET_DIR/clients-venv"
ADMIN_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PYTHON="${PYTHON:-python3}"

section() { printf '\n==> %s\n' "$*"; }

# --- state cleaned up at exit ------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/identity-clients.XXXXXX")"
SERVER_PID=""
GATEWAY_PID=""
DB_NAME=""

stop_pid() {
  local pid="$1"
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

stop_stack() {
  stop_pid "$GATEWAY_PID"; GATEWAY_PID=""
  stop_pid "$SERVER_PID"; SERVER_PID=""
  if [[ -n "$DB_NAME" ]]; then
    "$VENVS/tools/bin/python" "$CLIENTS/support.py" drop-db "$ADMIN_URL" "$DB_NAME" ||
      echo "warning: could not drop database $DB_NAME" >&2
    DB_NAME=""
  fi
}

show_logs() {
  for log in "$WORK"/*.log; do
    [[ -f "$log" ]] || continue
    echo "---- last lines of $(basename "$log") ----"
    tail -n 40 "$log"
  done
}

on_exit() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then show_logs; fi
  stop_stack
  rm -rf "$WORK"
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# --- helpers -----------------------------------------------------------------------------------

# ensure_venv NAME REQUIREMENTS: (re)build target/clients-venv/NAME unless it already has exactly
# these pinned requirements installed.
ensure_venv() {
  local name="$1" req="$2" venv="$VENVS/$1"
  local want
  want="$("$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$req")"
  if [[ -x "$venv/bin/python" && -f "$venv/.requirements.sha256" && "$(cat "$venv/.requirements.sha256")" == "$want" ]] &&
    "$venv/bin/python" -m pip check >/dev/null 2>&1; then
    echo "venv $name: cached"
    return 0
  fi
  echo "venv $name: installing $(grep -v '^#' "$req" | tr '\n' ' ')"
  rm -rf "$venv"
  if ! "$PYTHON" -m venv "$venv" 2>"$WORK/venv.err"; then
    # Debian's python3 ships without ensurepip unless python3-venv is installed: use virtualenv.
    echo "python3 -m venv failed ($(head -n 1 "$WORK/venv.err")); using virtualenv"
    rm -rf "$venv"
    "$PYTHON" -m pip install --quiet --user --disable-pip-version-check virtualenv ||
      "$PYTHON" -m pip install --quiet --user --disable-pip-version-check --break-system-packages virtualenv
    "$PYTHON" -m virtualenv --quiet "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" >"$venv/.requirements.sha256"
}

free_port() { "$PYTHON" "$CLIENTS/support.py" free-port; }

# start_stack: fresh database, server and gateway; sets GATEWAY_URL and GRPC_ADDR.
start_stack() {
  local product="$1" created grpc_port server_http_port http_port
  created="$("$VENVS/tools/bin/python" "$CLIENTS/support.py" create-db "$ADMIN_URL")"
  DB_NAME="${created%% *}"
  local db_url="${created#* }"
  grpc_port="$(free_port)"
  server_http_port="$(free_port)"
  http_port="$(free_port)"
  GRPC_ADDR="127.0.0.1:$grpc_port"
  GATEWAY_URL="http://127.0.0.1:$http_port"

  # The server gets its own HTTP address so that an embedded gateway can never clash with ours.
  IDENTITY_DATABASE_URL="$db_url" \
    IDENTITY_GRPC_ADDR="$GRPC_ADDR" \
    IDENTITY_HTTP_ADDR="127.0.0.1:$server_http_port" \
    IDENTITY_JWT_SECRET="$("$PYTHON" -c 'import secrets; print(secrets.token_hex(32))')" \
    IDENTITY_ARGON2_MEMORY_KIB=8 \
    IDENTITY_ARGON2_ITERATIONS=1 \
    RUST_LOG="${RUST_LOG:-info}" \
    "$TARGET_DIR/debug/identity-server" >"$WORK/$product-server.log" 2>&1 &
  SERVER_PID=$!

  IDENTITY_HTTP_ADDR="127.0.0.1:$http_port" \
    IDENTITY_UPSTREAM="http://$GRPC_ADDR" \
    RUST_LOG="${RUST_LOG:-info}" \
    "$TARGET_DIR/debug/identity-gateway" >"$WORK/$product-gateway.log" 2>&1 &
  GATEWAY_PID=$!

  # The gateway answers 503 until the server is up; any other answer means both are ready.
  "$PYTHON" "$CLIENTS/support.py" wait-http "$GATEWAY_URL/api/users/admin/check" 60 "$SERVER_PID" "$GATEWAY_PID"
  echo "server on $GRPC_ADDR, gateway on $GATEWAY_URL, database $DB_NAME"
}

# --- main --------------------------------------------------------------------------------------

if [[ $# -gt 0 ]]; then
  PRODUCTS=("$@")
else
  PRODUCTS=()
  for dir in "$CLIENTS"/*/; do
    [[ -f "$dir/requirements.txt" ]] && PRODUCTS+=("$(basename "$dir")")
  done
fi
[[ ${#PRODUCTS[@]} -gt 0 ]] || { echo "no client products found in $CLIENTS" >&2; exit 1; }

section "building identity-server and identity-gateway (debug)"
(cd "$ROOT" && cargo build --quiet -p identity-server -p identity-gateway --bins)

section "tools venv"
mkdir -p "$VENVS"
ensure_venv tools "$CLIENTS/tools-requirements.txt"

for product in "${PRODUCTS[@]}"; do
  [[ -f "$CLIENTS/$product/requirements.txt" ]] || { echo "unknown product $product" >&2; exit 1; }
  section "$product: client venv"
  ensure_venv "$product" "$CLIENTS/$product/requirements.txt"
  section "$product: starting server and gateway"
  start_stack "$product"
  section "$product: pytest"
  (
    cd "$CLIENTS/$product"
    GATEWAY_URL="$GATEWAY_URL" IDENTITY_GRPC_ADDR="$GRPC_ADDR" \
      "$VENVS/$product/bin/python" -m pytest -p no:cacheprovider -ra -v .
  )
  stop_stack
done

section "real-client conformance: all products passed (${PRODUCTS[*]})"
