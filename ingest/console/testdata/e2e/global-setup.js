// Starts a real `strata server` (embedded NATS metadata, file object store) on free ports and
// seeds it through real Kafka clients (`strata topic create|produce|consume`): a 3-partition
// topic, an object-durability topic whose records reach object storage, and a consumer group
// with committed offsets. The server's addresses go to the tests in the environment.
const { execFileSync } = require('node:child_process');
const { strataBin, startServer } = require('./server.js');

module.exports = async () => {
  const bin = strataBin();
  const s = await startServer();
  process.env.STRATA_E2E_DIR = s.dir;
  process.env.STRATA_E2E_PID = String(s.pid);
  process.env.STRATA_KAFKA = s.kafka;
  process.env.STRATA_HTTP = s.http;

  if (process.env.STRATA_CONSOLE_MEASURE) return; // measure.spec.js seeds its own topic
  const cli = (args, input) => execFileSync(bin, [...args, '--bootstrap', s.kafka, '--timeout', '30s'],
    { input: input || '', stdio: ['pipe', 'pipe', 'pipe'] });
  cli(['topic', 'create', 'orders', '--partitions', '3']);
  cli(['topic', 'create', 'audit', '--partitions', '2', '--config', 'strata.durability=object', '--config', 'strata.flush.ms=50']);
  const lines = (n, f) => Array.from({ length: n }, (_, i) => f(i)).join('\n') + '\n';
  cli(['produce', 'orders'], lines(40, (i) => JSON.stringify({ order: i, item: ['tea', 'rice', 'salt'][i % 3], qty: i % 5 + 1 })));
  cli(['produce', 'audit'], lines(30, (i) => `login user-${i}`));
  // A group that has read part of orders: committed offsets, lag on every partition it read.
  cli(['consume', 'orders', '--group', 'billing', '--from-beginning', '--max', '10']);
};
