#!/usr/bin/env bash
# API fuzzing with schemathesis against /openapi.json of a real `whatsapi --sandbox` (temp database, free port).
# Checks: no 5xx (not_a_server_error) and documented responses (response_schema_conformance).
# Left out: POST /auth/me/rotate-key (it would revoke the key the run uses) and billing (Stripe is not configured
# here, so those answer their documented 503 "not configured"; tests/billing.rs covers them).
#
#   scripts/schemathesis.sh [MAX_EXAMPLES_PER_OPERATION] [MAX_SECONDS]     (defaults: 20, 120; seed fixed)
#
# Installs schemathesis into target/schemathesis-venv (once). Exit status: schemathesis's.
set -euo pipefail
cd "$(dirname "$0")/.."
MAX_EXAMPLES="${1:-20}"
MAX_SECONDS="${2:-120}"
SEED="${SCHEMATHESIS_SEED:-20250615}"
VENV=target/schemathesis-venv

if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q 'schemathesis>=4,<5'
fi

cargo build -q -p whatsapi-server --bin whatsapi
BIN="${CARGO_TARGET_DIR:-target}/debug/whatsapi"

WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
# The SQLite file in $WORK, even where DATABASE_URL points at PostgreSQL (as in CI).
env -u DATABASE_URL "$BIN" serve --listen "127.0.0.1:$PORT" --database "$WORK/whatsapi.db" --sandbox --webhook-allow-private \
  --plan-rpm free=1000000 --register-per-minute 1000000 --log warn >"$WORK/server.log" 2>&1 &
SERVER=$!
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  curl -sf "$BASE/healthz" >/dev/null && break
  sleep 0.1
done
KEY="$(curl -sf -X POST "$BASE/auth/register" -H 'content-type: application/json' \
  -d "{\"name\": \"Schemathesis\", \"email\": \"fuzz-$PORT@example.com\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["apiKey"])')"

status=0
timeout --kill-after=10 "$((MAX_SECONDS + 30))" "$VENV/bin/schemathesis" run "$BASE/openapi.json" \
  --url "$BASE" \
  --header "Authorization: Bearer $KEY" \
  --checks not_a_server_error,response_schema_conformance \
  --max-examples "$MAX_EXAMPLES" \
  --seed "$SEED" \
  --max-time "$MAX_SECONDS" \
  --request-timeout 30 \
  --generation-database none \
  --continue-on-failure \
  --exclude-path /auth/me/rotate-key \
  --exclude-path-regex '^/(billing/|webhooks/stripe)' \
  --no-color \
  --report junit --report-dir "${SCHEMATHESIS_REPORT_DIR:-target/schemathesis-report}" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- server log (last 40 lines) ---"
  tail -n 40 "$WORK/server.log"
fi
exit "$status"
