#!/usr/bin/env bash
# `make bench`: run every benchmark against its baseline in the same run and write docs/benchmarks.md
# (also printed). Expects the release binaries built (make bench builds them) and Redis + Postgres up.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=docs/benchmarks.md
CARGO=${CARGO:-cargo}
mkdir -p docs
{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` on $(date -u '+%Y-%m-%d %H:%M UTC'). Every figure is measured beside its"
  echo "baseline in the same run, and the ratio between them is what carries over to another machine."
  echo
  echo "## Machine"
  echo
  echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') — $(nproc) CPUs available, shared by the load generator, the connector, Redis, Postgres and odoo-sandbox"
  echo "- memory: $(free -g | awk '/^Mem:/ {print $2}') GiB; kernel $(uname -r)"
  echo "- $(rustc --version); $(redis-server --version | cut -d' ' -f1-3); $(psql --version)"
  echo
  echo "## Commands"
  echo
  echo "\`make bench\` builds the release binaries, then runs, in order:"
  echo
  echo "1. \`target/release/bench-ingest\` — signed webhooks at the ingest vs. a bare axum handler reading the same bodies"
  echo "2. \`target/release/bench-worker\` — orders end to end (ingest → queue → workers → odoo-sandbox) for 1 worker × 1 job (baseline) and 1, 2, 4 worker processes × 8, and embedded \`salla-odoo run\`, at 0 and 50 ms per Odoo call"
  echo "3. \`cargo bench -p odoo --bench overhead\` — the Odoo client vs. bare reqwest on the same calls"
  echo "4. \`target/release/bench-salla\` — the connector's Salla traffic: reconciliation of 10,000 orders (100 missing) and a stock push of 5,000 SKUs, against salla-sandbox"
  echo "5. \`target/release/bench-odoo\` — throughput bound only by Odoo (issue 18): the same 24-order mix against odoo-sandbox \`--cost-model odoo18-small\` (capacity 1 and 4), by a careful direct JSON-RPC client (2 at a time; the baseline) and by the fleet with 1, 2, 4 workers"
  echo
  ./target/release/bench-ingest | sed 's/^# /## /'
  echo
  ./target/release/bench-worker | sed 's/^# /## /'
  echo
  echo "## Odoo client overhead"
  echo
  "$CARGO" bench -q --locked -p odoo --bench overhead
  echo
  ./target/release/bench-salla | sed 's/^## /### /; s/^# /## /'
  echo
  echo "## Throughput against a cost-modelled Odoo"
  echo
  echo '```'
  ./target/release/bench-odoo 2>/dev/null
  echo '```'
} | tee "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
