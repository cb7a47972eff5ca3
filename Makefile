# The two commands: `make run` starts the connector, `make test` runs every test.
# Each brings up the local services it needs (scripts/ensure-services.sh) or says what is missing.

SHELL := /bin/bash
CARGO ?= $(shell command -v cargo 2>/dev/null || echo $(HOME)/.cargo/bin/cargo)
LISTEN ?= 127.0.0.1:8080

# Development default; export your app's secret to override it. (REDIS_URL / DATABASE_URL are not
# set here: without them `make run` uses embedded storage, with them the fleet's servers.)
export SALLA_ODOO__SALLA__WEBHOOK_SECRET ?= dev-webhook-secret
EVENT ?= order.created
# What `make run` builds, and every README target that runs those binaries afterwards builds exactly
# the same (same packages, so Cargo unifies the same features and reuses the build instead of
# redoing it and replacing the binary `make run` is running). tests/tests/fleet_ops.rs checks it.
APP_BUILD = $(CARGO) build --release -q --locked -p salla-odoo-cli -p odoo-sandbox -p salla-sandbox

.PHONY: run sample test chaos lint fmt bench build services check-cargo

check-cargo:
	@test -x "$(CARGO)" || { echo "MISSING: cargo (the Rust toolchain). Install it with rustup: https://rustup.rs"; exit 1; }

## Start the connector: `salla-odoo run` (ingest + workers in one process) on embedded storage in
## ./salla-odoo-data, or on Redis + Postgres when REDIS_URL / DATABASE_URL are set; with an
## odoo-sandbox when ODOO_URL is unset. See scripts/run.sh.
run: check-cargo
	@$(APP_BUILD)
	@LISTEN=$(LISTEN) BIN_DIR=target/release scripts/run.sh

## Post a signed sample webhook (EVENT=order.created by default) to the connector `make run` started.
sample: check-cargo
	@$(APP_BUILD)
	@./target/release/salla-odoo send-sample $(EVENT) --to http://$(LISTEN)/webhooks/salla

## Run every test against real Redis and Postgres (started or installed when missing).
test: check-cargo
	@scripts/ensure-services.sh redis postgres promtool
	@# The end-to-end suites run the real binaries: build them first, so none is stale.
	$(CARGO) build --workspace --bins --locked
	$(CARGO) test --workspace --locked

## Fault injection: 20 stores' Salla events while workers, the ingest, Postgres and Redis are killed,
## an Odoo goes offline and every Odoo is flaky; then every Odoo and every store's Salla is checked
## (README "Fault injection"). 5-7 minutes; stops itself within 13 (deadline in the run, `timeout`
## here as a backstop). CHAOS_SEED=N replays
## a run, CHAOS_SIZE=small runs the one-minute profile that `make test` includes.
chaos: check-cargo
	@scripts/ensure-services.sh redis postgres
	$(CARGO) build --workspace --bins --locked
	timeout --kill-after=10 780 ./target/debug/chaos

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
	$(CARGO) build --release --locked -p salla-odoo-worker -p salla-odoo-cli -p salla-odoo-tests -p odoo-sandbox --bins
	$(CARGO) bench --locked -p odoo --bench overhead --no-run
	CARGO=$(CARGO) scripts/bench.sh
