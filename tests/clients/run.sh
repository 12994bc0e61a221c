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

# shellcheck source=../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
CLIENTS="$ROOT/tests/clients"
VENVS="$TARGET_DIR/clients-venv"
PYTHON="${PYTHON:-python3}"
DB_PYTHON="$VENVS/tools/bin/python"

stack_init clients

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

build_binaries

section "tools venv"
mkdir -p "$VENVS"
ensure_venv "venv tools" "$VENVS/tools" "$CLIENTS/tools-requirements.txt"

for product in "${PRODUCTS[@]}"; do
  [[ -f "$CLIENTS/$product/requirements.txt" ]] || { echo "unknown product $product" >&2; exit 1; }
  section "$product: client venv"
  ensure_venv "venv $product" "$VENVS/$product" "$CLIENTS/$product/requirements.txt"
  section "$product: starting server and gateway"
  start_stack "$product-" info
  echo "server on $GRPC_ADDR, gateway on $GATEWAY_URL, database $DB_NAME"
  section "$product: pytest"
  (
    cd "$CLIENTS/$product"
    GATEWAY_URL="$GATEWAY_URL" IDENTITY_GRPC_ADDR="$GRPC_ADDR" \
      IDENTITY_SERVER_BIN="$TARGET_DIR/debug/identity-server" \
      "$VENVS/$product/bin/python" -m pytest -p no:cacheprovider -ra -v .
  )
  stop_stack
done

section "real-client conformance: all products passed (${PRODUCTS[*]})"
