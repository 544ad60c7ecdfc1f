// Page-load measurement on a node with a 1,000-partition topic (run.sh with
// STRATA_CONSOLE_MEASURE=1; not part of the tests). Each page is loaded 5 times after a warm-up;
// the time is from navigation start to the page's data drawn (body[data-ready]), printed as
// median and max.
const { test, expect } = require('@playwright/test');
const { execFileSync } = require('node:child_process');

test('page load with 1,000 partitions', async ({ page }) => {
  test.setTimeout(300_000);
  const bin = process.env.STRATA_BIN, kafka = process.env.STRATA_KAFKA;
  execFileSync(bin, ['topic', 'create', 'wide', '--partitions', '1000', '--bootstrap', kafka, '--timeout', '120s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ i })).join('\n') + '\n';
  execFileSync(bin, ['produce', 'wide', '--bootstrap', kafka, '--timeout', '60s'], { input: lines, stdio: ['pipe', 'pipe', 'pipe'] });
  execFileSync(bin, ['consume', 'wide', '--group', 'wide-readers', '--from-beginning', '--max', '100', '--bootstrap', kafka, '--timeout', '60s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pages = [['cluster', '#/cluster'], ['topics', '#/topics'], ['topic', '#/topics/wide'], ['group', '#/groups/wide-readers'],
    ['messages', '#/messages?topic=wide&partition=0'], ['cost', '#/cost']];
  const results = [];
  for (const [ready, hash] of pages) {
    const times = [], apis = [];
    for (let i = 0; i < 6; i++) {
      await page.goto('about:blank');
      await page.goto(process.env.STRATA_HTTP + '/' + hash);
      await expect(page.locator(`body[data-ready="${ready}"]`)).toBeAttached({ timeout: 30_000 });
      const [ms, apiMs] = await page.evaluate(() => [window.__strataRenderedAt,
        Math.max(0, ...performance.getEntriesByType('resource').filter((e) => e.name.includes('/v1/')).map((e) => e.duration))]);
      if (i > 0) { times.push(ms); apis.push(apiMs); } // the first load warms caches
    }
    times.sort((a, b) => a - b);
    apis.sort((a, b) => a - b);
    results.push(`${ready.padEnd(9)} median ${times[2].toFixed(0)} ms, max ${times[4].toFixed(0)} ms (slowest API call: median ${apis[2].toFixed(0)} ms)`);
  }
  // The topic page draws its partitions 100 at a time.
  await page.goto(process.env.STRATA_HTTP + '/#/topics/wide');
  await expect(page.locator('#partitions tbody tr')).toHaveCount(100);
  await page.locator('#partitions-next').click();
  await expect(page.locator('#partitions tbody tr[data-partition="100"]')).toBeAttached();
  await expect(page.locator('#partition-range')).toHaveText('partitions 100–199 of 1000');
  console.log('page load (navigation start → data drawn), 1,000-partition topic:\n  ' + results.join('\n  '));
});
