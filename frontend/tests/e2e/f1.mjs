// A feedback round in the browser on a rare cluster, per searcher: opens DATASET at
// "more like this" of image LIKE (a member of rare cluster CLUSTER), labels the first page
// from the captions (members of that cluster relevant, the others irrelevant), runs one
// round with each searcher and prints, as JSON, the request the page trained (from its URL:
// labels, random negatives, negative weight, searcher) and the ids it returned (its JSON
// export). scripts/bench-f1-scale compares them with the native engine's on the same
// request.
// Usage: node f1.mjs BASE_URL DATASET LIKE CLUSTER
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const [base, dataset, like, cluster] = process.argv.slice(2);
if (!cluster) throw new Error('usage: node f1.mjs BASE_URL DATASET LIKE CLUSTER');
const TIMEOUT = 600_000;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-quic'],
});
const out = { dataset, like: Number(like), cluster: Number(cluster), rounds: [] };
try {
  const page = await (await browser.newContext({ serviceWorkers: 'block', acceptDownloads: true })).newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(`${base}?dataset=${dataset}&like=${like}&workers=1`);
  await page.waitForFunction((id) => {
    const els = [...document.querySelectorAll('[data-testid=result]')];
    return els.length === 60 && els[0].dataset.id === id && els.every((e) => e.title);
  }, like);
  const member = new RegExp(`rare cluster ${cluster}$`);
  const tiles = page.locator('[data-testid=result]');
  const n = await tiles.count();
  for (let i = 0; i < n; i++) {
    const tile = tiles.nth(i);
    const wanted = member.test(await tile.getAttribute('title')) ? 'relevant' : 'irrelevant';
    for (let click = 0; click < 3 && (await tile.getAttribute('data-label')) !== wanted; click++) await tile.click();
  }
  for (const [searcher, label] of [['db', 'DBranches'], ['ens', 'DBranches ensemble']]) {
    await page.getByTestId('searcher').selectOption({ label });
    const t0 = Date.now();
    await page.getByTestId('finetune').click();
    await page.waitForFunction(() => !document.querySelector('[data-testid=progress]')
      && !document.querySelector('[data-testid=undo]').disabled);
    const ms = Date.now() - t0;
    const count = Number(await page.getByTestId('count').textContent());
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-json').click()]);
    const ids = JSON.parse(await readFile(await download.path(), 'utf8')).filter((r) => r.rank != null).map((r) => r.id);
    const params = new URL(page.url()).searchParams;
    const list = (name) => (params.get(name) || '').split(',').filter(Boolean).map(Number);
    out.rounds.push({
      searcher,
      ms,
      count,
      ids,
      request: {
        positives: list('pos'),
        negatives: list('neg'),
        ...(params.get('rn') ? { random_negatives: Number(params.get('rn')) } : {}),
        ...(params.get('nw') ? { negative_weight: Number(params.get('nw')) } : {}),
        searcher,
      },
    });
    await page.getByTestId('undo').click();
    await page.waitForFunction(() => !document.querySelector('[data-testid=progress]'));
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
