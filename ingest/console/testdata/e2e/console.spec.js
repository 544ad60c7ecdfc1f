// The console in a real browser against a real node (see global-setup.js): every page renders
// live data, a topic is created and deleted through the console, a record produced with a Kafka
// client is shown in the message browser (and by the live tail), and no page logs a JavaScript
// error or a failed request.
const { test, expect } = require('@playwright/test');
const { execFileSync, spawn } = require('node:child_process');
const path = require('node:path');

const base = () => process.env.STRATA_HTTP;
const shots = process.env.STRATA_CONSOLE_SCREENSHOTS; // a directory: write each page's screenshot there

function produce(topic, lines, key) {
  const args = ['produce', topic, '--bootstrap', process.env.STRATA_KAFKA, '--timeout', '30s'];
  execFileSync(process.env.STRATA_BIN, args, { input: lines.join('\n') + '\n', stdio: ['pipe', 'pipe', 'pipe'] });
  void key;
}

// Every test fails on a console error, an uncaught exception or a failed request of the page.
// A test that provokes an error answer on purpose allows the browser's note of that status.
let problems, allowedStatus;
const allowHTTPError = (status) => { allowedStatus = status; };
test.beforeEach(async ({ page }) => {
  problems = [];
  allowedStatus = null;
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (allowedStatus && m.text().includes(`the server responded with a status of ${allowedStatus}`)) return;
    problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
});
test.afterEach(async () => {
  expect(problems, 'JavaScript errors on the page').toEqual([]);
});

