// End-to-end tests of the clip-branches app in headless Chromium (playwright-core, the
// system's /usr/bin/chromium). Usage: node e2e.mjs BASE_URL
// BASE_URL serves frontend/dist at / and the datasets of make_test_dataset under /data/.
// Prints one line per test and the measured figures; exits 1 if any test failed.
// E2E_ONLY=REGEX runs only the tests whose names match.
import { chromium } from 'playwright-core';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import http from 'node:http';
import { searchDone } from './search-done.mjs';

const base = process.argv[2];
if (!base) throw new Error('usage: node e2e.mjs BASE_URL');
const TIMEOUT = 60_000;

const BROWSER_ARGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
// No WebGPU flags: this browser has no adapter, so the text worker runs on the CPU.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [...BROWSER_ARGS,
    // Another origin for the same server, for the web component test.
    '--host-resolver-rules=MAP embed.test 127.0.0.1'],
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

/** Shows the round's least sure images and returns their ids once the grid is drawn: it
 * waits for every shown image's item, and a least sure image's chunk may not be fetched
 * yet (128 items to a chunk). */
async function showUncertain(page) {
  await page.getByTestId('show-uncertain').click();
  await page.getByTestId('uncertain').waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid=result]'), null, { timeout: TIMEOUT });
  return ids(page);
}

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

/** Captions of dataset `name`'s items by id, read from its items chunks on disk (a test
 * dataset's folder holds only its own). */
async function captionsOf(name) {
  const dir = `${process.env.DATA_DIR}/${name}`;
  const captions = {};
  const chunks = (await readdir(dir)).filter((f) => /^items-\d+\.[0-9a-f]{16}\.json$/.test(f));
  for (const file of chunks) {
    const chunk = JSON.parse(await readFile(`${dir}/${file}`, 'utf8'));
    chunk.items.forEach((item, k) => { captions[chunk.first_id + k] = item.caption; });
  }
  return captions;
}

/** From now on, each time the grid changes (a MutationObserver runs right after each DOM
 * change), records every tile whose hover caption (title) is not its data-id's caption. */
