// End-to-end tests of the clip-branches app in headless Chromium (playwright-core, the
// system's /usr/bin/chromium). Usage: node e2e.mjs BASE_URL
// BASE_URL serves frontend/dist at / and the datasets of make_test_dataset under /data/.
// Prints one line per test and the measured figures; exits 1 if any test failed.
import { chromium } from 'playwright-core';
import { readFile } from 'node:fs/promises';

const base = process.argv[2];
if (!base) throw new Error('usage: node e2e.mjs BASE_URL');
const TIMEOUT = 60_000;

const BROWSER_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
// No WebGPU flags: this browser has no adapter, so the text worker runs on the CPU.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: BROWSER_ARGS,
});

const figures = {};
const failures = [];

/** A fresh browser context (cold caches) with a page and a byte counter of every response
 * the page and its workers received. */
async function freshPage(context, serviceWorkers = 'block') {
  // The service worker is blocked except in the offline test: responses it serves carry
  // no sizes, and each test should measure the app itself.
  context = context || await browser.newContext({ acceptDownloads: true, serviceWorkers });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const net = { bytes: 0, urls: [] };
  page.on('requestfinished', async (request) => {
    try {
      const sizes = await request.sizes();
      net.bytes += sizes.responseBodySize + sizes.responseHeadersSize;
      net.urls.push(request.url());
    } catch { /* the page went away */ }
  });
  page.on('pageerror', (e) => console.log(`  page error: ${e.message}`));
  return { context, page, net };
}

const tiles = (page) => page.locator('[data-testid=result]');
const count = async (page) => Number(await page.getByTestId('count').textContent());
const label = (page, id) => page.locator(`[data-testid=result][data-id="${id}"]`).getAttribute('data-label');
const ids = (page) => tiles(page).evaluateAll((els) => els.map((e) => Number(e.dataset.id)));

/** Waits until the grid shows `n` tiles and every thumbnail of them has loaded. */
async function gridReady(page, n = 60) {
  await page.waitForFunction((n) => {
    const els = [...document.querySelectorAll('[data-testid=result]')];
    return els.length === n && els.every((e) => { const img = e.querySelector('img'); return img && img.complete && img.naturalWidth > 0; });
  }, n, { timeout: TIMEOUT });
}

/** Waits for the request in flight to end (no progress line, search enabled). */
async function idle(page) {
  await page.waitForFunction(() => !document.querySelector('[data-testid=progress]'), null, { timeout: TIMEOUT });
}

