// The console on a node with --sasl-users: HTTP Basic like every route of the node. Without
// credentials the page and the API answer 401; with a user's, every page works and a topic can be
// created and deleted; the probes stay open.
const { test, expect } = require('@playwright/test');
const fs = require('node:fs');
const path = require('node:path');
const { startServer, stopServer } = require('./server.js');

let node;
test.beforeAll(async () => {
  const users = path.join(require('node:os').tmpdir(), `strata-console-users-${process.pid}.txt`);
  fs.writeFileSync(users, 'ada:s3cret\n', { mode: 0o600 });
  node = await startServer(['--sasl-users', users]);
  node.users = users;
});
test.afterAll(async () => {
  if (node) {
    await stopServer(node.pid, node.dir);
    fs.rmSync(node.users, { force: true });
  }
});

test('without credentials: 401 for the console and its API, probes open', async ({ request }) => {
  for (const p of ['/', '/console/app.js', '/v1/cluster', '/v1/topics']) {
    const r = await request.get(node.http + p);
    expect(r.status(), p).toBe(401);
    expect(r.headers()['www-authenticate']).toContain('Basic');
  }
  const w = await request.post(node.http + '/v1/topics', { data: { name: 'sneaky' } });
  expect(w.status()).toBe(401);
  expect((await request.get(node.http + '/healthz')).status()).toBe(200);
});

test('with a user\'s credentials every page renders and a topic is created and deleted', async ({ browser }) => {
  const ctx = await browser.newContext({ httpCredentials: { username: 'ada', password: 's3cret' } });
  const page = await ctx.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  for (const [hash, ready] of [['#/cluster', 'cluster'], ['#/topics', 'topics'], ['#/groups', 'groups'], ['#/messages', 'messages'], ['#/cost', 'cost']]) {
    await page.goto(node.http + '/' + hash);
    await expect(page.locator(`body[data-ready="${ready}"]`)).toBeAttached();
  }
  await page.goto(node.http + '/#/topics');
  await page.locator('#create-topic input[name=name]').fill('authed');
  await page.locator('#create-topic button[type=submit]').click();
  await expect(page.locator('#topic-name')).toHaveText('authed');
  await expect(page.locator('body[data-ready="topic"]')).toBeAttached();
  await page.locator('#delete-topic').click();
  await page.getByLabel('confirm topic name').fill('authed');
  await page.getByRole('button', { name: 'Delete permanently' }).click();
  await expect(page.locator('body[data-ready="topics"]')).toBeAttached();
  await expect(page.locator('tr[data-topic="authed"]')).toHaveCount(0);
  expect(problems).toEqual([]);
  await ctx.close();
});
