#!/usr/bin/env bash
# Make sure the services the connector (or its tests) need are reachable, starting or installing them
# when they are not. Usage: scripts/ensure-services.sh redis [postgres] [promtool]
#
# For each service: reachable already → nothing to do. Otherwise start the installed server; if it is
# not installed, install it with apt-get (when running as root on Debian/Ubuntu); otherwise stop with a
# message that names what is missing. Redis is started with nothing on disk; Postgres through the
# distribution's cluster tools. Nothing here ever stops a server.
#
# `promtool` (optional: the alert rules' unit tests, deploy/prometheus) is installed from Debian's
# `prometheus` package when it can be; when it cannot, this says so and goes on (those tests are
# then skipped with a message). It never fails the run. Where systemd runs (not in containers), the
# package also enables its own Prometheus server on port 9090; nothing here uses or stops it.
set -euo pipefail

REDIS_HOST=127.0.0.1
REDIS_PORT=${REDIS_PORT:-6379}
PG_HOST=127.0.0.1
PG_PORT=${PG_PORT:-5432}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

say() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] MISSING: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 100); do port_open "$1" "$2" && return 0; sleep 0.1; done
  return 1
}

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing $* with apt-get"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1; then
      apt-get update -q >/dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
    fi
  else
    return 1
  fi
}

ensure_redis_binary() {
  command -v redis-server >/dev/null 2>&1 && return 0
  apt_install redis-server || die "redis-server is not installed and cannot be installed here (need root and apt-get). Install Redis 6+ or set REDIS_URL to a reachable Redis."
}

ensure_redis() {
  # The tests also start Redis servers of their own (to stop and restart them): they need the binary.
  ensure_redis_binary
  if port_open "$REDIS_HOST" "$REDIS_PORT"; then return 0; fi
  say "no Redis on $REDIS_HOST:$REDIS_PORT: starting one (nothing kept on disk)"
  mkdir -p "$ROOT/.data/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$ROOT/.data/redis" --logfile "$ROOT/.data/redis/redis.log"
  wait_port "$REDIS_HOST" "$REDIS_PORT" || die "Redis did not start; see .data/redis/redis.log"
}

ensure_postgres() {
  if port_open "$PG_HOST" "$PG_PORT"; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt_install postgresql || die "PostgreSQL is not installed and cannot be installed here (need root and apt-get). Install PostgreSQL 13+ or set TEST_DATABASE_SERVER / DATABASE_URL to a reachable server."
  fi
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
  [ -n "$version" ] || die "PostgreSQL is installed but has no cluster (/etc/postgresql is empty)."
  say "no Postgres on $PG_HOST:$PG_PORT: starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || die "could not start PostgreSQL $version/main"
  wait_port "$PG_HOST" "$PG_PORT" || die "PostgreSQL did not open $PG_HOST:$PG_PORT"
  # Tests connect as postgres over TCP without a password, as on the development machines.
  if ! psql -h "$PG_HOST" -U postgres -c 'select 1' >/dev/null 2>&1; then
    say "PostgreSQL refuses user postgres over TCP without a password; set TEST_DATABASE_SERVER=postgres://USER:PASSWORD@$PG_HOST:$PG_PORT"
  fi
}

ensure_promtool() {
  command -v promtool >/dev/null 2>&1 && return 0
  # No recommends (node-exporter): promtool comes only with the server's package.
  if apt_install --no-install-recommends prometheus && command -v promtool >/dev/null 2>&1; then
    return 0
  fi
  say "promtool is not installed and could not be installed here (need root and apt-get: Debian's prometheus package); the alert rule tests will be skipped"
  return 0
}

for service in "$@"; do
  case "$service" in
    redis) ensure_redis ;;
    postgres) ensure_postgres ;;
    promtool) ensure_promtool ;;
    *) die "unknown service $service" ;;
  esac
done
