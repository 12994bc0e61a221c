# shellcheck shell=bash
# Shell functions shared by tests/clients/run.sh and tests/schemathesis/run.sh, which source this
# file (it sets a few paths and defines functions; it runs nothing):
#   - Python venvs pinned by a requirements file, rebuilt only when its recorded hash changes;
#   - a fresh Postgres database with identity-server and identity-gateway on free ports, all
#     stopped and removed at exit (the logs of a failed run are shown first).
# The database and port helpers are tests/clients/support.py. The caller sets PYTHON (the
# interpreter that builds venvs) and DB_PYTHON (a venv's python with the database driver support.py
# needs), then calls stack_init once.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
ADMIN_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
STACK_SUPPORT="$ROOT/tests/clients/support.py"

section() { printf '\n==> %s\n' "$*"; }

# stack_init NAME: the scratch directory $WORK (identity-NAME.XXXXXX under TMPDIR), no stack yet,
# and the traps that clean up at exit.
stack_init() {
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/identity-$1.XXXXXX")"
  SERVER_PID=""
  GATEWAY_PID=""
  DB_NAME=""
  trap on_exit EXIT
  trap 'exit 130' INT TERM
}

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
    "$DB_PYTHON" "$STACK_SUPPORT" drop-db "$ADMIN_URL" "$DB_NAME" ||
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

# ensure_venv LABEL VENV REQUIREMENTS [per-interpreter]: (re)build VENV unless it already has
# exactly these pinned requirements installed; says "LABEL: cached" or "LABEL: installing …".
# With per-interpreter, the recorded hash covers the interpreter version too.
ensure_venv() {
  local label="$1" venv="$2" req="$3" want
  want="$("$PYTHON" -c '
import hashlib, sys
data = open(sys.argv[1], "rb").read()
if sys.argv[2:]:
    data += sys.version.encode()
print(hashlib.sha256(data).hexdigest())' "$req" ${4:+"$4"})"
  if [[ -x "$venv/bin/python" && -f "$venv/.requirements.sha256" && "$(cat "$venv/.requirements.sha256")" == "$want" ]] &&
    "$venv/bin/python" -m pip check >/dev/null 2>&1; then
    echo "$label: cached"
    return 0
  fi
  echo "$label: installing $(grep -v '^#' "$req" | tr '\n' ' ')"
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

free_port() { "$PYTHON" "$STACK_SUPPORT" free-port; }

# build_binaries: the debug identity-server and identity-gateway that start_stack runs.
build_binaries() {
  section "building identity-server and identity-gateway (debug)"
  (cd "$ROOT" && cargo build --quiet -p identity-server -p identity-gateway --bins)
}

# start_stack LOG_PREFIX LOG_LEVEL: a fresh database, server and gateway, logging to
# $WORK/<LOG_PREFIX>server.log and $WORK/<LOG_PREFIX>gateway.log at RUST_LOG (LOG_LEVEL unless
# RUST_LOG is set); sets DB_NAME, GRPC_ADDR and GATEWAY_URL once the gateway answers.
start_stack() {
  local log_prefix="$1" log_level="$2" created grpc_port server_http_port http_port
  created="$("$DB_PYTHON" "$STACK_SUPPORT" create-db "$ADMIN_URL")"
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
    RUST_LOG="${RUST_LOG:-$log_level}" \
    "$TARGET_DIR/debug/identity-server" >"$WORK/${log_prefix}server.log" 2>&1 &
  SERVER_PID=$!

  IDENTITY_HTTP_ADDR="127.0.0.1:$http_port" \
    IDENTITY_UPSTREAM="http://$GRPC_ADDR" \
    RUST_LOG="${RUST_LOG:-$log_level}" \
    "$TARGET_DIR/debug/identity-gateway" >"$WORK/${log_prefix}gateway.log" 2>&1 &
  GATEWAY_PID=$!

  # The gateway answers 503 until the server is up; any other answer means both are ready.
  "$PYTHON" "$STACK_SUPPORT" wait-http "$GATEWAY_URL/api/users/admin/check" 60 "$SERVER_PID" "$GATEWAY_PID"
}
