#!/usr/bin/env bash
# Runs every test of the workspace (unit, integration, doc), with a private Redis, PostgreSQL and
# MariaDB for the stores' tests (each script starts its server, exports its URL and stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-redis.sh scripts/with-postgres.sh scripts/with-mariadb.sh cargo test --workspace "$@"
