#!/usr/bin/env bash
# franz-go's own integration suite (pkg/kgo, shipped in the franz-go module) against one Strata
# node: a test suite no one here wrote. Uses the franz-go version go.mod names.
#
#   STRATA_BIN   the strata binary (default: bin/strata, built by `make build`)
#   KGO_RUN      a -run pattern (default: every test)
#   KGO_TIMEOUT  the go test timeout (default 20m)
#
# Prints one line per test that did not pass, then "kgo suite: P passed, F failed, S skipped" and
# exits 1 if any test failed, except the known differences below.
#
# Known differences (a test listed here may fail without failing the run; it is still reported):
#   TestConsumeRegex             wait for __consumer_offsets to appear in Metadata as an internal
#   Test848RegexBrokerResolves   topic (and, for the second, be matched by a group's regex). Strata
#   TestConsumeRegexShareSkipsInternal   keeps committed offsets in its metadata service, not in
#                                a topic, and lists no topic it could not serve.
set -euo pipefail
cd "$(dirname "$0")/../../.."
root=$PWD
bin=${STRATA_BIN:-$root/bin/strata}
[ -x "$bin" ] || { echo "kgo: $bin missing: run make build" >&2; exit 2; }

version=$(go list -m -f '{{.Version}}' github.com/twmb/franz-go)
go mod download github.com/twmb/franz-go@"$version"
src=$(go list -m -f '{{.Dir}}' github.com/twmb/franz-go@"$version")
work=$(mktemp -d)
node_pid=
cleanup() {
	[ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null || true
	chmod -R u+w "$work" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
cp -r "$src" "$work/franz-go"
chmod -R u+w "$work/franz-go"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kport=$(free_port)
hport=$(free_port)
"$bin" server --data-dir "$work/data" --kafka-addr "127.0.0.1:$kport" --http-addr "127.0.0.1:$hport" \
	--num-partitions 1 >"$work/strata.log" 2>&1 &
node_pid=$!
for _ in $(seq 100); do
	curl -fsS "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -fsS "http://127.0.0.1:$hport/readyz" >/dev/null || { echo "kgo: strata did not become ready" >&2; tail -50 "$work/strata.log" >&2; exit 2; }

cd "$work/franz-go/pkg/kgo"
set +e
KGO_SEEDS="127.0.0.1:$kport" KGO_TEST_RF=1 go test -count=1 -json -timeout "${KGO_TIMEOUT:-20m}" \
	-run "${KGO_RUN:-.}" . >"$work/kgo.json" 2>"$work/kgo.err"
set -e
python3 - "$work/kgo.json" <<'PY'
import json, sys
res = {}
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    t = e.get("Test")
    if t and "/" not in t and e.get("Action") in ("pass", "fail", "skip"):
        res[t] = e["Action"]
count = {a: sum(1 for v in res.values() if v == a) for a in ("pass", "fail", "skip")}
for t, a in sorted(res.items()):
    if a != "pass":
        print(f"kgo: {a} {t}")
print(f"kgo suite: {count['pass']} passed, {count['fail']} failed, {count['skip']} skipped")
known = {"TestConsumeRegex", "Test848RegexBrokerResolves", "TestConsumeRegexShareSkipsInternal"}
unexpected = [t for t, a in res.items() if a == "fail" and t not in known]
for t in sorted(known):
    if res.get(t) == "pass":
        print(f"kgo: {t} passes now: drop it from the known differences in run.sh")
print(f"kgo suite: {len(unexpected)} unexpected failures")
sys.exit(1 if unexpected or not res else 0)
PY
