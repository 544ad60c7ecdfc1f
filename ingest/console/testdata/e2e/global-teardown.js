// Stops the server global-setup.js started and removes its directory (kept with STRATA_E2E_KEEP).
const { stopServer } = require('./server.js');

module.exports = async () => {
  await stopServer(Number(process.env.STRATA_E2E_PID), process.env.STRATA_E2E_DIR);
};
