# The two commands: `make run` starts the connector, `make test` runs every test.
# Each brings up the local services it needs (scripts/ensure-services.sh) or says what is missing.

SHELL := /bin/bash
CARGO ?= $(shell command -v cargo 2>/dev/null || echo $(HOME)/.cargo/bin/cargo)
LISTEN ?= 127.0.0.1:8080

# Development defaults; export real values to override them.
export SALLA_ODOO__SALLA__WEBHOOK_SECRET ?= dev-webhook-secret
export REDIS_URL ?= redis://127.0.0.1:6379

.PHONY: run test lint fmt bench build services check-cargo

check-cargo:
	@test -x "$(CARGO)" || { echo "MISSING: cargo (the Rust toolchain). Install it with rustup: https://rustup.rs"; exit 1; }

## Start the ingest service on $(LISTEN) (brings up a local Redis if none is reachable).
run: check-cargo
	@scripts/ensure-services.sh redis
	@$(CARGO) build --release -q -p salla-odoo-ingest
	@echo "salla-odoo ingest: POST signed Salla webhooks to http://$(LISTEN)/webhooks/salla"
	@if [ "$$SALLA_ODOO__SALLA__WEBHOOK_SECRET" = dev-webhook-secret ]; then \
	  echo "  webhook secret: the development value 'dev-webhook-secret' (set SALLA_ODOO__SALLA__WEBHOOK_SECRET for a real app)"; fi
	@echo "  queue: $(REDIS_URL)   check it with: $(CARGO) run -q -p salla-odoo-cli -- queue stats"
	exec ./target/release/salla-odoo-ingest --listen $(LISTEN)

## Run every test against real Redis and Postgres (started or installed when missing).
test: check-cargo
	@scripts/ensure-services.sh redis postgres
	@# The end-to-end suites run the real binaries: build them first, so none is stale.
	$(CARGO) build --workspace --bins --locked
	$(CARGO) test --workspace --locked

lint: check-cargo
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt: check-cargo
	$(CARGO) fmt --all

build: check-cargo
	$(CARGO) build --workspace --release --locked

## Benchmarks (figures as ratios against a baseline measured in the same run). Not tests.
bench: check-cargo
	@scripts/ensure-services.sh redis postgres
	$(CARGO) build --release --locked -p salla-odoo-worker -p salla-odoo-cli -p salla-odoo-tests --bins
	@mkdir -p docs
	$(CARGO) bench --locked -p odoo --bench overhead --no-run
	@{ ./target/release/bench-ingest && echo && ./target/release/bench-worker && echo && \
	   echo "# Odoo client overhead" && echo && $(CARGO) bench -q --locked -p odoo --bench overhead; } | tee docs/benchmarks.md