async function watchTitles(page, captions) {
  await page.evaluate((captions) => {
    window.titleMismatches = [];
    new MutationObserver(() => {
      for (const tile of document.querySelectorAll('[data-testid=result]')) {
        const want = captions[tile.dataset.id];
        if (tile.title !== want) window.titleMismatches.push(`${tile.dataset.id}: "${tile.title}", not "${want}"`);
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  }, captions);
}

async function assertTitlesMatched(page) {
  const mismatches = await page.evaluate(() => window.titleMismatches);
  assert(mismatches.length === 0, `tiles with a caption not theirs: ${mismatches.slice(0, 5).join('; ')} (${mismatches.length})`);
}

async function test(name, body) {
  // E2E_ONLY=regex runs only the tests whose names match (some use an earlier test's state).
  if (process.env.E2E_ONLY && !new RegExp(process.env.E2E_ONLY).test(name)) return;
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
  const encodings = {};
  page.on('response', async (response) => {
    if (/(app-[0-9a-f]+|worker)_bg\.wasm$/.test(response.url())) {
      encodings[response.url().split('/').pop()] = await response.headerValue('content-encoding');
    }
  });
  const t0 = Date.now();
  await page.goto(app());
  await gridReady(page);
  figures.cold_first_grid_ms = Date.now() - t0;
  figures.cold_first_grid_bytes = net.bytes;
  // Precompressed bundles (frontend/build.sh): brotli to a browser that accepts it.
  figures.bundle_encodings = JSON.stringify(encodings);
  assert(Object.keys(encodings).length >= 2 && Object.values(encodings).every((e) => e === 'br'),
    `the app's and the worker's wasm arrive brotli-compressed: ${figures.bundle_encodings}`);
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
  await watchTitles(page, await captionsOf('swatches'));
  await page.getByTestId('next-page').click();
  await gridReady(page);
  assert((await ids(page))[0] === 60, 'page 2 starts at id 60');
  assert(/page 2 of 50/.test(await page.getByTestId('page').textContent()), 'page label');
  for (let p = 3; p <= 10; p++) await page.getByTestId('next-page').click();
  await page.getByTestId('page').filter({ hasText: 'page 10 of 50' }).waitFor();
  await gridReady(page);
  await assertTitlesMatched(page);
  await context.close();
});

await test('more results: the neighbour list grows by 60 as far as the user goes', async () => {
  const { context, page } = await freshPage();
  await page.goto(app());
  await gridReady(page);
  const id = (await ids(page))[7];
  await page.locator(`[data-testid=result][data-id="${id}"] [data-testid=more-like-this]`).click();
  await page.waitForFunction((id) => document.querySelector('[data-testid=result]')?.dataset.id === String(id), id);
  await idle(page);
  const first = await ids(page);
  assert(first.length === 60 && await count(page) === 60, 'the first 60 neighbours');
  for (const total of [120, 180]) {
    await page.getByTestId('more-results').click();
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid=count]')?.textContent) === n, total);
    await gridReady(page);
    assert(new RegExp(`page ${total / 60} of ${total / 60}`).test(await page.getByTestId('page').textContent()),
      'the page of the first new result is shown');
    const added = await ids(page);
    assert(added.length === 60 && added.every((i) => !first.includes(i)), 'the next 60 are new images');
    const labels = await tiles(page).evaluateAll((els) => els.map((e) => e.dataset.label));
    assert(labels.every((l) => l === 'relevant'), 'new neighbours start relevant, as the first did');
  }
  await page.getByTestId('prev-page').click();
  await page.getByTestId('prev-page').click();
  await gridReady(page);
  assert(JSON.stringify(await ids(page)) === JSON.stringify(first), 'the first page stays as it was');
  // After a round, the results are every image the model accepts: nothing to extend.
  await page.getByTestId('finetune').click();
  await page.waitForFunction(() => !document.querySelector('[data-testid=undo]')?.disabled, null, { timeout: TIMEOUT });
  await idle(page);
  assert(await page.getByTestId('more-results').count() === 0, 'no more-results after a round');
  await context.close();
});

await test('more like this, label, fine-tune, count, rules, paging, undo, export, save', async () => {
  const { context, page, net } = await freshPage();
  await page.goto(app());
  await gridReady(page);
  const { id, cluster } = await findClusterTile(page);
  await watchTitles(page, await captionsOf('swatches'));
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
  // Readable: bounded dims only (no `in [0, 255]`), one-sided bounds as such.
  assert(/dim_\d+ (in \[|<=|>=|=)/.test(rules) && /SELECT \* FROM images WHERE/.test(rules), `rules: ${rules}`);
  assert(!/\[0, 255\]|BETWEEN 0 AND 255/.test(rules), `rules bound nothing: ${rules}`);
  assert(/train/.test(figures.finetune_times), `times: ${figures.finetune_times}`);
  const leafPacks = net.urls.filter((u) => /tree-\d+-leaves/.test(u)).length;
  // The tree tops name their packs of leaf files (the manifest names the tops): the packs
  // a round read, of all; a set this small reads a pack whole, and keeps it.
  const swatches = process.env.DATA_DIR + '/swatches/';
  const { index } = JSON.parse(await readFile(swatches + 'dataset.json', 'utf8'));
  const indexDir = swatches + index.replace(/[^/]*$/, '');
  const allPacks = (await readdir(indexDir)).filter((f) => /^tree-\d+-leaves/.test(f)).length;
  figures.finetune_leaf_packs = `${leafPacks} of ${allPacks}`;
  // Ranked likeliest first (hits, then depth in the boxes), not by id: most of the first
  // page is the cluster.
  const titles = await tiles(page).evaluateAll((els) => els.map((e) => e.getAttribute('title') || ''));
  const inCluster = titles.filter((t) => t.includes(`rare cluster ${cluster}`)).length;
  figures.finetune_first_page_in_cluster = `${inCluster} of ${titles.length}`;
  assert(inCluster * 2 > titles.length, `first page in the cluster: ${inCluster} of ${titles.length}`);
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
  assert(lines[0] === 'rank,id,label,caption,source,date_taken', `csv header ${lines[0]}`);
  assert(lines.length - 1 >= found, `csv rows ${lines.length - 1} < ${found}`);
  assert(lines.some((l) => l.includes(`rare cluster ${cluster}`)), 'captions exported');

  // Export the search as a file.
  const [saved] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-search').click()]);
  shared.model = await readFile(await saved.path(), 'utf8');
  assert(JSON.parse(shared.model).searcher === 'db', 'saved model is DBranches');

  // Undo returns to the k-NN round.
  await page.getByTestId('undo').click();
  assert(await count(page) === 60, 'undo restores the k-NN results');
  await gridReady(page);
  await assertTitlesMatched(page);
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

await test('ensemble over several workers: the same count, rules and least sure images as one worker; labelling the least sure', async () => {
  const { context, page } = await freshPage();
  const round = async (workers) => {
    const url = new URL(shared.url);
    url.searchParams.set('searcher', 'ens');
    url.searchParams.set('workers', String(workers));
    await page.goto(url.href);
    await page.waitForFunction((like) => document.querySelector('[data-testid=result]')?.dataset.id === like
      && !document.querySelector('[data-testid=progress]'), url.searchParams.get('like'));
    await page.getByTestId('finetune').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=rules] .sql'));
    await idle(page);
    const shown = { count: await count(page), rules: await page.getByTestId('rules').textContent(), ids: await ids(page) };
    // The least sure images: unlabelled, not the first page of results.
    shown.uncertain = await showUncertain(page);
    shown.uncertainLabels = await tiles(page).evaluateAll((els) => els.map((e) => e.dataset.label));
    return shown;
  };
  const one = await round(1);
  const three = await round(3);
  figures.ensemble_count = one.count;
  assert(one.count > 0, 'the ensemble finds images');
  assert(three.count === one.count, `3 workers: ${three.count} results, 1 worker: ${one.count}`);
  assert(three.rules === one.rules, 'the same rules');
  assert(JSON.stringify(three.ids) === JSON.stringify(one.ids), 'the same first page');
  figures.ensemble_least_sure = one.uncertain.length;
  assert(one.uncertain.length > 0, 'the ensemble is unsure of some images');
  assert(one.uncertainLabels.every((l) => l === 'none'), `least sure images are unlabelled: ${one.uncertainLabels}`);
  assert(JSON.stringify(three.uncertain) === JSON.stringify(one.uncertain), 'the same least sure images with 3 workers');
  assert(JSON.stringify(one.uncertain) !== JSON.stringify(one.ids), 'not the first page of results');

  // Labelling there teaches the next round; it shows its results first.
  const probe = one.uncertain[0];
  await page.locator(`[data-testid=result][data-id="${probe}"]`).click();
  assert(await label(page, probe) === 'relevant', 'a click labels a least sure image');
  await page.getByTestId('show-results').click();
  assert(await page.getByTestId('uncertain').count() === 0, 'back on the results');
  await showUncertain(page);
  assert(await label(page, probe) === 'relevant', 'the label is kept');
  // Fine-tune from the least sure list: the new round arrives showing its results.
  await page.getByTestId('finetune').click();
  await page.waitForFunction(() => !document.querySelector('[data-testid=uncertain]')
    && document.querySelector('[data-testid=show-results]')?.getAttribute('aria-pressed') === 'true', null, { timeout: TIMEOUT });
  await idle(page);
  assert(await page.getByTestId('undo').isEnabled(), 'the new round can be undone');
  const next = await showUncertain(page);
  assert(!next.includes(probe), 'a labelled image is no longer among the least sure');
  await context.close();
});

/** axe-core's serious and critical violations on the page as it is now, as
 * "rule (impact): first target" lines. */
const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
async function accessibilityViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.addScriptTag({ content: axeSource });
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.length} nodes, e.g. ${v.nodes[0].target.join(' ')}`));
  return violations;
}

await test('accessible on desktop and a 390 x 844 phone: axe-core finds no serious or critical violation in the main states; phone tiles >= 110 px with captions; labels in words', async () => {
  const problems = [];
  for (const [device, viewport] of [['desktop', { width: 1280, height: 900 }], ['phone', { width: 390, height: 844 }]]) {
    const context = await browser.newContext({ acceptDownloads: true, serviceWorkers: 'block', viewport, isMobile: device === 'phone', hasTouch: device === 'phone' });
    const { page } = await freshPage(context);
    const states = {};
    const check = async (state) => {
      await idle(page);
      const found = await accessibilityViolations(page);
      states[state] = found.length;
      problems.push(...found.map((f) => `${device}, ${state}: ${f}`));
    };
    await page.goto(app());
    // Thumbnails load lazily: on a phone most of the first page is below the fold.
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 60, null, { timeout: TIMEOUT });
    await check('first grid');
    if (device === 'phone') {
      const widths = await tiles(page).evaluateAll((els) => els.map((e) => e.getBoundingClientRect().width));
      figures.phone_tile_width_px = Math.round(Math.min(...widths));
      if (Math.min(...widths) < 110) problems.push(`phone tiles ${Math.min(...widths)} px wide`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (overflow > 0) problems.push(`the phone page scrolls sideways by ${overflow} px`);
      // No hover on a touch screen: every caption is shown under its image.
      const hidden = await tiles(page).evaluateAll((els) => els.filter((e) => {
        const caption = e.querySelector('figcaption');
        return !caption || getComputedStyle(caption).display === 'none' || !caption.textContent.trim();
      }).length);
      if (hidden > 0) problems.push(`${hidden} phone tiles hide their caption`);
    }
    const { id } = await findClusterTile(page);
    await page.locator(`[data-testid=result][data-id="${id}"] [data-testid=more-like-this]`).click();
    await page.waitForFunction((id) => document.querySelector('[data-testid=result]')?.dataset.id === String(id), id);
    await check('more like this');
    await page.locator('[data-testid=result]').nth(1).click();
    // A label is said in words, not only by the border's colour.
    const badges = await tiles(page).evaluateAll((els) => els.slice(0, 2).map((e) => getComputedStyle(e, '::before').content));
    if (!/relevant/.test(badges[0]) || !/irrelevant/.test(badges[1])) problems.push(`${device}: label badges ${badges}`);
    await page.getByTestId('finetune').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=show-uncertain]'));
    await check('after a round');
    await page.getByTestId('show-uncertain').click();
    await check('least sure');
    await page.getByTestId('query').fill('anything');
    await page.getByTestId('search').click();
    await page.getByTestId('error').waitFor();
    await check('error panel');
    figures[`axe_${device}`] = JSON.stringify(states);
    await context.close();
  }
  assert(problems.length === 0, problems.join('\n'));
});

await test('tiles are toggle buttons: aria-pressed and the label in their name and badge; the keyboard moves a visible focus into view and labels (desktop and phone)', async () => {
  for (const [device, viewport, columns] of [['desktop', { width: 1280, height: 900 }, 6], ['phone', { width: 390, height: 844 }, 3]]) {
    const context = await browser.newContext({ serviceWorkers: 'block', viewport, isMobile: device === 'phone', hasTouch: device === 'phone' });
    const { page } = await freshPage(context);
    await page.goto(app());
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=result]').length === 60, null, { timeout: TIMEOUT });
    const shown = await ids(page);
    const button = (id) => page.locator(`[data-testid=result][data-id="${id}"] button.pick`);
    const said = (id) => button(id).evaluate((b) => ({ pressed: b.getAttribute('aria-pressed'), name: b.getAttribute('aria-label'),
      badge: getComputedStyle(b.closest('[data-testid=result]'), '::before').content }));
    // A click cycles the label; the button says it (pressed while relevant, the label in its
    // name) and so does the badge, not only the border's colour.
    for (const [pressed, name, badge] of [['true', /: relevant$/, /relevant/], ['false', /: irrelevant$/, /irrelevant/], ['false', /: not labelled$/, /none/]]) {
      await page.locator(`[data-testid=result][data-id="${shown[0]}"]`).click();
      const got = await said(shown[0]);
      assert(got.pressed === pressed && name.test(got.name) && badge.test(got.badge),
        `${device}: after a click aria-pressed=${got.pressed}, name "${got.name}", badge ${got.badge}`);
    }
    // Tab reaches the grid at one tile (the last clicked), not at each of 60.
    const focusedId = () => page.evaluate(() => document.activeElement?.closest('[data-testid=result]')?.dataset.id ?? null);
    await page.getByTestId('query').focus();
    for (let k = 0; k < 40 && (await focusedId()) === null; k++) await page.keyboard.press('Tab');
    assert(await focusedId() === String(shown[0]), `${device}: Tab enters the grid at tile ${shown[0]}, got ${await focusedId()}`);
    assert(await page.evaluate(() => document.activeElement.matches('button.pick:focus-visible')), `${device}: the focus is visible`);
    await page.keyboard.press('ArrowRight');
    assert(await focusedId() === String(shown[1]), `${device}: ArrowRight focuses the next tile`);
    await page.keyboard.press(' ');
    assert((await said(shown[1])).pressed === 'true', `${device}: Space labels the focused tile relevant`);
    await page.keyboard.press('ArrowDown');
    assert(await focusedId() === String(shown[1 + columns]), `${device}: ArrowDown moves one row of ${columns}`);
    // Far down the page the focused tile is scrolled into view.
    for (let k = 0; k < 8; k++) await page.keyboard.press('ArrowDown');
    const at = 1 + 9 * columns;
    assert(await focusedId() === String(shown[at]), `${device}: nine rows down is tile ${shown[at]}, got ${await focusedId()}`);
    const view = await page.evaluate(() => { const r = document.activeElement.getBoundingClientRect(); return { top: r.top, bottom: r.bottom, height: innerHeight }; });
    assert(view.top >= 0 && view.bottom <= view.height + 1, `${device}: the focused tile is scrolled into view: ${JSON.stringify(view)}`);
    await page.keyboard.press('i');
    assert(await label(page, shown[at]) === 'irrelevant' && /: irrelevant$/.test((await said(shown[at])).name), `${device}: i labels it irrelevant`);
    // Tab goes on to its "more like this", then out of the grid.
    await page.keyboard.press('Tab');
    assert(await page.evaluate(() => document.activeElement?.dataset.testid) === 'more-like-this' && await focusedId() === String(shown[at]),
      `${device}: Tab reaches the tile's more like this`);
    await page.keyboard.press('Tab');
    assert(await focusedId() === null, `${device}: the next Tab leaves the grid`);
    await context.close();
  }
});