async function test(name, body) {
  const started = Date.now();
  try {
    await body();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failures.push(name);
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Finds a tile of a rare cluster on the browse grid (paging forward); returns its id and cluster. */
async function findClusterTile(page) {
  for (let p = 0; p < 50; p++) {
    const found = await tiles(page).evaluateAll((els) => {
      const el = els.find((e) => /rare cluster \d/.test(e.getAttribute('title') || ''));
      return el ? { id: Number(el.dataset.id), cluster: el.getAttribute('title').match(/rare cluster (\d)/)[1] } : null;
    });
    if (found) return found;
    await page.getByTestId('next-page').click();
    await gridReady(page);
  }
  throw new Error('no rare-cluster image on any page');
}

const app = (query = '') => `${base}${query}`;
let shared = {};

await test('load: catalog, dataset, first grid of thumbnails, cpu backend', async () => {
  const { context, page, net } = await freshPage();
  const t0 = Date.now();
  await page.goto(app());
  await gridReady(page);
  figures.cold_first_grid_ms = Date.now() - t0;
  figures.cold_first_grid_bytes = net.bytes;
  assert(await count(page) === 3000, `browse count ${await count(page)}`);
  assert(await page.getByTestId('backend').textContent() === 'cpu', 'backend');
  const shards = net.urls.filter((u) => u.endsWith('.shard'));
  assert(shards.length > 0 && shards.every((u) => u.includes('features-')), `only feature shards before the first results: ${shards}`);
  // Warm: the same browser profile, a second visit reads shards from the Cache API.
  const warm = await freshPage(context);
  const t1 = Date.now();
  await warm.page.goto(app());
  await gridReady(warm.page);
  figures.warm_first_grid_ms = Date.now() - t1;
  figures.warm_first_grid_bytes = warm.net.bytes;
  const warmShards = warm.net.urls.filter((u) => u.endsWith('.shard'));
  assert(warmShards.length === 0, `warm load fetched shards again: ${warmShards}`);
  await context.close();
});

await test('paging over the whole collection', async () => {
  const { context, page } = await freshPage();
  await page.goto(app());
  await gridReady(page);
  await page.getByTestId('next-page').click();
  await gridReady(page);
  assert((await ids(page))[0] === 60, 'page 2 starts at id 60');
  assert(/page 2 of 50/.test(await page.getByTestId('page').textContent()), 'page label');
  await context.close();
});

await test('more like this, label, fine-tune, count, rules, paging, undo, export, save', async () => {
  const { context, page, net } = await freshPage();
  await page.goto(app());
  await gridReady(page);
  const { id, cluster } = await findClusterTile(page);
  const before = net.bytes;
  const t0 = Date.now();
  await page.locator(`[data-testid=result][data-id="${id}"] [data-testid=more-like-this]`).click();
  await page.waitForFunction((id) => {
    const first = document.querySelector('[data-testid=result]');
    return first && first.dataset.id === String(id);
  }, id);
  await idle(page);
  figures.more_like_this_ms = Date.now() - t0;
  figures.more_like_this_bytes = net.bytes - before;
  assert(await count(page) === 60, `k-NN count ${await count(page)}`);
  const labels = await tiles(page).evaluateAll((els) => els.map((e) => e.dataset.label));
  assert(labels.every((l) => l === 'relevant'), 'k-NN results start relevant');
  assert(/like=/.test(page.url()), `URL holds the query: ${page.url()}`);

  // One click = one step: relevant -> irrelevant -> none -> relevant.
  const probe = (await ids(page))[1];
  for (const want of ['irrelevant', 'none', 'relevant']) {
    await page.locator(`[data-testid=result][data-id="${probe}"]`).click();
    assert(await label(page, probe) === want, `click gives ${want}, got ${await label(page, probe)}`);
  }
  // Images outside the cluster become irrelevant.
  const outside = await tiles(page).evaluateAll((els, c) => els
    .filter((e) => !(e.getAttribute('title') || '').includes(`rare cluster ${c}`))
    .map((e) => Number(e.dataset.id)), cluster);
  for (const other of outside) await page.locator(`[data-testid=result][data-id="${other}"]`).click();

  const t1 = Date.now();
  const beforeTune = net.bytes;
  await page.getByTestId('finetune').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=rules] .sql'));
  await idle(page);
  figures.finetune_ms = Date.now() - t1;
  figures.finetune_bytes = net.bytes - beforeTune;
  figures.finetune_times = await page.getByTestId('times').textContent();
  const found = await count(page);
  assert(found > 0, 'fine-tune finds images');
  const rules = await page.getByTestId('rules').textContent();
  assert(/dim_\d+ in \[/.test(rules) && /SELECT \* FROM images WHERE/.test(rules), `rules: ${rules}`);
  assert(/train/.test(figures.finetune_times), `times: ${figures.finetune_times}`);
  const leafShards = net.urls.filter((u) => /tree-\d+-leaves/.test(u)).length;
  const allLeaves = (await readFile(process.env.DATA_DIR + '/swatches/manifest.json', 'utf8')).match(/tree_leaves/g).length;
  figures.finetune_leaf_shards = `${leafShards} of ${allLeaves}`;
  const firstTitle = await tiles(page).first().getAttribute('title');
  assert(firstTitle.includes(`rare cluster ${cluster}`), `first result is in the cluster: ${firstTitle}`);
  for (const other of outside) {
    const shown = page.locator(`[data-testid=result][data-id="${other}"]`);
    if (await shown.count()) assert(await shown.getAttribute('data-label') === 'irrelevant', 'labels kept across rounds');
  }

  // Paging visits every result, no cap.
  const seen = new Set(await ids(page));
  while (await page.getByTestId('next-page').isEnabled()) {
    await page.getByTestId('next-page').click();
    for (const i of await ids(page)) seen.add(i);
  }
  assert(seen.size === found, `paged ${seen.size} of ${found}`);
  shared.url = page.url();
  shared.count = found;

  // Export CSV: every result and every labelled image.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
  const csv = await readFile(await download.path(), 'utf8');
  const lines = csv.trim().split('\r\n');
  assert(lines[0] === 'rank,id,label,caption,source', `csv header ${lines[0]}`);
  assert(lines.length - 1 >= found, `csv rows ${lines.length - 1} < ${found}`);
  assert(lines.some((l) => l.includes(`rare cluster ${cluster}`)), 'captions exported');

  // Save the search.
  const [saved] = await Promise.all([page.waitForEvent('download'), page.getByTestId('save-search').click()]);
  shared.model = await readFile(await saved.path(), 'utf8');
  assert(JSON.parse(shared.model).searcher === 'db', 'saved model is DBranches');

  // Undo returns to the k-NN round.
  await page.getByTestId('undo').click();
  assert(await count(page) === 60, 'undo restores the k-NN results');
  await context.close();
});

await test('a shared URL restores query, labels and settings', async () => {
  const { context, page } = await freshPage();
  const like = new URL(shared.url).searchParams.get('like');
  await page.goto(shared.url);
  await page.waitForFunction((like) => {
    const first = document.querySelector('[data-testid=result]');
    return first && first.dataset.id === like && !document.querySelector('[data-testid=progress]');
  }, like);
  assert(await count(page) === 60, 'k-NN results');
  const pos = new URL(shared.url).searchParams.get('pos').split(',');
  const labels = await tiles(page).evaluateAll((els) => els.map((e) => [e.dataset.id, e.dataset.label]));
  for (const [id, l] of labels) {
    assert(l === (pos.includes(id) ? 'relevant' : 'none'), `label of ${id} from the URL: ${l}`);
  }
  await page.getByTestId('finetune').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=rules] .sql'));
  await idle(page);
  assert(await count(page) === shared.count, `same count after reload: ${await count(page)} vs ${shared.count}`);
  // An irrelevant label in the URL wins over the k-NN default (relevant).
  const url = new URL(shared.url);
  url.searchParams.set('neg', pos[1]);
  const second = await context.newPage();
  await second.goto(url.href);
  await second.waitForFunction((id) => {
    const tile = document.querySelector(`[data-testid=result][data-id="${id}"]`);
    return tile && tile.dataset.label === 'irrelevant';
  }, pos[1], { timeout: TIMEOUT });
  await context.close();
});

await test('a saved search applies in a fresh page', async () => {
  const { context, page } = await freshPage();
  await page.goto(app());
  await gridReady(page);
  await page.getByTestId('saved-search').fill(shared.model);
  await page.getByTestId('apply-search').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=rules] .sql'));
  await idle(page);
  assert(await count(page) === shared.count, `saved search count ${await count(page)} vs ${shared.count}`);
  await context.close();
});

