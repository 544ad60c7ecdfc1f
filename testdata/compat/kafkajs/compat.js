// Compatibility scenario with kafkajs (see ../README.md for the scenario and the summary line).
//
//   node compat.js --bootstrap HOST:PORT --topic T [--group G] [--count N] [--partitions P]
'use strict';

const { Kafka, logLevel, Partitioners } = require('kafkajs');

function parseArgs(argv) {
  const out = { count: 10000, partitions: 3, timeoutMs: 120000, idleMs: 20000 };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    const v = argv[i + 1];
    switch (k) {
      case 'bootstrap': out.bootstrap = v; break;
      case 'topic': out.topic = v; break;
      case 'group': out.group = v; break;
      case 'count': out.count = parseInt(v, 10); break;
      case 'partitions': out.partitions = parseInt(v, 10); break;
      default: throw new Error(`unknown flag --${k}`);
    }
  }
  if (!out.bootstrap || !out.topic) throw new Error('--bootstrap and --topic are required');
  out.group = out.group || `${out.topic}-group`;
  return out;
}

const log = (...a) => console.error('kafkajs-compat:', ...a);

// Tally holds everything seen by both consumers.
class Tally {
  constructor() {
    this.seen = new Set();
    this.duplicates = 0;
    this.lastSeq = new Map(); // partition -> last seq
    this.lastOffset = new Map(); // partition -> last offset
    this.inOrder = true;
  }

  record(partition, offset, value) {
    const seq = parseInt(String(value).slice(1), 10);
    if (this.seen.has(seq)) this.duplicates++;
    else this.seen.add(seq);
    const lo = this.lastOffset.get(partition);
    if (lo !== undefined && offset <= lo) this.inOrder = false;
    const ls = this.lastSeq.get(partition);
    if (ls !== undefined && seq <= ls) this.inOrder = false;
    this.lastOffset.set(partition, offset);
    this.lastSeq.set(partition, seq);
  }

  get consumed() {
    return this.seen.size + this.duplicates;
  }
}

async function produce(kafka, cfg) {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  let produced = 0;
  const batch = 500;
  for (let start = 0; start < cfg.count; start += batch) {
    const messages = [];
    for (let i = start; i < Math.min(start + batch, cfg.count); i++) {
      messages.push({ key: `k${i % 100}`, value: `v${i}` });
    }
    const res = await producer.send({ topic: cfg.topic, acks: -1, messages });
    for (const r of res) {
      if (r.errorCode !== 0) throw new Error(`produce error code ${r.errorCode} on partition ${r.partition}`);
    }
    produced += messages.length;
  }
  await producer.disconnect();
  return produced;
}

// consume runs one group member until it has processed `want` records (or, with want=Infinity,
// until every produced record was seen), committing processed offsets synchronously after each
// batch. Returns how many records it processed.
async function consume(kafka, cfg, tally, want, produced, label) {
  const consumer = kafka.consumer({ groupId: cfg.group, sessionTimeout: 10000, heartbeatInterval: 1000 });
  await consumer.connect();
  await consumer.subscribe({ topic: cfg.topic, fromBeginning: true });
  let processed = 0;
  let stopping = false;
  let lastProgress = Date.now();
  let failure = null;
  let done;
  const finished = new Promise((resolve) => { done = resolve; });

  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, heartbeat, isRunning, isStale }) => {
      if (stopping || batch.messages.length === 0) return;
      let last = null;
      for (const m of batch.messages) {
        if (!isRunning() || isStale()) break;
        tally.record(batch.partition, Number(m.offset), m.value);
        processed++;
        last = m;
      }
      if (last === null) return;
      try {
        await consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() },
        ]);
      } catch (e) {
        failure = e;
        stopping = true;
        done();
        return;
      }
      lastProgress = Date.now();
      await heartbeat();
      if (processed >= want || tally.seen.size >= produced) {
        stopping = true;
        done();
      }
    },
  });

  const deadline = Date.now() + cfg.timeoutMs;
  const timer = setInterval(() => {
    if (Date.now() > deadline || Date.now() - lastProgress > cfg.idleMs) {
      log(`${label}: giving up after ${processed} records (timeout)`);
      stopping = true;
      done();
    }
  }, 250);
  await finished;
  clearInterval(timer);
  await consumer.disconnect();
  if (failure) throw failure;
  log(`${label}: processed ${processed}`);
  return processed;
}

async function main() {
  const cfg = parseArgs(process.argv);
  const kafka = new Kafka({
    clientId: 'strata-compat-kafkajs',
    brokers: [cfg.bootstrap],
    logLevel: logLevel.WARN,
    retry: { retries: 8 },
  });

  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    waitForLeaders: true,
    topics: [{ topic: cfg.topic, numPartitions: cfg.partitions, replicationFactor: 1 }],
  });
  await admin.disconnect();

  const produced = await produce(kafka, cfg);
  const tally = new Tally();
  const first = await consume(kafka, cfg, tally, Math.floor(produced / 2), produced, 'first');
  const second = await consume(kafka, cfg, tally, Infinity, produced, 'second');

  let missing = 0;
  for (let i = 0; i < produced; i++) if (!tally.seen.has(i)) missing++;
  const summary = {
    client: 'kafkajs',
    produced,
    consumed: tally.consumed,
    first_consumer: first,
    second_consumer: second,
    duplicates: tally.duplicates,
    missing,
    per_partition_in_order: tally.inOrder,
  };
  console.log(JSON.stringify(summary));
  const ok = missing === 0 && tally.duplicates === 0 && tally.inOrder && produced === cfg.count;
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  log('fatal:', e && e.stack ? e.stack : e);
  process.exit(2);
});
