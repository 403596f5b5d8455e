// The demo end to end in headless Chromium: on the dataset `scripts/demo` built, a few
// typed concepts ("red stars", "hearts", ...) as a user searches them: the text query's
// first page, then one feedback round (the ensemble) with the shown page labelled from the
// scenes' ground truth (`scenes.csv` from `precompute synth`, never caption words). Each
// concept's figures must match the native benchmark's on the same collection (`precompute
// eval --first 0`): the browser runs the int8 text tower, the benchmark the f32 one.
// Then a few scenes' own files searched by image: each finds itself among the first three.
// Writes a screenshot of the app.
// Usage: node frontend/tests/e2e/demo.mjs BASE_URL SCENES.csv EVAL.json [SCREENSHOT.png]
// (tests/demo/run.sh runs it; it lives here to share playwright-core with the e2e tests)
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';
import { searchDone } from './search-done.mjs';

const [base, scenesFile, evalFile, screenshot] = process.argv.slice(2);
if (!evalFile) throw new Error('usage: node demo.mjs BASE_URL SCENES.csv EVAL.json [SCREENSHOT.png]');
const TIMEOUT = 120_000;
const CONCEPTS = [
  { query: 'red stars', colour: 'red', shape: 'star' },
  { query: 'green hearts', colour: 'green', shape: 'heart' },
  { query: 'blue crosses', colour: 'blue', shape: 'cross' },
  { query: 'hearts', shape: 'heart' },
];
// The int8 text tower's query may differ from the f32 one by a few images of a page.
const TOLERANCE = 0.1;