/** A proxy in front of the test's server: while `faults.down`, cuts the connection of every
 * request whose path matches `drop` (the browser's own retry of a cut request is cut too);
 * delays every other by `delayMs`. */
async function faultyProxy(drop, delayMs, { ignoreRanges = false } = {}) {
  const target = new URL(base);
  const faults = { down: false, dropped: 0, requests: [] };
  const server = http.createServer((req, res) => {
    faults.requests.push(req.url);
    if (faults.down && drop.test(req.url)) {
      faults.dropped += 1;
      req.socket.destroy();
      return;
    }
    // A host that ignores range requests answers each with the whole file.
    const headers = { ...req.headers };
    if (ignoreRanges) delete headers.range;
    setTimeout(() => {
      const upstream = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers },
        (answer) => { res.writeHead(answer.statusCode, answer.headers); answer.pipe(res); });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    }, delayMs);
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${server.address().port}${target.pathname}`, faults, close: () => server.close() };
}

// The start of a round that the fault tests run clean and faulty: "more like this" on a
// cluster tile, the second result labelled relevant.
async function likeAClusterTileAndLabelOne(url) {
  const { context, page, net } = await freshPage();
  await page.goto(url);
  await gridReady(page);
  const { id } = await findClusterTile(page);
  await page.locator(`[data-testid=result][data-id="${id}"] [data-testid=more-like-this]`).click();
  await page.waitForFunction((id) => document.querySelector('[data-testid=result]')?.dataset.id === String(id), id);
  await idle(page);
  await page.locator('[data-testid=result]').nth(1).click();
  return { context, page, net, id };
}

// What a finished round shows (count, first page, rules), once no error is left; closes the page.
async function roundFound(context, page) {
  await page.waitForFunction(() => document.querySelector('[data-testid=rules] .sql'), null, { timeout: TIMEOUT });
  await idle(page);
  const found = { count: await count(page), ids: await ids(page), rules: await page.getByTestId('rules').textContent() };
  assert(await page.getByTestId('error').count() === 0, 'the error panel is gone');
  await context.close();
  return found;
}

await test('partitioned k-NN and row blocks: open fetches the centroids, "more like this" its probed lists and its row, a round the pool and the rows it reads', async () => {
  const shards = (net, prefix) => net.urls.map((u) => u.split('/').pop()).filter((f) => f.endsWith('.shard') && f.startsWith(prefix));
  // The same images, once with the exact scan and once with 100 lists (at most 60 probed:
  // fewer once the lists' radii prove the neighbours found).
  const exact = await likeAClusterTileAndLabelOne(app('?dataset=swatches'));
  const exactIds = await ids(exact.page);
  await exact.context.close();
  const { context, page, net, id } = await likeAClusterTileAndLabelOne(app('?dataset=swatches-partitioned'));
  assert(exact.id === id, `the same image in both: ${exact.id} and ${id}`);
  const near = await ids(page);
  const recall = near.filter((i) => exactIds.includes(i)).length / exactIds.length;
  figures.partitioned_more_like_recall = recall;
  assert(near[0] === id && recall >= 0.9, `"more like this" through at most 60 of 100 lists finds the exact scan's neighbours: recall ${recall}`);
  const count = (prefix) => shards(net, prefix).length;
  figures.partitioned_more_like_lists = count('knn-list-');
  assert(count('knn-centroids') === 1 && count('knn-list-') >= 8 && count('knn-list-') <= 60 && count('features-') === 0
    && count('rows-top.') === 1 && count('rows-page-') === 1 && count('rows-0') === 1,
    `the centroids, 8 to 60 probed lists, and the clicked image's row (the table, its page, its block): ${shards(net, '')}`);
  const before = net.bytes;
  await page.getByTestId('finetune').click();
  const found = await roundFound(context, page);
  assert(found.count > 0, 'a round finds images');
  const folder = `${process.env.DATA_DIR}/swatches-partitioned`;
  const manifest = JSON.parse(await readFile(`${folder}/${JSON.parse(await readFile(`${folder}/dataset.json`, 'utf8')).index}`, 'utf8'));
  const featureBytes = manifest.files.filter((f) => f.kind === 'features').reduce((sum, f) => sum + f.bytes, 0);
  const blocks = Math.ceil(manifest.n_points / manifest.rows.block_rows);
  figures.partitioned_round_blocks = count('rows-0');
  figures.partitioned_round_bytes = net.bytes - before;
  assert(count('features-') === 0 && count('rows-pool.') === 1 && count('rows-0') < blocks,
    `a round reads the pool and some row blocks (${count('rows-0')} of ${blocks}), no feature shard: ${shards(net, '')}`);
  assert(featureBytes > 0, 'the manifest lists feature shards for readers without row blocks');
});