await test('shift-click range and keyboard labelling', async () => {
  const { context, page } = await freshPage();
  await page.goto(app());
  await gridReady(page);
  await page.locator('[data-testid=result][data-id="2"]').click();
  await page.locator('[data-testid=result][data-id="6"]').click({ modifiers: ['Shift'] });
  for (let i = 2; i <= 6; i++) assert(await label(page, i) === 'relevant', `range label of ${i}`);
  await page.locator('.grid').focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('i');
  assert(await label(page, 7) === 'irrelevant', `keyboard label: ${await label(page, 7)}`);
  await context.close();
});

await test('text query without a text encoder says so in the error panel', async () => {
  const { context, page } = await freshPage();
  await page.goto(app());
  await gridReady(page);
  await page.getByTestId('query').fill('a red swatch');
  await page.getByTestId('search').click();
  const error = await page.getByTestId('error').textContent();
  assert(/no text encoder/.test(error), `error: ${error}`);
  await context.close();
});

await test('text search: the text worker loads the encoder, encodes, k-NN; URL reload', async () => {
  const { context, page } = await freshPage();
  const t0 = Date.now();
  await page.goto(app('?dataset=swatches-text'));
  await page.waitForFunction(() => /ready/.test(document.querySelector('[data-testid=text-status]')?.textContent || ''), null, { timeout: TIMEOUT });
  figures.text_encoder_ready_ms = Date.now() - t0;
  figures.text_status = await page.getByTestId('text-status').textContent();
  // This browser has no WebGPU (no --enable-unsafe-webgpu): the worker falls back to CPU.
  assert(await page.getByTestId('backend').textContent() === 'cpu', 'backend: CPU without WebGPU');
  await gridReady(page);
  await page.getByTestId('query').fill('a red swatch');
  const t1 = Date.now();
  await page.getByTestId('search').click();
  await page.waitForFunction(() => /encode/.test(document.querySelector('[data-testid=times]')?.textContent || '')
    && !document.querySelector('[data-testid=progress]'));
  figures.text_query_ms = Date.now() - t1;
  figures.text_query_times = await page.getByTestId('times').textContent();
  assert(await count(page) === 60, `text k-NN count ${await count(page)}`);
  const first = await ids(page);
  shared.cpuTextIds = first;
  assert(new URL(page.url()).searchParams.get('q') === 'a red swatch', `URL: ${page.url()}`);
  const again = await context.newPage();
  await again.goto(page.url());
  await again.waitForFunction(() => /encode/.test(document.querySelector('[data-testid=times]')?.textContent || ''), null, { timeout: TIMEOUT });
  assert(JSON.stringify(await ids(again)) === JSON.stringify(first), 'same results after reload');
  assert(await again.getByTestId('query').inputValue() === 'a red swatch', 'query box restored');
  await context.close();
});

