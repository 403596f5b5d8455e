// The demo end to end in headless Chromium: the app served with the dataset that
// `scripts/demo` built answers a text query with matching scenes, a feedback round
// returns more of them, and a screenshot of the app is written.
// Usage: node frontend/tests/e2e/demo.mjs BASE_URL [SCREENSHOT.png] (tests/demo/run.sh runs it;
// it lives here to share playwright-core with the frontend e2e tests)
import { chromium } from 'playwright-core';

const [base, screenshot] = process.argv.slice(2);
if (!base) throw new Error('usage: node demo.mjs BASE_URL [SCREENSHOT.png]');
const TIMEOUT = 120_000;
const QUERY = 'red stars';

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await page.goto(base);
  await page.waitForFunction(() => /ready/.test(document.querySelector('[data-testid=text-status]')?.textContent || ''));
  const backend = await page.getByTestId('backend').textContent();
  const ids = () => page.locator('[data-testid=result]').evaluateAll((els) => els.map((e) => e.dataset.id).join(','));
  const browsing = await ids();
  await page.getByTestId('query').fill(QUERY);
  await page.getByTestId('search').click();
  await page.waitForFunction(() => /encode/.test(document.querySelector('[data-testid=times]')?.textContent || '')
    && !document.querySelector('[data-testid=progress]'));
  await page.waitForFunction((before) => [...document.querySelectorAll('[data-testid=result]')]
    .map((e) => e.dataset.id).join(',') !== before, browsing);
  // Captions straight from the dataset's item chunks (by id), not from the page.
  const catalog = await (await fetch(new URL('data/catalog.json', base))).json();
  const folder = new URL(`data/${catalog.datasets[0].path}/`, base);
  const manifest = await (await fetch(new URL('dataset.json', folder))).json();
  const chunks = new Map();
  const captionOf = async (id) => {
    const k = Math.floor(id / manifest.items_per_chunk);
    if (!chunks.has(k)) chunks.set(k, await (await fetch(new URL(manifest.items[k].name, folder))).json());
    const chunk = chunks.get(k);
    return chunk.items[id - chunk.first_id].caption;
  };
  const captions = async () => {
    const shown = await page.locator('[data-testid=result]').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
    return Promise.all(shown.map(captionOf));
  };
  const matches = (list) => list.filter((c) => /\bred\b/.test(c) && /\bstars?\b/.test(c)).length;
  const first = await captions();
  // A random scene is a red star with chance 1/48 (8 colours, 6 shapes).
  const knnHits = matches(first.slice(0, 10));
  const knnPrecision = matches(first) / Math.max(first.length, 1);
  console.log(`backend ${backend}; "${QUERY}": ${knnHits} of the first 10 captions name red stars, `
    + `precision of the first page ${knnPrecision.toFixed(2)}`);
  if (knnPrecision < 0.1) { console.log('FAIL: the text query does not find its scenes (5x chance needed)'); failed = true; }

  // One feedback round: mark the matching results relevant, the others irrelevant.
  const tiles = page.locator('[data-testid=result]');
  const n = await tiles.count();
  for (let i = 0; i < n; i++) {
    const tile = tiles.nth(i);
    const title = await captionOf(Number(await tile.getAttribute('data-id')));
    const wanted = /\bred\b/.test(title) && /\bstars?\b/.test(title) ? 'relevant' : 'irrelevant';
    for (let click = 0; click < 3 && (await tile.getAttribute('data-label')) !== wanted; click++) {
      await tile.click();
    }
  }
  await page.getByTestId('finetune').click();
  await page.waitForFunction(() => !document.querySelector('[data-testid=progress]')
    && Number(document.querySelector('[data-testid=count]')?.textContent) > 0);
  const count = Number(await page.getByTestId('count').textContent());
  const rules = await page.getByTestId('rules').textContent();
  const after = await captions();
  const precision = matches(after) / Math.max(after.length, 1);
  console.log(`fine-tune: ${count} results, precision of the first page ${precision.toFixed(2)}`);
  if (!(count > 0) || rules.length === 0) { console.log('FAIL: no results or rules after fine-tune'); failed = true; }
  if (!(precision > knnPrecision)) { console.log('FAIL: the feedback round did not raise precision'); failed = true; }
  if (screenshot) {
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=result] img')].slice(0, 18)
      .every((img) => img.complete && img.naturalWidth > 0));
    await page.screenshot({ path: screenshot });
  }
} catch (e) {
  console.log(`FAIL: ${e.message}`);
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
