#!/usr/bin/env bash
# Copies the Apache Kafka broker jars named in pom.xml (plus a log4j2 binding) into lib/.
# Idempotent: does nothing when lib/ already matches the current pom.xml.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

stamp="$(sha256sum pom.xml | cut -d' ' -f1)"
if [[ -f .stamp && "$(cat .stamp)" == "$stamp" && -n "$(ls lib/kafka_2.13-*.jar 2>/dev/null)" ]]; then
  exit 0
fi
command -v mvn >/dev/null || { echo "fetch.sh: mvn (Apache Maven) is required" >&2; exit 1; }
rm -rf lib .stamp
mvn -q -B -Dstyle.color=never dependency:copy-dependencies -DoutputDirectory=lib -DincludeScope=runtime
echo "$stamp" > .stamp