await test('text search on WebGPU (SwiftShader adapter): same k-NN ids as on the CPU', async () => {
  const gpu = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [...BROWSER_ARGS, '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'],
  });
  try {
    const page = await (await gpu.newContext({ serviceWorkers: 'block' })).newPage();
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (e) => console.log(`  page error: ${e.message}`));
    const t0 = Date.now();
    await page.goto(app('?dataset=swatches-text&q=a%20red%20swatch'));
    await page.waitForFunction(() => /encode/.test(document.querySelector('[data-testid=times]')?.textContent || '')
      && !document.querySelector('[data-testid=progress]'), null, { timeout: 4 * TIMEOUT });
    figures.webgpu_text_first_results_ms = Date.now() - t0;
    figures.webgpu_text_status = await page.getByTestId('text-status').textContent();
    figures.webgpu_text_query_times = await page.getByTestId('times').textContent();
    assert(await page.getByTestId('backend').textContent() === 'webgpu', 'backend: webgpu with an adapter');
    assert(shared.cpuTextIds, 'the CPU text search ran first');
    assert(JSON.stringify(await ids(page)) === JSON.stringify(shared.cpuTextIds), 'same k-NN ids as on the CPU');
  } finally {
    await gpu.close();
  }
});

await test('a corrupt feature shard shows an error and the app keeps working', async () => {
  const { context, page } = await freshPage();
  await page.goto(app('?dataset=broken-features'));
  const error = await page.getByTestId('error').textContent();
  assert(/features-\d+\.[0-9a-f]+\.shard/.test(error) && /blake3|hash/.test(error), `error names the shard: ${error}`);
  await page.getByTestId('dataset').selectOption('swatches');
  await gridReady(page);
  assert(await page.getByTestId('error').count() === 0, 'error cleared after switching');
  await context.close();
});

await test('corrupt leaf shards: k-NN works, box search fails clearly, scan baseline works', async () => {
  const { context, page } = await freshPage();
  await page.goto(app('?dataset=broken-leaves'));
  await gridReady(page);
  await tiles(page).first().locator('[data-testid=more-like-this]').click();
  await page.waitForFunction(() => !document.querySelector('[data-testid=progress]')
    && document.querySelector('[data-testid=count]').textContent === '60');
  await page.getByTestId('finetune').click();
  const error = await page.getByTestId('error').textContent();
  assert(/tree-\d+-(top|leaves)/.test(error), `error names a tree shard: ${error}`);
  await idle(page);
  await page.getByTestId('dismiss-error').click();
  await page.getByTestId('searcher').selectOption('dtree');
  await page.getByTestId('finetune').click();
  await page.waitForFunction(() => !document.querySelector('[data-testid=progress]')
    && document.querySelector('[data-testid=undo]') && !document.querySelector('[data-testid=undo]').disabled);
  assert(await page.getByTestId('error').count() === 0, 'no error for the scan baseline');
  assert(await count(page) > 0, 'decision tree finds images');
  await context.close();
});

await test('offline: a dataset opened once reloads from the service worker and caches', async () => {
  const { context, page } = await freshPage(null, 'allow');
  await page.goto(app());
  await gridReady(page);
  await page.evaluate(() => navigator.serviceWorker.ready);
  // Once the service worker controls the page, every app and entry file passes through
  // it; the k-NN below fetches the item chunks of its results once, online.
  await page.reload();
  await gridReady(page);
  await tiles(page).nth(1).locator('[data-testid=more-like-this]').click();
  await gridReady(page);
  const like = new URL(page.url()).searchParams.get('like');
  await context.setOffline(true);
  // The reload restores the search from the URL: the same k-NN round, offline.
  await page.reload();
  await page.waitForFunction((like) => !document.querySelector('[data-testid=progress]')
    && document.querySelector('[data-testid=result]')?.dataset.id === like, like);
  await gridReady(page);
  const error = page.getByTestId('error');
  assert(await error.count() === 0, `no error offline: ${await error.count() && await error.textContent()}`);
  await context.close();
});

await browser.close();
console.log(`figures ${JSON.stringify(figures, null, 1)}`);
if (failures.length) {
  console.log(`${failures.length} failed: ${failures.join('; ')}`);
  process.exit(1);
}
console.log('all passed');
