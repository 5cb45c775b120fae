#!/usr/bin/env bash
# Runs every test of the workspace (unit, integration, doc), with a private Redis, Redis Cluster,
# PostgreSQL and MariaDB for the stores' tests (each script starts its servers, exports their URLs
# and stops them).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-redis.sh scripts/with-redis-cluster.sh scripts/with-redis-sentinel.sh scripts/with-postgres.sh scripts/with-mariadb.sh scripts/with-chromedriver.sh cargo test --workspace "$@"
