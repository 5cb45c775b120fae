#!/usr/bin/env bash
# Runs a command with headless Chromium and chromedriver available for the browser test
# (examples/browser-test), which then must run: it fails instead of skipping when they are
# missing. Installs Debian's chromium and chromium-driver when chromedriver is not found.
# Usage: scripts/with-chromedriver.sh cargo test -p browser-test
set -euo pipefail

if ! command -v chromedriver >/dev/null 2>&1; then
  echo "chromedriver not found; installing chromium and chromium-driver from the system packages" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >&2
fi

CHROMEDRIVER=${CHROMEDRIVER:-$(command -v chromedriver)}
if [ -z "${CHROMIUM:-}" ]; then
  for candidate in chromium chromium-browser google-chrome; do
    if command -v "$candidate" >/dev/null 2>&1; then CHROMIUM=$(command -v "$candidate"); break; fi
  done
fi
if [ -z "${CHROMIUM:-}" ]; then echo "chromium not found after installing it" >&2; exit 1; fi

export CHROMEDRIVER CHROMIUM BROWSER_TEST_REQUIRED=1
echo "browser test with $("$CHROMEDRIVER" --version 2>/dev/null | head -n 1)" >&2
"$@"