async function open(page, hash, ready) {
  await page.goto(base() + '/' + hash);
  await expect(page.locator(`body[data-ready="${ready}"]`)).toBeAttached();
  // No value the page failed to fill in.
  await expect(page.locator('main')).not.toContainText(/\bundefined\b|\bNaN\b|\[object /);
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
}

test('cluster page shows the live node, its version and healthy dependencies', async ({ page }) => {
  await open(page, '#/cluster', 'cluster');
  const row = page.locator('tr[data-node="1"]');
  await expect(row).toContainText('this node');
  await expect(row.locator('td').nth(1)).not.toHaveText('unknown');
  await expect(page.locator('.card', { hasText: 'metadata' })).toContainText('ok');
  await expect(page.locator('.card', { hasText: 'object store' })).toContainText('ok');
  await expect(page.locator('.card', { hasText: 'partitions' }).first()).not.toContainText(/^0/);
  // Partitions led by the one node: every partition of the seeded topics (3 + 2).
  await expect(row.locator('td').last()).toHaveText(/^[5-9]|\d\d/);
  await expect(page.getByRole('link', { name: 'Search' })).toHaveCount(1);
  await expect(page.locator('main')).not.toContainText('null');
  await shot(page, 'cluster');
});

test('topics page lists and searches topics', async ({ page }) => {
  await open(page, '#/topics', 'topics');
  await expect(page.locator('tr[data-topic="orders"]')).toContainText('3');
  await expect(page.locator('tr[data-topic="audit"]')).toContainText('object');
  await page.locator('#topic-search').fill('aud');
  await expect(page.locator('tr[data-topic="orders"]')).toHaveCount(0);
  await expect(page.locator('tr[data-topic="audit"]')).toHaveCount(1);
  await page.locator('#topic-search').fill('');
  await shot(page, 'topics');
});

test('topic page draws partitions across tiers with bytes per tier', async ({ page }) => {
  await open(page, '#/topics/audit', 'topic');
  const rows = page.locator('#partitions tbody tr');
  await expect(rows).toHaveCount(2);
  // Object durability: what was produced is in object storage, so a tiered end and object bytes show.
  const tiered = await page.locator('#partitions tbody tr td:nth-child(6)').allTextContents();
  expect(tiered.some((t) => /^\d/.test(t) && t !== '0')).toBeTruthy();
  await expect(page.locator('.card', { hasText: 'object storage' })).not.toContainText(/^0 B/);
  await expect(page.locator('#partitions .bar span').first()).toBeAttached();
  await expect(page.locator('input[data-config="strata.durability"]')).toHaveValue('object');
  await shot(page, 'topic');
});

test('a topic is created, its config altered, and deleted through the console', async ({ page, request }) => {
  const name = 'made-in-browser-' + Date.now();
  await open(page, '#/topics', 'topics');
  await page.locator('#create-topic input[name=name]').fill(name);
  await page.locator('#create-topic input[name=partitions]').fill('4');
  await page.locator('#create-topic input[name=configs]').fill('retention.ms=3600000');
  await page.locator('#create-topic button[type=submit]').click();
  await expect(page.locator('#topic-name')).toHaveText(name);
  await expect(page.locator('body[data-ready="topic"]')).toBeAttached();
  await expect(page.locator('#partitions tbody tr')).toHaveCount(4);
  await expect(page.locator('input[data-config="retention.ms"]')).toHaveValue('3600000');

  // Alter a config through its row.
  const seg = page.locator('#configs tr', { has: page.locator('input[data-config="segment.ms"]') });
  await seg.locator('input').fill('60000');
  await seg.getByRole('button', { name: 'Save' }).click();
  // Redrawn from the server: the config is now the topic's own, with a Reset beside it.
  await expect(seg.getByRole('button', { name: 'Reset' })).toBeAttached();
  await expect(seg.locator('td').nth(2)).toHaveText('topic');
  await expect(page.locator('input[data-config="segment.ms"]')).toHaveValue('60000');
  const t = await (await request.get(`${base()}/v1/topics/${name}`)).json();
  expect(t.configs['segment.ms']).toBe('60000');

  // A bad value is refused with the server's message, not a crash.
  allowHTTPError(400);
  await seg.locator('input').fill('soon');
  await page.locator('#configs tr', { has: page.locator('input[data-config="segment.ms"]') }).getByRole('button', { name: 'Save' }).click();
  await expect(page.locator('#topic-status .banner')).toContainText(/segment\.ms/);

  // Delete needs the name typed.
  await page.locator('#delete-topic').click();
  const really = page.getByRole('button', { name: 'Delete permanently' });
  await expect(really).toBeDisabled();
  await page.getByLabel('confirm topic name').fill(name);
  await really.click();
  await expect(page.locator('body[data-ready="topics"]')).toBeAttached();
  await expect(page.locator(`tr[data-topic="${name}"]`)).toHaveCount(0);
  expect((await request.get(`${base()}/v1/topics/${name}`)).status()).toBe(404);
});

test('a record produced with a Kafka client is shown in the message browser, and the live tail follows', async ({ page }) => {
  const marker = 'browser-check-' + Date.now();
  const topic = 'tail-' + Date.now();
  execFileSync(process.env.STRATA_BIN, ['topic', 'create', topic, '--partitions', '1', '--bootstrap', process.env.STRATA_KAFKA],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  produce(topic, [JSON.stringify({ marker, n: 1 })]);
  await open(page, `#/messages?topic=${topic}&partition=0&offset=0`, 'messages');
  await expect(page.locator('#records tr[data-offset="0"]')).toContainText(marker);
  // As JSON (pretty-printed) and as hex.
  await page.locator('#msg-format').selectOption('json');
  await expect(page.locator('#records tr[data-offset="0"] td:nth-child(4)')).toContainText('"n": 1');
  await page.locator('#msg-format').selectOption('hex');
  await expect(page.locator('#records tr[data-offset="0"] td:nth-child(4)')).toContainText('7b 22'); // {"
  await page.locator('#msg-format').selectOption('text');
  // Live tail: a record produced now appears without reloading.
  await page.locator('#msg-tail').check();
  produce(topic, [marker + '-tailed']);
  await expect(page.locator('#records tr[data-offset="1"]')).toContainText(marker + '-tailed');
  await page.locator('#msg-tail').uncheck();
  await shot(page, 'messages');
});

test('messages browse from a time and from the newest records', async ({ page, request }) => {
  // The producer chose the partitions: browse one that holds records.
  const parts = await (await request.get(`${base()}/v1/topics/orders/partitions`)).json();
  const p = parts.find((x) => x.high_watermark > 0).partition;
  await open(page, `#/messages?topic=orders&partition=${p}`, 'messages');
  await expect(page.locator('#records tr').first()).toBeAttached();
  await page.locator('#msg-from').selectOption('time');
  await page.locator('#msg-at').fill(new Date(Date.now() + 3600_000).toISOString());
  await page.locator('#msg-form button[type=submit]').click();
  await expect(page.locator('#msg-info')).toContainText('showing 0');
  await page.locator('#msg-at').fill('2000-01-01T00:00:00Z');
  await page.locator('#msg-form button[type=submit]').click();
  await expect(page.locator('#records tr[data-offset="0"]')).toBeAttached();
  await page.locator('#msg-from').selectOption('offset');
  allowHTTPError(400);
  await page.locator('#msg-at').fill('not-a-number');
  await page.locator('#msg-form button[type=submit]').click();
  await expect(page.locator('.banner')).toContainText('offset');
});

test('consumer groups show members, committed offsets and lag', async ({ page }) => {
  await open(page, '#/groups', 'groups');
  await expect(page.locator('tr[data-group="billing"]')).toBeAttached();
  await page.locator('tr[data-group="billing"] a').click();
  await expect(page.locator('body[data-ready="group"]')).toBeAttached();
  await expect(page.locator('#group-name')).toHaveText('billing');
  const rows = page.locator('#offsets tbody tr');
  await expect(rows.first()).toBeAttached();
  const lags = await page.locator('#offsets tbody tr td:nth-child(5)').allTextContents();
  expect(lags.every((l) => /^\d[\d,]*$/.test(l))).toBeTruthy();
  expect(lags.map((l) => Number(l.replace(/,/g, ''))).reduce((a, b) => a + b, 0)).toBe(30); // 40 produced, 10 read
  await expect(page.locator('svg[aria-label="total lag over time"]')).toBeAttached();
  await open(page, '#/groups', 'groups');
  await shot(page, 'groups');
});

test('a consuming group shows its member and the partitions assigned to it', async ({ page, request }) => {
  test.setTimeout(120_000);
  // A real Kafka consumer in a group, left running while the page looks.
  const consumer = spawn(process.env.STRATA_BIN, ['consume', 'orders', '--group', 'shipping', '--from-beginning',
    '--bootstrap', process.env.STRATA_KAFKA], { stdio: ['ignore', 'ignore', 'ignore'] });
  try {
    // Wait (through the API) until it has joined and committed all it read, then look.
    await expect.poll(async () => {
      const r = await request.get(`${base()}/v1/groups/shipping`);
      if (!r.ok()) return `HTTP ${r.status()}`;
      const g = await r.json();
      return `${g.state} members=${g.members.length} lag=${g.total_lag} offsets=${g.offsets.length}`;
    }, { timeout: 60_000, intervals: [250] }).toMatch(/^Stable members=1 lag=0 offsets=[1-9]/);
    await open(page, '#/groups/shipping', 'group');
    await expect(page.locator('.card', { hasText: 'members' })).toContainText('1');
    await expect(page.locator('.card', { hasText: 'state' })).toContainText('Stable');
    await expect(page.locator('td .tag', { hasText: 'orders: 0, 1, 2' })).toBeAttached();
    await expect(page.locator('.card', { hasText: 'total lag' })).toContainText(/^0/);
    await expect(page.locator('#offsets tbody tr').first()).toContainText(/kgo-/); // the member owning it
    await shot(page, 'group');
  } finally {
    consumer.kill('SIGTERM');
  }
});

test('cost page shows the report as tables and a chart', async ({ page }) => {
  await open(page, '#/cost', 'cost');
  await expect(page.locator('#cost-chart rect').first()).toBeAttached();
  await expect(page.locator('#cost-requests tbody tr', { hasText: 'put' }).first()).toBeAttached();
  await expect(page.getByRole('link', { name: 'audit' })).toBeAttached();
  await page.locator('#cost-window').selectOption('1h');
  await expect(page.locator('body[data-ready="cost"]')).toBeAttached();
  await expect(page).toHaveURL(/window=1h/);
  await shot(page, 'cost');
});

test('search finds records by text with a time histogram, and SQL answers over the topic', async ({ page }) => {
  const topic = `search-e2e-${Date.now()}`;
  produce(topic, ['{"level":"error","msg":"disk on fire"}', '{"level":"info","msg":"all good"}',
    '{"level":"error","msg":"fire again"}']);
  await open(page, `#/search?topic=${topic}&q=fire&from=1h`, 'search');
  await expect(page.locator('#search-results tbody tr')).toHaveCount(2);
  await expect(page.locator('#search-results')).toContainText('disk on fire');
  await expect(page.locator('#search-results')).not.toContainText('all good');
  await expect(page.locator('#search-histogram rect')).not.toHaveCount(0);
  await expect(page.locator('#search-summary')).toContainText('2 in all');
  await page.fill('#sql-statement', `SELECT value->>'$.level' AS level, count(*) AS n FROM "${topic}" GROUP BY ALL ORDER BY level`);
  await page.click('#sql-form button');
  await expect(page.locator('#sql-results tbody tr')).toHaveCount(2);
  await expect(page.locator('#sql-results tbody tr').first()).toContainText('error');
  await expect(page.locator('#sql-results tbody tr').first()).toContainText('2');
  await expect(page.locator('#search-results tbody tr')).toHaveCount(2); // the search stays shown
  await shot(page, 'search');
});

test('an unknown topic or page answers with a message, not a broken page', async ({ page }) => {
  allowHTTPError(404);
  await open(page, '#/topics/no-such-topic', 'error');
  await expect(page.locator('.banner')).toContainText(/UNKNOWN_TOPIC|does not exist|no such/i);
  await open(page, '#/nowhere', 'notfound');
});
