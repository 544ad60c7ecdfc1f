#!/usr/bin/env bash
# Runs every Fuzz* target in the module for a short time each: `bash .ci/fuzz.sh 20s`.
# A found crasher (an input written under testdata/fuzz) fails the run. Go's fuzzer can also end a
# healthy run with "context deadline exceeded" when -fuzztime elapses while a worker is busy
# (no input is written then), more often when a target does disk I/O on a busy machine; such a
# target is run again, up to three attempts in all, and fails only if every attempt ends so.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-20s}"
status=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u || true)
	for t in $targets; do
		for attempt in 1 2 3; do
			echo "-- $pkg $t ($fuzztime, attempt $attempt)"
			if go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$log"; then
				break
			fi
			if [[ $attempt -lt 3 ]] && ! grep -q "Failing input written" "$log" && grep -q "context deadline exceeded" "$log"; then
				echo "-- $t: fuzzer deadline without a failing input; running it again"
				continue
			fi
			status=1
			break
		done
	done
done
exit $status