await test('network faults: dropped and delayed requests end in the error panel, and retry gives the clean run\'s results', async () => {
  // The same steps on a clean network and through the faulty proxy.
  const steps = async (url, faults) => {
    const { context, page } = await likeAClusterTileAndLabelOne(url);
    if (faults) faults.down = true;
    await page.getByTestId('finetune').click();
    if (faults) {
      await page.getByTestId('error').waitFor();
      faults.down = false;
      const error = await page.getByTestId('error').textContent();
      assert(/leaves/.test(error), `the error names what failed: ${error}`);
      assert(await page.getByTestId('progress').count() === 0, 'not left on working…');
      await page.getByTestId('retry').click();
    }
    return roundFound(context, page);
  };
  const clean = await steps(app());
  const proxy = await faultyProxy(/tree-\d+-leaves/, 30);
  try {
    const faulty = await steps(proxy.url, proxy.faults);
    assert(proxy.faults.dropped > 0, 'leaf requests were dropped');
    figures.network_fault_dropped = proxy.faults.dropped;
    figures.network_fault_requests = proxy.faults.requests.length;
    assert(faulty.count === clean.count && faulty.count > 0, `after retry ${faulty.count} results, clean ${clean.count}`);
    assert(JSON.stringify(faulty.ids) === JSON.stringify(clean.ids), 'the same first page');
    assert(faulty.rules === clean.rules, 'the same rules');
  } finally {
    proxy.close();
  }
});

await test('a large dataset\'s round reads its leaf files by range requests from each tree\'s pack; a host that ignores ranges gives the same results, each pack read whole', async () => {
  const round = async (url) => {
    const { context, page } = await likeAClusterTileAndLabelOne(url);
    const packs = [];
    page.on('request', (r) => {
      if (/tree-\d+-leaves\.[0-9a-f]{16}\.shard/.test(r.url())) packs.push({ url: r.url().split('/').pop(), range: r.headers().range });
    });
    await page.getByTestId('finetune').click();
    return { found: await roundFound(context, page), packs };
  };
  // The ensemble: boxes over many trees, so many packs and runs.
  const ranged = await round(app('?dataset=swatches-large&searcher=ens'));
  figures.large_round_range_requests = ranged.packs.length;
  assert(ranged.found.count > 0, 'a round finds images');
  assert(ranged.packs.length > 0 && ranged.packs.every((p) => /^bytes=\d+-\d+$/.test(p.range || '')),
    `every pack request asks for a range: ${JSON.stringify(ranged.packs.slice(0, 4))}`);
  const proxy = await faultyProxy(/^$/, 0, { ignoreRanges: true });
  try {
    const whole = await round(`${proxy.url}?dataset=swatches-large&searcher=ens`);
    assert(whole.found.count === ranged.found.count, `without ranges ${whole.found.count} results, with ${ranged.found.count}`);
    assert(JSON.stringify(whole.found.ids) === JSON.stringify(ranged.found.ids), 'the same first page');
    assert(whole.found.rules === ranged.found.rules, 'the same rules');
    const perPack = {};
    for (const p of whole.packs) perPack[p.url] = (perPack[p.url] || 0) + 1;
    // The first range request learns that the host sends whole files; every other pack is
    // then asked for once (the first one's pack may be asked for again).
    const repeated = Object.values(perPack).filter((n) => n > 1);
    assert(repeated.length <= 1 && Math.max(...Object.values(perPack)) <= 2,
      `each pack read whole once: ${JSON.stringify(perPack)}`);
  } finally {
    proxy.close();
  }
});

await test('a search worker that dies mid-round is restarted: the error panel, never left on working…, and retry gives the clean run\'s results from the files already checked', async () => {
  const steps = async (url, proxy) => {
    const { context, page } = await likeAClusterTileAndLabelOne(url);
    await page.getByTestId('finetune').click();
    if (proxy) {
      // The round is fetching its leaves (each answer delayed by the proxy): the worker ends.
      while (!proxy.faults.requests.some((u) => /tree-\d+-leaves/.test(u))) await new Promise((r) => setTimeout(r, 10));
      const workers = page.workers();
      assert(workers.length === 1, `one worker (the search worker): ${workers.length}`);
      await workers[0].evaluate(() => self.close());
      await page.getByTestId('error').filter({ hasText: 'the search worker stopped' }).waitFor();
      // A fresh worker reopens the dataset; then nothing is left in progress.
      await page.waitForFunction(() => !document.querySelector('[data-testid=retry]')?.disabled, null, { timeout: TIMEOUT });
      assert(await page.getByTestId('progress').count() === 0, 'not left on working…');
      assert(page.workers().length === 1 && page.workers()[0] !== workers[0], 'a fresh search worker');
      const features = proxy.faults.requests.filter((u) => /features-\d+/.test(u));
      assert(new Set(features).size === features.length, `the fresh worker read the checked feature shards from the cache: ${features}`);
      await page.getByTestId('retry').click();
    }
    return roundFound(context, page);
  };
  const clean = await steps(app());
  const proxy = await faultyProxy(/^$/, 300);
  try {
    const restarted = await steps(proxy.url, proxy);
    assert(restarted.count === clean.count && restarted.count > 0, `after the restart ${restarted.count} results, clean ${clean.count}`);
    assert(JSON.stringify(restarted.ids) === JSON.stringify(clean.ids), 'the same first page');
    assert(restarted.rules === clean.rules, 'the same rules');
  } finally {
    proxy.close();
  }
});

