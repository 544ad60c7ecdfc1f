#!/usr/bin/env bash
# Installs the real Kafka clients of the compatibility suite (ingest/compat):
#   kcat            Debian package (apt-get; sudo only when not root)
#   kafkajs         npm ci in testdata/compat/kafkajs
#   kafka-clients   Maven build of testdata/compat/java (classes + target/lib, lib-legacy)
#   Kafka Connect   jars of testdata/compat/connect into its lib/
#   confluent-kafka venv at .tools/compat-venv from testdata/compat/python/requirements.txt (with
#                   duckdb and pyarrow, which read the Parquet cold tier in cmd/strata's tests)
# Idempotent and quiet: each step is skipped when its result is already in place and current.
set -euo pipefail
compat="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$compat/../.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools"

step() { echo "compat clients: $*"; }

# stamp NAME FILE... — true when the files' hash equals the one recorded under NAME.
stamp_ok() {
  local name="$1"
  shift
  [[ -f "$tools/$name.stamp" && "$(cat "$tools/$name.stamp")" == "$(cat "$@" | sha256sum | cut -d' ' -f1)" ]]
}
stamp_set() {
  local name="$1"
  shift
  cat "$@" | sha256sum | cut -d' ' -f1 >"$tools/$name.stamp"
}

# kcat
if ! command -v kcat >/dev/null 2>&1; then
  step "installing kcat"
  sudo=""
  if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq kcat >/dev/null
fi

# kafkajs
js="$compat/kafkajs"
if ! stamp_ok kafkajs "$js/package-lock.json" || [[ ! -d "$js/node_modules/kafkajs" ]]; then
  step "npm ci (kafkajs)"
  (cd "$js" && npm ci --silent --no-audit --no-fund >/dev/null)
  stamp_set kafkajs "$js/package-lock.json"
fi

# Java kafka-clients
jv="$compat/java"
if ! stamp_ok java "$jv/pom.xml" "$jv/src/main/java/io/strata/compat/Main.java" "$jv/src/main/java/io/strata/compat/WordCount.java" "$jv/src/main/resources/simplelogger.properties" ||
  [[ ! -f "$jv/target/classes/io/strata/compat/Main.class" ]] ||
  [[ ! -f "$jv/target/classes/io/strata/compat/WordCount.class" ]]; then
  step "maven build (Java kafka-clients)"
  (cd "$jv" && mvn -q -B -Dstyle.color=never -DskipTests package >"$tools/java-build.log" 2>&1) || {
    cat "$tools/java-build.log" >&2
    exit 1
  }
  stamp_set java "$jv/pom.xml" "$jv/src/main/java/io/strata/compat/Main.java" "$jv/src/main/java/io/strata/compat/WordCount.java" "$jv/src/main/resources/simplelogger.properties"
fi

# Kafka Connect (jars only)
cn="$compat/connect"
if ! stamp_ok connect "$cn/pom.xml" || [[ -z "$(ls "$cn"/lib/connect-runtime-*.jar 2>/dev/null)" ]]; then
  step "maven copy-dependencies (Kafka Connect)"
  rm -rf "$cn/lib"
  (cd "$cn" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory=lib \
    -DincludeScope=runtime >"$tools/connect-build.log" 2>&1) || {
    cat "$tools/connect-build.log" >&2
    exit 1
  }
  stamp_set connect "$cn/pom.xml"
fi

# confluent-kafka (Python)
venv="$tools/compat-venv"
req="$compat/python/requirements.txt"
if ! stamp_ok python "$req" || [[ ! -x "$venv/bin/python" ]]; then
  step "pip install (confluent-kafka, duckdb, pyarrow) into .tools/compat-venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  stamp_set python "$req"
fi
