#!/usr/bin/env bash
# Compatibility scenario with kcat (librdkafka); see ../README.md.
#
#   compat.sh --bootstrap HOST:PORT --topic T [--group G] [--count N] [--config FILE]
#
# --config names a librdkafka properties file (kcat -F) every kcat run reads: security.protocol,
# sasl.mechanisms, sasl.username and sasl.password for a SASL listener, for example.
#
# kcat cannot create topics: the caller creates T (3 partitions) first. kcat has no explicit
# commit either: the group consumer stores each offset as the record is handed to kcat (so only
# processed records are ever committed), librdkafka's auto-commit sends the stored offsets, and
# closing the consumer (after -c N records, or at the end of every partition with -e) commits
# them synchronously one last time.
set -euo pipefail

kcat="${KCAT:-kcat}"
count=10000
group=""
config=()
bootstrap=""
topic=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bootstrap) bootstrap="$2"; shift 2 ;;
    --topic) topic="$2"; shift 2 ;;
    --group) group="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --config) config=(-F "$2"); shift 2 ;;
    *) echo "kcat-compat: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$bootstrap" && -n "$topic" ]] || { echo "kcat-compat: --bootstrap and --topic are required" >&2; exit 2; }
group="${group:-$topic-group}"
limit="${KCAT_COMPAT_TIMEOUT:-60}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Produce: "k<i%100>:v<i>", idempotent, acks=all. Delivery failures are reported on stderr.
seq 0 $((count - 1)) | awk '{ printf "k%d:v%d\n", $1 % 100, $1 }' >"$work/in"
prod_rc=0
timeout "$limit" "$kcat" "${config[@]}" -P -b "$bootstrap" -t "$topic" -K: \
  -X enable.idempotence=true -X acks=all -X linger.ms=5 -X message.timeout.ms=60000 \
  <"$work/in" 2>"$work/produce.err" || prod_rc=$?
if [[ $prod_rc -ne 0 ]]; then
  echo "kcat-compat: producer exited with $prod_rc:" >&2
  tail -n 20 "$work/produce.err" >&2
fi
failed="$(grep -c -i 'delivery failed' "$work/produce.err" || true)"
produced=$((count - failed))

cons_rc=0
consume() { # $1 = output file, rest = extra kcat flags
  local out="$1" rc=0
  shift
  timeout "$limit" "$kcat" "${config[@]}" -C -b "$bootstrap" -G "$group" \
    -X auto.offset.reset=earliest -X enable.auto.commit=true -X enable.auto.offset.store=true \
    -X session.timeout.ms=10000 -X enable.partition.eof=true \
    -f '%p %o %k %s\n' -u "$@" "$topic" >"$out" 2>>"$work/consume.err" || rc=$?
  if [[ $rc -ne 0 ]]; then
    # 124: still running after $limit seconds (for -e: some partition never reported its end).
    echo "kcat-compat: consumer ($*) exited with $rc" >&2
    grep -v CONFWARN "$work/consume.err" | tail -n 40 >&2
    cons_rc=$rc
  fi
}

# First member: about half of the records, then a clean close (which commits).
consume "$work/first" -c $((produced / 2))
# Second member, same group: must resume at the committed offsets and read to the end.
consume "$work/second" -e

first="$(wc -l <"$work/first")"
second="$(wc -l <"$work/second")"
cat "$work/first" "$work/second" | awk -v client=kcat -v produced="$produced" \
  -v first="$first" -v second="$second" '
  {
    p = $1; o = $2 + 0; s = substr($4, 2) + 0
    consumed++
    if (s in seen) dup++; else seen[s] = 1
    if ((p in lo && o <= lo[p]) || (p in ls && s <= ls[p])) disorder = 1
    lo[p] = o; ls[p] = s
  }
  END {
    for (i = 0; i < produced; i++) if (!(i in seen)) missing++
    printf "{\"client\":\"%s\",\"produced\":%d,\"consumed\":%d,\"first_consumer\":%d,\"second_consumer\":%d,\"duplicates\":%d,\"missing\":%d,\"per_partition_in_order\":%s}\n",
      client, produced, consumed, first, second, dup, missing, disorder ? "false" : "true"
    exit (dup || missing || disorder) ? 1 : 0
  }' || exit 1
# librdkafka logs PROTOERR for any response it cannot parse: always a broker bug.
if grep -h PROTOERR "$work/produce.err" "$work/consume.err" | sed 's/^%[0-9]*|[0-9.]*|//' |
  sort | uniq -c | sort -rn | head -n 10 >&2; then
  echo "kcat-compat: librdkafka reported protocol errors (above)" >&2
  exit 1
fi
[[ "$failed" -eq 0 && $prod_rc -eq 0 && $cons_rc -eq 0 ]]