await test('a saved search applies in a fresh page, and one trained on another index is refused', async () => {
  const { context, page } = await freshPage();
  await page.goto(app());
  await gridReady(page);
  await page.getByTestId('saved-search').fill(shared.model);
  await page.getByTestId('apply-search').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=rules] .sql'));
  await idle(page);
  assert(await count(page) === shared.count, `saved search count ${await count(page)} vs ${shared.count}`);
  // It records the index it was trained on (content-named): a search trained on another
  // index is refused, not applied as meaningless boxes. (The test datasets are copies of one
  // index, so the other index is written into the saved search.)
  const saved = JSON.parse(shared.model);
  assert(/^manifest\.[0-9a-f]{16}\.json$/.test(saved.index), `saved index: ${saved.index}`);
  const before = await ids(page);
  await page.getByTestId('saved-search').fill(JSON.stringify({ ...saved, index: 'manifest.0000000000000000.json' }));
  await page.getByTestId('apply-search').click();
  const error = await page.getByTestId('error').textContent();
  assert(/trained on index manifest\.0{16}\.json, and the dataset open has manifest\.[0-9a-f]{16}\.json/.test(error), `error: ${error}`);
  assert(JSON.stringify(await ids(page)) === JSON.stringify(before), 'nothing applied');
  await context.close();
});

await test('saved searches kept in the browser: named and dated, listed after a reload, applied and deleted with one click; another index\'s refused', async () => {
  const { context, page } = await freshPage();
  const stored = (p) => p.getByTestId('saved-searches').locator('[data-testid=stored-search]');
  const like = new URL(shared.url).searchParams.get('like');
  await page.goto(shared.url);
  await page.waitForFunction((like) => document.querySelector('[data-testid=result]')?.dataset.id === like
    && !document.querySelector('[data-testid=progress]'), like);
  await page.getByTestId('finetune').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=rules] .sql'));
  await idle(page);
  const round = { count: await count(page), ids: await ids(page) };
  await page.getByTestId('search-name').fill('cluster swatches');
  await page.getByTestId('save-search').click();
  await stored(page).filter({ hasText: 'cluster swatches' }).waitFor();
  // Without a name, the query names it.
  await page.getByTestId('save-search').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=stored-search]').length === 2);
  const listed = await stored(page).allTextContents();
  assert(/^cluster swatches \d{4}-\d\d-\d\d \d\d:\d\d UTC/.test(listed[0]), `named and dated: ${listed[0]}`);
  assert(new RegExp(`^like image ${like}, 1 round `).test(listed[1]), `the default name: ${listed[1]}`);

  // A reload of the app lists them; one click applies one: the round's results.
  await page.goto(app());
  await gridReady(page);
  await stored(page).nth(1).waitFor();
  assert(await stored(page).count() === 2, 'both listed after a reload');
  await stored(page).first().getByTestId('apply-stored').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=rules] .sql'));
  await idle(page);
  assert(await count(page) === round.count, `applied: ${await count(page)} results, the round had ${round.count}`);
  assert(JSON.stringify(await ids(page)) === JSON.stringify(round.ids), 'the same first page as the round');
  // One click deletes one, for good.
  await stored(page).nth(1).getByTestId('delete-stored').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=stored-search]').length === 1);
  await page.reload();
  await gridReady(page);
  await stored(page).first().waitFor();
  assert(JSON.stringify(await stored(page).allTextContents()).includes('cluster swatches') && await stored(page).count() === 1,
    `left after deleting and reloading: ${await stored(page).allTextContents()}`);

  // A file imported into the list that was trained on another index is refused when applied.
  const other = JSON.stringify({ ...JSON.parse(shared.model), index: 'manifest.0000000000000000.json' });
  await page.getByTestId('import-search').setInputFiles({ name: 'other-index.json', mimeType: 'application/json', buffer: Buffer.from(other) });
  const imported = stored(page).filter({ hasText: 'other-index' });
  await imported.waitFor();
  const before = await ids(page);
  await imported.getByTestId('apply-stored').click();
  const error = await page.getByTestId('error').textContent();
  assert(/trained on index manifest\.0{16}\.json, and the dataset open has manifest\.[0-9a-f]{16}\.json/.test(error), `error: ${error}`);
  assert(JSON.stringify(await ids(page)) === JSON.stringify(before), 'nothing applied');
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

await test('per-dataset search settings: only the searchers dataset.json offers, its sliders\' ranges and defaults; a round trains with them', async () => {
  const { context, page } = await freshPage();
  const controls = () => page.evaluate(() => {
    const slider = (id) => { const s = document.querySelector(`[data-testid=${id}]`); return [s.min, s.max, s.value].map(Number); };
    const select = document.querySelector('[data-testid=searcher]');
    return { searchers: [...select.options].map((o) => o.value), searcher: select.value,
      randomNegatives: slider('random-negatives'), negativeWeight: slider('negative-weight') };
  });
  await page.goto(app('?dataset=swatches-tuned'));
  await gridReady(page);
  const tuned = await controls();
  assert(JSON.stringify(tuned) === JSON.stringify({ searchers: ['ens', 'dtree'], searcher: 'ens', randomNegatives: [0, 200, 50], negativeWeight: [1, 10, 3] }),
    `the dataset's settings: ${JSON.stringify(tuned)}`);
  // A round uses them: the ensemble (the dataset's default searcher).
  await tiles(page).nth(3).locator('[data-testid=more-like-this]').click();
  await idle(page);
  await page.getByTestId('finetune').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=rules] .sql'));
  await idle(page);
  const round = new URL(page.url()).searchParams;
  assert(await count(page) > 0 && round.get('searcher') === 'ens' && round.get('rn') === '50' && round.get('nw') === '3',
    `the round's settings in the URL: ${page.url()}`);
  // Another dataset without settings offers the app's four and its defaults again.
  await page.getByTestId('dataset').selectOption('swatches');
  // The tuned dataset's grid may still be up: wait for the switch to reach the controls.
  await page.waitForFunction(() => document.querySelector('[data-testid=searcher]').options.length !== 2, null, { timeout: TIMEOUT });
  await gridReady(page);
  const plain = await controls();
  assert(JSON.stringify(plain) === JSON.stringify({ searchers: ['db', 'ens', 'dtree', 'rf'], searcher: 'db', randomNegatives: [0, 1000, 500], negativeWeight: [1, 100, 1] }),
    `the app's settings: ${JSON.stringify(plain)}`);
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
  await gridReady(again);
  assert(JSON.stringify(await ids(again)) === JSON.stringify(first), 'same results after reload');
  assert(await again.getByTestId('query').inputValue() === 'a red swatch', 'query box restored');
  // Text arithmetic: a spaced `-` subtracts a term (another query), a dangling one is no term.
  assert(/\+ and -/.test(await page.getByTestId('query-help').textContent()), 'the help line names + and -');
  const search = async (query) => {
    await page.getByTestId('query').fill(query);
    await page.getByTestId('search').click();
    await page.waitForFunction((q) => new URL(location.href).searchParams.get('q') === q
      && !document.querySelector('[data-testid=progress]'), query);
    return ids(page);
  };
  const minus = await search('a red swatch - a blue swatch');
  assert(minus.length === 60, `arithmetic k-NN count ${minus.length}`);
  assert(JSON.stringify(minus) !== JSON.stringify(first), 'a subtracted term changes the results');
  const dangling = await search('a red swatch -');
  assert(JSON.stringify(dangling) === JSON.stringify(first), 'a dangling operator adds no term');
  // More results of a text query: the next 60 neighbours of the same encoded query.
  await page.getByTestId('more-results').click();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=count]')?.textContent) === 120);
  await gridReady(page);
  const next = await ids(page);
  assert(next.length === 60 && next.every((i) => !first.includes(i)), 'the next 60 text neighbours are new');
  await context.close();
});

