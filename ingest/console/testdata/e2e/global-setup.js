// Starts a real `strata server` (embedded NATS metadata, file object store) on free ports and
// seeds it through real Kafka clients (`strata topic create|produce|consume`): a 3-partition
// topic, an object-durability topic whose records reach object storage, and a consumer group
// with committed offsets. The server's addresses go to the tests in the environment.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function strata() {
  const bin = process.env.STRATA_BIN;
  if (!bin || !fs.existsSync(bin)) throw new Error(`STRATA_BIN=${bin}: build bin/strata first (make test-console does)`);
  return bin;
}

function waitForServing(proc, logFile, timeoutMs) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`strata server not serving after ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (d) => {
      out += d.toString();
      fs.appendFileSync(logFile, d);
      const m = out.match(/strata serving.* kafka=(\S+).* http=(\S+)/);
      if (m) { clearTimeout(timer); resolve({ kafka: m[1], http: m[2] }); }
    };
    proc.stderr.on('data', onData);
    proc.stdout.on('data', onData);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`strata server exited ${code}:\n${out}`)); });
  });
}

module.exports = async () => {
  const bin = strata();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-console-e2e-'));
  const logFile = path.join(dir, 'server.log');
  const extra = process.env.STRATA_SERVER_ARGS ? process.env.STRATA_SERVER_ARGS.split(' ') : [];
  const proc = spawn(bin, ['server', '--data-dir', path.join(dir, 'data'), '--kafka-addr', '127.0.0.1:0',
    '--http-addr', '127.0.0.1:0', '--compaction-interval', '0', ...extra],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  const addrs = await waitForServing(proc, logFile, 30_000);
  proc.removeAllListeners('exit');
  proc.stdout.removeAllListeners('data');
  proc.stderr.removeAllListeners('data');
  proc.stderr.on('data', (d) => fs.appendFileSync(logFile, d));
  fs.writeFileSync(path.join(dir, 'server.pid'), String(proc.pid));
  process.env.STRATA_E2E_DIR = dir;
  process.env.STRATA_E2E_PID = String(proc.pid);
  process.env.STRATA_KAFKA = addrs.kafka;
  process.env.STRATA_HTTP = 'http://' + addrs.http;

  if (process.env.STRATA_CONSOLE_MEASURE) return; // measure.spec.js seeds its own topic
  const cli = (args, input) => execFileSync(bin, [...args, '--bootstrap', addrs.kafka, '--timeout', '30s'],
    { input: input || '', stdio: ['pipe', 'pipe', 'pipe'] });
  cli(['topic', 'create', 'orders', '--partitions', '3']);
  cli(['topic', 'create', 'audit', '--partitions', '2', '--config', 'strata.durability=object', '--config', 'strata.flush.ms=50']);
  const lines = (n, f) => Array.from({ length: n }, (_, i) => f(i)).join('\n') + '\n';
  cli(['produce', 'orders'], lines(40, (i) => JSON.stringify({ order: i, item: ['tea', 'rice', 'salt'][i % 3], qty: i % 5 + 1 })));
  cli(['produce', 'audit'], lines(30, (i) => `login user-${i}`));
  // A group that has read part of orders: committed offsets, lag on every partition it read.
  cli(['consume', 'orders', '--group', 'billing', '--from-beginning', '--max', '10']);
};
