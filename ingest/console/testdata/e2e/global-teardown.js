// Stops the server global-setup.js started (by its pid) and removes its directory unless the
// run failed (the log stays for a look).
const fs = require('node:fs');

module.exports = async () => {
  const pid = Number(process.env.STRATA_E2E_PID);
  if (pid) {
    try { process.kill(pid, 'SIGTERM'); } catch { /* already gone */ }
    for (let i = 0; i < 50; i++) {
      try { process.kill(pid, 0); } catch { break; }
      await new Promise((r) => setTimeout(r, 100));
    }
    try { process.kill(pid, 'SIGKILL'); } catch { /* stopped */ }
  }
  const dir = process.env.STRATA_E2E_DIR;
  if (dir && !process.env.STRATA_E2E_KEEP) fs.rmSync(dir, { recursive: true, force: true });
};