await test('search by an image of your own: picked, dropped or pasted, the image encoder fetched on first use, its neighbours; more results; a file that is no image said', async () => {
  const { context, page } = await freshPage();
  await page.goto(app());
  await gridReady(page);
  assert(await page.getByTestId('image-file').count() === 0, 'no image search without an image encoder');
  await page.goto(app('?dataset=swatches-text'));
  await page.waitForFunction(() => /ready/.test(document.querySelector('[data-testid=text-status]')?.textContent || ''), null, { timeout: TIMEOUT });
  await gridReady(page);
  const browsing = await ids(page);
  // A user's own picture (the swatches' thumbnails are SVG, which image queries do not take).
  const picture = async (colour) => Buffer.from(await page.evaluate(async (c) => {
    const canvas = new OffscreenCanvas(96, 64);
    const g = canvas.getContext('2d');
    g.fillStyle = c;
    g.fillRect(0, 0, 96, 64);
    g.fillStyle = 'white';
    g.fillRect(30, 16, 32, 32);
    return [...new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer())];
  }, colour));
  const bytes = await picture('crimson');
  const searched = async (start) => {
    const t0 = Date.now();
    await searchDone(page, start, TIMEOUT).catch(async (e) => {
      const said = (id) => page.getByTestId(id).textContent().catch(() => 'none');
      throw new Error(`${e.message}; error panel: ${await said('error')}; progress: ${await said('progress')}`);
    });
    assert(/encode/.test(await page.getByTestId('times').textContent()), 'an image query is encoded');
    await gridReady(page);
    return { ids: await ids(page), ms: Date.now() - t0 };
  };
  const picked = await searched(() => page.getByTestId('image-file').setInputFiles({ name: 'swatch.png', mimeType: 'image/png', buffer: bytes }));
  figures.image_query_first_ms = picked.ms;
  figures.image_query_times = await page.getByTestId('times').textContent();
  assert(await count(page) === 60, `image k-NN count ${await count(page)}`);
  assert(JSON.stringify(picked.ids) !== JSON.stringify(browsing), 'an image query changes the results');
  assert(!new URL(page.url()).searchParams.get('q'), `no text query in the URL: ${page.url()}`);
  shared.imageQuery = { bytes, ids: picked.ids };
  // The same file again: the same neighbours, from the encoder already loaded.
  const again = await searched(() => page.getByTestId('image-file').setInputFiles({ name: 'swatch.png', mimeType: 'image/png', buffer: bytes }));
  figures.image_query_warm_ms = again.ms;
  assert(JSON.stringify(again.ids) === JSON.stringify(picked.ids), 'the same file gives the same neighbours');
  // Dropped on the app and pasted into the page: the same neighbours.
  const viaEvent = (kind) => searched(() => page.evaluate(([kind, data]) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(data)], 'swatch.png', { type: 'image/png' }));
    if (kind === 'drop') {
      const target = document.querySelector('[data-testid=result]');
      target.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: transfer }));
      target.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: transfer }));
    } else {
      document.body.dispatchEvent(new ClipboardEvent('paste', { bubbles: true, cancelable: true, clipboardData: transfer }));
    }
  }, [kind, [...bytes]]));
  // Another image first, so each search below visibly changes the results.
  const otherBytes = await picture('navy');
  const other = () => searched(() => page.getByTestId('image-file')
    .setInputFiles({ name: 'other.png', mimeType: 'image/png', buffer: otherBytes }));
  await other();
  assert(JSON.stringify((await viaEvent('drop')).ids) === JSON.stringify(picked.ids), 'a dropped file: the same neighbours');
  await other();
  assert(JSON.stringify((await viaEvent('paste')).ids) === JSON.stringify(picked.ids), 'a pasted image: the same neighbours');
  // More results extend an image query's neighbours too.
  await page.getByTestId('more-results').click();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=count]')?.textContent) === 120);
  // A file that is no image: the error panel says so, and the app keeps working.
  // (An SVG, which createImageBitmap does not decode in a worker, is said the same way.)
  await page.getByTestId('image-file').setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not a picture') });
  await page.getByTestId('error').waitFor();
  const error = await page.getByTestId('error').textContent();
  assert(/reading the image failed/.test(error), `error: ${error}`);
  assert(await page.getByTestId('progress').count() === 0, 'never left on working…');
  await context.close();
});

await test('a text worker that dies is restarted: it loads the encoder again from the cache, a lost encode is said, and text search works again', async () => {
  const { context, page } = await freshPage();
  const net = { urls: [] };
  page.on('requestfinished', (r) => net.urls.push(r.url()));
  await page.goto(app('?dataset=swatches-text'));
  const ready = () => page.waitForFunction(() => /ready/.test(document.querySelector('[data-testid=text-status]')?.textContent || ''), null, { timeout: TIMEOUT });
  await ready();
  await gridReady(page);
  // Workers run from blob: URLs; the text worker is the one that fetched text-worker.js.
  const textWorker = async () => {
    for (const worker of page.workers()) {
      const text = await worker.evaluate(() => performance.getEntriesByType('resource')
        .some((e) => /text-worker/.test(e.name))).catch(() => false);
      if (text) return worker;
    }
    return undefined;
  };
  const search = async (query) => {
    await page.getByTestId('query').fill(query);
    await page.getByTestId('search').click();
    await page.waitForFunction((q) => new URL(location.href).searchParams.get('q') === q
      && !document.querySelector('[data-testid=progress]'), query, { timeout: TIMEOUT });
    return ids(page);
  };
  const before = await search('a red swatch');
  const encoderFetches = () => net.urls.filter((u) => /text-encoder\.[0-9a-f]+\.safetensors/.test(u)).length;
  const fetched = encoderFetches();
  // Idle: the page starts a fresh worker, which loads the encoder again; nothing failed.
  const first = await textWorker();
  assert(first, `a text worker among ${page.workers().length}`);
  await first.evaluate(() => self.close());
  await page.waitForFunction(() => /loading/.test(document.querySelector('[data-testid=text-status]')?.textContent || ''), null, { timeout: TIMEOUT });
  await ready();
  const second = await textWorker();
  assert(second && second !== first, 'a fresh text worker');
  assert(await page.getByTestId('error').count() === 0, `no error for an idle worker: ${await page.getByTestId('error').count()}`);
  assert(encoderFetches() === fetched, `the encoder came from the cache, not the network: ${encoderFetches()} fetches`);
  const after = await search('a red swatch - a blue swatch');
  assert(after.length === 60, 'text search works in the fresh worker');
  assert(JSON.stringify(await search('a red swatch')) === JSON.stringify(before), 'the same results as before');
  // While encoding: the worker is kept busy for 500 ms and then closes, so the encode it
  // is sent meanwhile is lost; the error panel says so, and the page is not left on working….
  await (await textWorker()).evaluate(() => {
    setTimeout(() => {
      const start = Date.now();
      while (Date.now() - start < 500);
      self.close();
    }, 0);
  });
  await page.getByTestId('query').fill('a green swatch');
  await page.getByTestId('search').click();
  await page.getByTestId('error').filter({ hasText: 'the text worker stopped' }).waitFor({ timeout: TIMEOUT });
  await ready();
  assert(await page.getByTestId('progress').count() === 0, 'not left on working…');
  await context.close();
});

