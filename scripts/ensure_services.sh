#!/usr/bin/env bash
# Make sure the local PostgreSQL and Redis that Mandi uses by default are up; start them if not.
# Only touches the local servers, and only when MANDI_PG_DSN / MANDI_REDIS_URL point at 127.0.0.1.
set -euo pipefail

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  echo "ensure_services: PostgreSQL is down, starting it"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  pg_up || { echo "ensure_services: PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
fi

if ! redis_up; then
  echo "ensure_services: Redis is down, starting it"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
  redis_up || { echo "ensure_services: Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }
fi
