#!/usr/bin/env bash
# Prints the path of a java binary able to run the Kafka 4.x broker (Java 17 or newer):
# $JAVA if set, else java on PATH, else the newest JDK found under /usr/lib/jvm.
set -euo pipefail
min=17

major() { # prints the major version of the java binary $1, or 0
  local v
  v="$("$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}')"
  v="${v#1.}"
  echo "${v:-0}"
}

candidates=()
[[ -n "${JAVA:-}" ]] && candidates+=("$JAVA")
command -v java >/dev/null && candidates+=("$(command -v java)")
if [[ -d /usr/lib/jvm ]]; then
  while IFS= read -r d; do
    [[ -x "$d/bin/java" ]] && candidates+=("$d/bin/java")
  done < <(ls -d /usr/lib/jvm/*/ 2>/dev/null | sed 's:/$::' | sort -rV)
fi
for j in "${candidates[@]}"; do
  if (( $(major "$j") >= min )); then
    echo "$j"
    exit 0
  fi
done
echo "java.sh: no Java ${min}+ found (set JAVA=/path/to/java)" >&2
exit 1