/** A proxy in front of the test's server that sends the body of each answer whose path
 * matches `slow` uncompressed, `chunk` bytes every `everyMs` (a slow link); others pass. */
async function throttlingProxy(slow, chunk, everyMs) {
  const target = new URL(base);
  const server = http.createServer((req, res) => {
    const throttled = slow.test(req.url);
    const headers = { ...req.headers };
    if (throttled) delete headers['accept-encoding'];
    const upstream = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      if (!throttled) { answer.pipe(res); return; }
      const parts = [];
      answer.on('data', (part) => parts.push(part));
      answer.on('end', async () => {
        const body = Buffer.concat(parts);
        for (let at = 0; at < body.length && !res.destroyed; at += chunk) {
          res.write(body.subarray(at, at + chunk));
          await new Promise((r) => setTimeout(r, everyMs));
        }
        res.end();
      });
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${server.address().port}${target.pathname}`, close: () => server.close() };
}

await test('progress within a file: the text encoder\'s bytes are reported as they arrive, with a bar and an estimate', async () => {
  // About 1.2 MB at 16 KB every 50 ms: some 4 s on the wire.
  const proxy = await throttlingProxy(/text-encoder\.[0-9a-f]+\.safetensors/, 16_384, 50);
  const { context, page } = await freshPage();
  try {
    await page.goto(`${proxy.url}?dataset=swatches-text`);
    const seen = [];
    let status = '';
    const deadline = Date.now() + TIMEOUT;
    while (!/ready|failed/.test(status) && Date.now() < deadline) {
      const now = await page.evaluate(() => ({ bar: document.querySelector('[data-testid=text-progress]')?.value ?? null,
        status: document.querySelector('[data-testid=text-status]')?.textContent ?? '' }));
      status = now.status;
      if (now.bar !== null) seen.push(now);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert(/ready/.test(status), `the streamed encoder loads: ${status}`);
    const bars = seen.map((s) => s.bar);
    const within = [...new Set(bars.filter((v) => v > 0 && v < 100))];
    figures.text_progress_steps_seen = within.length;
    assert(within.length >= 5, `the bar advances within the file: ${JSON.stringify(within)}`);
    assert(bars.every((v, k) => k === 0 || v >= bars[k - 1]), `the bar never goes back: ${JSON.stringify(bars)}`);
    const estimate = seen.find((s) => /\d+ (KB|MB) of [\d.]+ MB \(\d+%\) · [\d.]+ (B|KB|MB)\/s · about \d+ s left/.test(s.status));
    assert(estimate, `bytes, rate and time left shown: ${JSON.stringify(seen.slice(-3).map((s) => s.status))}`);
    figures.text_progress_example = estimate.status;
  } finally {
    await context.close();
    proxy.close();
  }
});

await test('text and image search on WebGPU (SwiftShader adapter): same k-NN ids as on the CPU', async () => {
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
    // A query by image: burn's image tower on the adapter, the same neighbours.
    if (shared.imageQuery) {
      await searchDone(page, () => page.getByTestId('image-file')
        .setInputFiles({ name: 'swatch.png', mimeType: 'image/png', buffer: shared.imageQuery.bytes }), 4 * TIMEOUT);
      figures.webgpu_image_query_times = await page.getByTestId('times').textContent();
      assert(JSON.stringify(await ids(page)) === JSON.stringify(shared.imageQuery.ids), 'same image k-NN ids as on the CPU');
    }
  } finally {
    await gpu.close();
  }
});

await test('a corrupt or missing text head: the error panel names it, text search stays off, more like this works', async () => {
  for (const dataset of ['corrupt-head', 'missing-head']) {
    const { context, page } = await freshPage();
    await page.goto(app(`?dataset=${dataset}`));
    await gridReady(page);
    await page.getByTestId('error').filter({ hasText: /text-head\.[0-9a-f]+\.safetensors/ }).waitFor({ timeout: TIMEOUT });
    const error = await page.getByTestId('error').textContent();
    assert(dataset === 'missing-head' || /blake3|hash/.test(error), `${dataset}: the error says why: ${error}`);
    await page.getByTestId('query').fill('a red swatch');
    await page.getByTestId('search').click();
    await page.getByTestId('error').filter({ hasText: 'text encoder failed to load' }).waitFor();
    await tiles(page).first().locator('[data-testid=more-like-this]').click();
    await page.waitForFunction(() => !document.querySelector('[data-testid=progress]')
      && document.querySelectorAll('[data-testid=result]').length === 60);
    assert(await count(page) === 60, `${dataset}: more like this count ${await count(page)}`);
    await context.close();
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

await test('web component: a plain host page embeds two searches with one script tag', async () => {
  // A host page on another path of the server (under /data/, so nothing of the app's own
  // page is near it): the script, the workers and the wasm resolve against the script's
  // URL, the dataset files against the `dataset` attribute.
  await mkdir(`${process.env.DATA_DIR}/host`, { recursive: true });
  await writeFile(`${process.env.DATA_DIR}/host/index.html`, `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>host</title>
<script type="module" src="../../clip-branches.js"></script></head>
<body><h1>A page about swatches</h1>
<clip-branches-search id="text" dataset="../swatches-text" query="a red swatch"></clip-branches-search>
<clip-branches-search id="plain" dataset="../catalog.json" query="a red swatch"></clip-branches-search>
</body></html>`);
  const { context, page } = await freshPage();
  const hostUrl = `${base}data/host/index.html`;
  await page.goto(hostUrl);
  const text = page.locator('#text');
  const plain = page.locator('#plain');
  const embedTiles = (el) => el.getByTestId('result');
  const embedIds = (el) => embedTiles(el).evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
  const countOf = async (el) => Number(await el.getByTestId('count').textContent());
  /** Waits until `el`'s grid shows k-NN results of a text query (encode time shown, idle). */
  const textResults = async (el) => {
    await el.getByTestId('times').filter({ hasText: 'encode' }).waitFor();
    await el.getByTestId('progress').waitFor({ state: 'detached' });
  };

  // The catalog element opens its first dataset, which has no text encoder: the query
  // shows the error panel, and the grid still browses.
  const error = await plain.getByTestId('error').textContent();
  assert(/no text encoder/.test(error), `error: ${error}`);
  assert(await countOf(plain) === 3000, `browse count ${await countOf(plain)}`);

  await textResults(text);
  assert(await countOf(text) === 60, `text k-NN count ${await countOf(text)}`);
  // (The test encoder is random: its neighbours differ by query but mean nothing.)
  const red = await embedIds(text);
  const firstThumb = await embedTiles(text).first().locator('img').getAttribute('src');
  assert(firstThumb.startsWith(`${base}data/swatches-text/`), `thumbnail URL from the dataset: ${firstThumb}`);

  // A new `query` attribute runs the new query.
  await page.evaluate(() => document.querySelector('#text').setAttribute('query', 'a blue swatch'));
  await page.waitForFunction((red) => {
    const tiles = [...document.querySelector('#text').shadowRoot.querySelectorAll('[data-testid=result]')];
    return tiles.length === 60 && JSON.stringify(tiles.map((t) => Number(t.dataset.id))) !== JSON.stringify(red);
  }, red, { timeout: TIMEOUT });
  await textResults(text);
  assert(await text.getByTestId('query').inputValue() === 'a blue swatch', 'the query box shows the attribute');
  const blue = await embedIds(text);

  // A new `dataset` attribute opens that dataset and runs the query on it: on one without a
  // text encoder that is the error panel; back on the text dataset, the same results.
  await page.evaluate(() => document.querySelector('#text').setAttribute('dataset', '../swatches'));
  await text.getByTestId('error').filter({ hasText: 'no text encoder' }).waitFor();
  await page.evaluate(() => document.querySelector('#text').setAttribute('dataset', '../swatches-text'));
  await textResults(text);
  await page.waitForFunction((blue) => {
    const tiles = [...document.querySelector('#text').shadowRoot.querySelectorAll('[data-testid=result]')];
    return JSON.stringify(tiles.map((t) => Number(t.dataset.id))) === JSON.stringify(blue);
  }, blue, { timeout: TIMEOUT });
  assert(await text.getByTestId('error').count() === 0, 'the error panel is gone on the text dataset');

  // The host page hears of each result list and round; `searcher` picks the round's.
  await page.evaluate(() => {
    window.heard = [];
    document.querySelector('#text').addEventListener('results', (e) => window.heard.push(['results', e.detail]));
    document.querySelector('#text').addEventListener('round', (e) => window.heard.push(['round', e.detail]));
    document.querySelector('#text').setAttribute('searcher', 'ens');
  });
  await page.waitForFunction(() => document.querySelector('#text').shadowRoot
    .querySelector('[data-testid=searcher]').value === 'ens');

  // Label: the k-NN results start relevant; the second half become irrelevant; fine-tune.
  const notBlue = (await embedIds(text)).slice(30);
  for (const id of notBlue) await text.locator(`[data-testid=result][data-id="${id}"]`).click();
  for (const id of notBlue) {
    const l = await text.locator(`[data-testid=result][data-id="${id}"]`).getAttribute('data-label');
    assert(l === 'irrelevant', `label of ${id}: ${l}`);
  }
  await text.getByTestId('finetune').click();
  await text.locator('[data-testid=rules] .sql').waitFor();
  await text.getByTestId('progress').waitFor({ state: 'detached' });
  assert(await countOf(text) > 0, 'fine-tune finds images');
  assert(/train/.test(await text.getByTestId('times').textContent()), 'train time shown');
  const heard = await page.evaluate(() => window.heard);
  const round = heard.find(([name]) => name === 'round')?.[1];
  assert(round, `a round event: ${JSON.stringify(heard.map(([n]) => n))}`);
  assert(round.searcher === 'ens' && round.round === 1, `the round's searcher and number: ${round.searcher} ${round.round}`);
  assert(round.count === await countOf(text) && round.ids.length === round.count, `the round's count: ${round.count}`);
  assert(round.relevant.length === 30 && round.irrelevant.length === 30, 'the round event carries the labels');
  assert(heard.some(([name, d]) => name === 'results' && d.count === round.count), 'and a results event with it');
  assert(page.url() === hostUrl, `the host page's URL is left alone: ${page.url()}`);
  await context.close();
});

await test('web component on another origin (CORS): search, label, fine-tune', async () => {
  // The same server under another name is another origin: the page is on embed.test, the
  // app and the dataset on 127.0.0.1 (run.sh passes --cors http://embed.test:PORT --cors-app).
  const app = new URL(base);
  await mkdir(`${process.env.DATA_DIR}/host`, { recursive: true });
  await writeFile(`${process.env.DATA_DIR}/host/cross.html`, `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>host</title>
<script type="module" src="${app.origin}/clip-branches.js"></script></head>
<body><clip-branches-search dataset="${app.origin}/data/swatches-text" query="a green swatch"></clip-branches-search>
</body></html>`);
  const { context, page } = await freshPage();
  await page.goto(`http://embed.test:${app.port}/data/host/cross.html`);
  const el = page.locator('clip-branches-search');
  await el.getByTestId('times').filter({ hasText: 'encode' }).waitFor();
  await el.getByTestId('progress').waitFor({ state: 'detached' });
  assert(Number(await el.getByTestId('count').textContent()) === 60, 'text k-NN count');
  const second = el.getByTestId('result').nth(1);
  await second.click();
  assert(await second.getAttribute('data-label') === 'irrelevant', 'label');
  await el.getByTestId('finetune').click();
  await el.locator('[data-testid=rules] .sql').waitFor();
  await el.getByTestId('progress').waitFor({ state: 'detached' });
  assert(Number(await el.getByTestId('count').textContent()) > 0, 'fine-tune finds images');
  assert(await el.getByTestId('error').count() === 0, 'no error');
  await context.close();
});

await test('offline from the first visit: the app and the same results reload from the service worker and caches', async () => {
  const { context, page } = await freshPage(null, 'allow');
  await page.goto(app());
  await gridReady(page);
  // The service worker stores what the page fetched before it took control (index.html
  // posts the list once it is ready); from then on it stores what passes through it.
  await page.locator('html[data-offline=ready]').waitFor({ state: 'attached' });
  await tiles(page).nth(1).locator('[data-testid=more-like-this]').click();
  await gridReady(page);
  await idle(page);
  // Resource entries that ended after the first list (a fetch in flight when the service
  // worker took control) are sent and stored too.
  await page.locator('html[data-offline=ready]').waitFor({ state: 'attached' });
  const like = new URL(page.url()).searchParams.get('like');
  const shown = await ids(page);
  assert(shown[0] === Number(like), `k-NN results start with ${like}`);
  await context.setOffline(true);
  // The reload restores the search from the URL: the same k-NN round, offline.
  await page.reload();
  await page.waitForFunction((like) => !document.querySelector('[data-testid=progress]')
    && document.querySelector('[data-testid=result]')?.dataset.id === like, like);
  await gridReady(page);
  assert(JSON.stringify(await ids(page)) === JSON.stringify(shown), 'the same results offline');
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
