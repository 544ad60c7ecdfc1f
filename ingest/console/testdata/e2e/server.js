// Starts and stops `strata server` processes for the browser tests: free ports, a temporary
// data directory, the addresses read from its "strata serving" log line.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function strataBin() {
  const bin = process.env.STRATA_BIN;
  if (!bin || !fs.existsSync(bin)) throw new Error(`STRATA_BIN=${bin}: build bin/strata first (make test-console does)`);
  return bin;
}

// startServer starts a node with extra flags and resolves once it serves:
// { pid, dir, kafka: 'host:port', http: 'http://host:port' }.
function startServer(extra = [], timeoutMs = 30_000) {
  const bin = strataBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-console-e2e-'));
  const logFile = path.join(dir, 'server.log');
  const proc = spawn(bin, ['server', '--data-dir', path.join(dir, 'data'), '--kafka-addr', '127.0.0.1:0',
    '--http-addr', '127.0.0.1:0', '--compaction-interval', '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`strata server not serving after ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onExit = (code) => { clearTimeout(timer); reject(new Error(`strata server exited ${code}:\n${out}`)); };
    const onData = (d) => {
      out += d.toString();
      fs.appendFileSync(logFile, d);
      const m = out.match(/strata serving.* kafka=(\S+).* http=(\S+)/);
      if (!m) return;
      clearTimeout(timer);
      proc.removeListener('exit', onExit);
      proc.stdout.removeAllListeners('data');
      proc.stderr.removeAllListeners('data');
      proc.stdout.on('data', (x) => fs.appendFileSync(logFile, x));
      proc.stderr.on('data', (x) => fs.appendFileSync(logFile, x));
      proc.unref();
      resolve({ pid: proc.pid, dir, kafka: m[1], http: 'http://' + m[2] });
    };
    proc.stderr.on('data', onData);
    proc.stdout.on('data', onData);
    proc.on('exit', onExit);
  });
}

// stopServer sends SIGTERM, waits up to 5 s, then SIGKILL, and removes the directory unless
// STRATA_E2E_KEEP is set.
async function stopServer(pid, dir) {
  if (pid) {
    try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    for (let i = 0; i < 50; i++) {
      try { process.kill(pid, 0); } catch { break; }
      await new Promise((r) => setTimeout(r, 100));
    }
    try { process.kill(pid, 'SIGKILL'); } catch { /* stopped */ }
  }
  if (dir && !process.env.STRATA_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
}

module.exports = { strataBin, startServer, stopServer };
