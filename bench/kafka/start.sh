#!/usr/bin/env bash
# Starts a single-node Apache Kafka 4.x broker (KRaft, broker+controller in one process).
#
#   bench/kafka/start.sh DIR PORT
#
# DIR holds everything: server.properties, data/ (log.dirs), logs/, kafka.pid. PORT is the
# PLAINTEXT listener on 127.0.0.1; the controller listens on the next free port above it
# (or $KAFKA_CONTROLLER_PORT). Returns once PORT accepts connections. Re-running on an
# existing DIR keeps its data. Stop with bench/kafka/stop.sh DIR.
# Environment: KAFKA_HEAP (default 1g), JAVA (a java binary, else detected by java.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -eq 2 ]] || { echo "usage: $0 DIR PORT" >&2; exit 2; }
mkdir -p "$1"
dir="$(cd "$1" && pwd)"
port="$2"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if [[ -f "$dir/kafka.pid" ]] && kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
  echo "start.sh: a broker is already running for $dir (pid $(cat "$dir/kafka.pid"))" >&2
  exit 1
fi
if listening "$port"; then
  echo "start.sh: 127.0.0.1:$port is already in use" >&2
  exit 1
fi

"$here/fetch.sh"
java="$("$here/java.sh")"

cport="${KAFKA_CONTROLLER_PORT:-}"
if [[ -z "$cport" ]]; then
  cport=$((port + 1))
  while listening "$cport"; do cport=$((cport + 1)); done
fi

mkdir -p "$dir/data" "$dir/logs"
cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${cport}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=${dir}/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.segment.bytes=268435456
PROPS

cp=("$here"/lib/*.jar)
cp="$(IFS=:; echo "${cp[*]}")"
jvm=(-Xmx"${KAFKA_HEAP:-1g}" -Xms"${KAFKA_HEAP:-1g}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Djava.awt.headless=true -Dkafka.logs.dir="$dir/logs"
  -Dlog4j2.configurationFile="$here/log4j2.xml")

if [[ ! -f "$dir/data/meta.properties" ]]; then
  cluster_id="$("$java" -cp "$cp" "${jvm[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
  "$java" -cp "$cp" "${jvm[@]}" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$dir/server.properties" >"$dir/logs/format.out" 2>&1 || {
    cat "$dir/logs/format.out" >&2
    exit 1
  }
fi

nohup "$java" -cp "$cp" "${jvm[@]}" kafka.Kafka "$dir/server.properties" \
  >"$dir/logs/kafka.out" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$dir/kafka.pid"

for _ in $(seq 1 240); do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "start.sh: broker exited during startup; last log lines:" >&2
    tail -n 30 "$dir/logs/kafka.out" >&2
    rm -f "$dir/kafka.pid"
    exit 1
  fi
  if listening "$port"; then
    echo "kafka listening on 127.0.0.1:$port (pid $pid, controller 127.0.0.1:$cport)"
    exit 0
  fi
  sleep 0.25
done
echo "start.sh: broker did not open 127.0.0.1:$port within 60s; stopping it" >&2
kill "$pid" 2>/dev/null || true
exit 1
