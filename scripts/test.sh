#!/usr/bin/env bash
# Runs every test of the workspace (unit, integration, doc), with a private Redis for the Redis
# store's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/with-redis.sh scripts/with-redis-cluster.sh cargo test --workspace "$@"