// Ground truth by source file: filename,shape,colour,count,size,position,texture,background.
const truth = new Map();
for (const line of (await readFile(scenesFile, 'utf8')).trim().split('\n').slice(1)) {
  const [filename, shape, colour] = line.split(',');
  truth.set(filename, { shape, colour });
}
const native = JSON.parse(await readFile(evalFile, 'utf8'));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let failed = false;
const fail = (message) => { console.log(`FAIL: ${message}`); failed = true; };
try {
  const catalog = await (await fetch(new URL('data/catalog.json', base))).json();
  const folder = new URL(`data/${catalog.datasets[0].path}/`, base);
  const manifest = await (await fetch(new URL('dataset.json', folder))).json();
  // The items table (dataset::items_table): the top's page hashes, a page's chunk hashes,
  // a chunk named by its number and the first 16 hex of its hash.
  const table = manifest.items;
  const bytes = async (name) => new Uint8Array(await (await fetch(new URL(name, folder))).arrayBuffer());
  const hex16 = (hashes, i) => Buffer.from(hashes.subarray(i * 32, i * 32 + 8)).toString('hex');
  const pages = new Map();
  let top;
  const chunkName = async (k) => {
    top ??= await bytes(table.top.name);
    const p = Math.floor(k / table.chunks_per_page);
    if (!pages.has(p)) pages.set(p, await bytes(`items-page-${String(p).padStart(5, '0')}.${hex16(top, p)}.bin`));
    return `items-${String(k).padStart(4, '0')}.${hex16(pages.get(p), k % table.chunks_per_page)}.json`;
  };
  const chunks = new Map();
  const sourceOf = async (id) => {
    const k = Math.floor(id / table.items_per_chunk);
    if (!chunks.has(k)) chunks.set(k, await (await fetch(new URL(await chunkName(k), folder))).json());
    const chunk = chunks.get(k);
    return chunk.items[id - chunk.first_id].source;
  };
  const members = new Set();
  const isMember = async (concept, id) => {
    const scene = truth.get(await sourceOf(id));
    if (!scene) throw new Error(`image ${id} is not in ${scenesFile}`);
    return (!concept.colour || scene.colour === concept.colour) && (!concept.shape || scene.shape === concept.shape);
  };

  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(TIMEOUT);
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  const shownIds = () => page.locator('[data-testid=result]').evaluateAll((els) => els.map((e) => Number(e.dataset.id)));
  let backend;
  for (const concept of CONCEPTS) {
    const expected = native.concepts.find((c) => c.query === concept.query);
    if (!expected) { fail(`the native benchmark has no concept "${concept.query}"`); continue; }
    members.clear();
    for (let id = 0; id < manifest.count; id++) if (await isMember(concept, id)) members.add(id);

    await page.goto(base);
    await page.waitForFunction(() => /ready/.test(document.querySelector('[data-testid=text-status]')?.textContent || ''));
    backend = await page.getByTestId('backend').textContent();
    const browsing = (await shownIds()).join(',');
    await page.getByTestId('query').fill(concept.query);
    await page.getByTestId('search').click();
    await page.waitForFunction(() => /encode/.test(document.querySelector('[data-testid=times]')?.textContent || '')
      && !document.querySelector('[data-testid=progress]'));
    await page.waitForFunction((before) => [...document.querySelectorAll('[data-testid=result]')]
      .map((e) => e.dataset.id).join(',') !== before, browsing);
    const first = await shownIds();
    const precision = first.filter((id) => members.has(id)).length / Math.max(first.length, 1);

    // One round: label the shown page from ground truth, fine-tune with the ensemble.
    const tiles = page.locator('[data-testid=result]');
    const n = await tiles.count();
    for (let i = 0; i < n; i++) {
      const tile = tiles.nth(i);
      const wanted = members.has(Number(await tile.getAttribute('data-id'))) ? 'relevant' : 'irrelevant';
      for (let click = 0; click < 3 && (await tile.getAttribute('data-label')) !== wanted; click++) await tile.click();
    }
    await page.getByTestId('searcher').selectOption({ label: 'DBranches ensemble' });
    await page.getByTestId('finetune').click();
    await page.waitForFunction(() => !document.querySelector('[data-testid=progress]')
      && Number(document.querySelector('[data-testid=count]')?.textContent) > 0);
    const count = Number(await page.getByTestId('count').textContent());
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-json').click()]);
    const results = JSON.parse(await readFile(await download.path(), 'utf8')).filter((r) => r.rank != null).map((r) => r.id);
    const found = results.filter((id) => members.has(id)).length;
    const f1 = found === 0 ? 0 : (2 * found) / (results.length + members.size);
    const nativeF1 = expected.feedback_f1[0][0];
    console.log(`backend ${backend}; "${concept.query}" (${members.size} members): text precision `
      + `${precision.toFixed(3)} (native ${expected.text_precision.toFixed(3)}), ensemble round 1: `
      + `${count} results, F1 ${f1.toFixed(3)} (native ${nativeF1.toFixed(3)})`);
    if (members.size !== expected.members) fail(`"${concept.query}": ${members.size} members, native ${expected.members}`);
    if (results.length !== count) fail(`"${concept.query}": exported ${results.length} results of ${count}`);
    if (Math.abs(precision - expected.text_precision) > TOLERANCE) fail(`"${concept.query}": text precision off the native benchmark's`);
    if (Math.abs(f1 - nativeF1) > TOLERANCE) fail(`"${concept.query}": F1 off the native benchmark's`);
  }
  // Search by image: a scene's own file, picked as a user's own image, encoded in the
  // browser (the int8 image tower, the image head) must find its own id among the first
  // few, as precompute's features of the same file would: ids of nearly equal scenes may
  // come before it.
  const sceneFiles = [...truth.keys()].filter((_, i) => i % 397 === 5).slice(0, 4);
  const scenesDir = scenesFile.replace(/[^/]*$/, '');
  for (const file of sceneFiles) {
    let own = -1;
    for (let id = 0; id < manifest.count && own < 0; id++) if (await sourceOf(id) === file) own = id;
    if (own < 0) { fail(`${file} is not in the dataset`); continue; }
    const t0 = Date.now();
    await searchDone(page, () => page.getByTestId('image-file').setInputFiles(scenesDir + file), TIMEOUT);
    const shown = await shownIds();
    const rank = shown.indexOf(own);
    const times = await page.getByTestId('times').textContent();
    const scene = truth.get(file);
    const alike = [];
    for (const id of shown.slice(0, 10)) {
      const other = truth.get(await sourceOf(id));
      alike.push(other.shape === scene.shape && other.colour === scene.colour);
    }
    console.log(`image query ${file} (${scene.colour} ${scene.shape}): own id ${own} at rank ${rank}, `
      + `${alike.filter(Boolean).length}/10 of the first ten the same colour and shape; ${Date.now() - t0} ms (${times.trim()})`);
    if (rank < 0 || rank > 2) fail(`image query ${file}: its own image at rank ${rank}, not in the first 3`);
  }
  if (screenshot) {
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=result] img')].slice(0, 18)
      .every((img) => img.complete && img.naturalWidth > 0));
    await page.screenshot({ path: screenshot });
  }
} catch (e) {
  fail(e.message);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
