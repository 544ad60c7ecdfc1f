#!/usr/bin/env bash
# Installs what the console's browser tests need: Debian's Chromium (apt-get; sudo only when not
# root) and Playwright at the version package-lock.json pins (npm ci, no bundled browsers).
# Exits 3 when Chromium cannot be installed (no apt-get, no permission), so run.sh can skip
# with a clear message; any other failure is an error. Idempotent.
set -euo pipefail
e2e="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

chromium_bin() { command -v chromium || command -v chromium-browser || true; }

if [[ -z "$(chromium_bin)" ]]; then
  echo "console e2e: installing chromium (Debian package)"
  sudo=""
  if [[ "$(id -u)" != 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1 || ! sudo -n true 2>/dev/null; then
      echo "console e2e: chromium is not installed and apt-get needs root (no sudo)" >&2
      exit 3
    fi
    sudo="sudo -n"
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "console e2e: chromium is not installed and there is no apt-get" >&2
    exit 3
  fi
  if ! { $sudo apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null; }; then
    echo "console e2e: apt-get install chromium failed" >&2
    exit 3
  fi
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "console e2e: npm is missing (apt-get install npm)" >&2
  exit 1
fi
stamp="$e2e/node_modules/.strata-lock.sha256"
want="$(sha256sum "$e2e/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "console e2e: npm ci (@playwright/test)"
  (cd "$e2e" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent --no-audit --no-fund >/dev/null)
  echo "$want" >"$stamp"
fi
