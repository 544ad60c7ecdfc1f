// Browser tests of the Strata console: Playwright drives the system's Chromium (Debian's
// `chromium`, found by install.sh) against a real `strata server` started by global-setup.js.
const { defineConfig } = require('@playwright/test');

module.exports = defineConfig({
  testDir: '.',
  testMatch: process.env.STRATA_CONSOLE_MEASURE ? /measure\.spec\.js/ : /(console|auth)\.spec\.js/,
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [['list']],
  outputDir: process.env.STRATA_CONSOLE_OUT || 'test-results',
  globalSetup: require.resolve('./global-setup.js'),
  globalTeardown: require.resolve('./global-teardown.js'),
  use: {
    headless: true,
    viewport: { width: 1360, height: 900 },
    launchOptions: {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    },
    trace: 'off',
  },
});
