#!/usr/bin/env bash
# Runs the console's browser tests: install.sh, then Playwright (one worker) against a
# `strata server` that global-setup.js starts from $STRATA_BIN (default bin/strata).
# Skips, saying why, only when Chromium cannot be installed; with STRATA_REQUIRE_TOOLS=1 that
# fails instead. STRATA_CONSOLE_SCREENSHOTS=DIR writes each page's screenshot to DIR;
# STRATA_CONSOLE_MEASURE=1 runs the page-load measurement instead of the tests.
set -euo pipefail
e2e="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$e2e/../../../.." && pwd)"
export STRATA_BIN="${STRATA_BIN:-$root/bin/strata}"

rc=0
bash "$e2e/install.sh" || rc=$?
if [[ $rc == 3 ]]; then
  if [[ "${STRATA_REQUIRE_TOOLS:-}" == 1 ]]; then
    echo "console e2e: FAIL: chromium cannot be installed here" >&2
    exit 1
  fi
  echo "console e2e: SKIPPED: chromium cannot be installed here (see above); the browser tests did not run" >&2
  exit 0
elif [[ $rc != 0 ]]; then
  exit "$rc"
fi
CHROMIUM="$(command -v chromium || command -v chromium-browser)"
export CHROMIUM
cd "$e2e"
exec npx --no-install playwright test "$@"
