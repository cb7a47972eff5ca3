#!/usr/bin/env bash
# What `make run` starts once the binaries are built: `salla-odoo run` (ingest + workers + scheduled
# jobs in one process) on embedded storage in $SALLA_ODOO_DATA_DIR — or on Redis + Postgres when
# REDIS_URL / DATABASE_URL are configured — and, when no Odoo is configured (ODOO_URL unset), an
# `odoo-sandbox` (an in-memory Odoo) with the sample store registered against it.
#
# Environment: BIN_DIR (target/release), LISTEN (127.0.0.1:8080), SALLA_ODOO_DATA_DIR
# (salla-odoo-data), SANDBOX_LISTEN (127.0.0.1:8069), ODOO_URL (a real Odoo: no sandbox is started),
# SALLA_ODOO__SALLA__WEBHOOK_SECRET (default: the development secret "dev-webhook-secret").
set -euo pipefail

BIN_DIR=${BIN_DIR:-target/release}
LISTEN=${LISTEN:-127.0.0.1:8080}
DATA_DIR=${SALLA_ODOO_DATA_DIR:-salla-odoo-data}
SANDBOX_LISTEN=${SANDBOX_LISTEN:-127.0.0.1:8069}
SAMPLE_MERCHANT=1000001
export SALLA_ODOO__SALLA__WEBHOOK_SECRET=${SALLA_ODOO__SALLA__WEBHOOK_SECRET:-dev-webhook-secret}
export SALLA_ODOO__LOG__FORMAT=${SALLA_ODOO__LOG__FORMAT:-pretty}

say() { printf '%s\n' "$*"; }
port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

for bin in salla-odoo odoo-sandbox; do
  [ -x "$BIN_DIR/$bin" ] || { say "MISSING: $BIN_DIR/$bin (build it with: cargo build --release -p salla-odoo-cli -p odoo-sandbox)"; exit 1; }
done

# Embedded storage unless the fleet's servers are configured (the same rule the CLI applies).
STORAGE_ARGS=(--data-dir "$DATA_DIR")
if [ -n "${REDIS_URL:-}${DATABASE_URL:-}${SALLA_ODOO__REDIS__URL:-}${SALLA_ODOO__DATABASE__URL:-}" ]; then
  STORAGE_ARGS=()
fi
cli() { "$BIN_DIR/salla-odoo" "${STORAGE_ARGS[@]}" "$@"; }

SANDBOX_PID=
RUN_PID=
cleanup() {
  [ -n "$RUN_PID" ] && kill -TERM "$RUN_PID" 2>/dev/null && wait "$RUN_PID" 2>/dev/null
  [ -n "$SANDBOX_PID" ] && kill -TERM "$SANDBOX_PID" 2>/dev/null && wait "$SANDBOX_PID" 2>/dev/null
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${ODOO_URL:-}" ]; then
  if port_open "$SANDBOX_LISTEN"; then
    say "MISSING: no Odoo configured, and $SANDBOX_LISTEN (for the sandbox) is taken; free it, set SANDBOX_LISTEN, or set ODOO_URL"
    exit 1
  fi
  "$BIN_DIR/odoo-sandbox" --listen "$SANDBOX_LISTEN" >/dev/null 2>&1 &
  SANDBOX_PID=$!
  for _ in $(seq 1 100); do port_open "$SANDBOX_LISTEN" && break; sleep 0.1; done
  port_open "$SANDBOX_LISTEN" || { say "odoo-sandbox did not start on $SANDBOX_LISTEN"; exit 1; }
  if ! cli store show --merchant "$SAMPLE_MERCHANT" >/dev/null 2>&1; then
    SANDBOX_API_KEY=admin cli store add --merchant "$SAMPLE_MERCHANT" --odoo-url "http://$SANDBOX_LISTEN" \
      --odoo-db odoo --odoo-login admin --odoo-api-key-env SANDBOX_API_KEY --create-unknown-skus >/dev/null
  else
    SANDBOX_API_KEY=admin cli store update --merchant "$SAMPLE_MERCHANT" --odoo-url "http://$SANDBOX_LISTEN" \
      --odoo-api-key-env SANDBOX_API_KEY --create-unknown-skus >/dev/null
  fi
  say "No Odoo is configured (ODOO_URL is unset): started odoo-sandbox, an in-memory Odoo 18 for trying"
  say "salla-odoo, at http://$SANDBOX_LISTEN (database odoo, login admin); the sample store $SAMPLE_MERCHANT syncs to it."
  say "Its data is gone when this stops. For a real Odoo see README > Pointing at a real Odoo."
else
  say "Odoo: $ODOO_URL. Register your store with: $BIN_DIR/salla-odoo store add --merchant ID --odoo-url $ODOO_URL ..."
fi

if [ "$SALLA_ODOO__SALLA__WEBHOOK_SECRET" = dev-webhook-secret ]; then
  say "Webhook secret: the test secret 'dev-webhook-secret' (set SALLA_ODOO__SALLA__WEBHOOK_SECRET to your app's)."
fi
say "Next, in another terminal:"
say "  make sample                      # posts a signed sample order.created (send-sample)"
say "  $BIN_DIR/salla-odoo ${STORAGE_ARGS[*]} sync-log   # what happened to it"
say ""

"$BIN_DIR/salla-odoo" "${STORAGE_ARGS[@]}" run --listen "$LISTEN" &
RUN_PID=$!
STATUS=0
wait "$RUN_PID" || STATUS=$?
RUN_PID=
exit $STATUS
