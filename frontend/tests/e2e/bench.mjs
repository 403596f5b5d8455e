// Figures of the app on one dataset in headless Chromium: bytes and time to the first
// grid (cold, then warm from the Cache API), "more like this" (k-NN), two rounds (the
// first fetches tree tops and leaves, the second reuses them), the memory the page and
// its workers hold after them; on a dataset
// with a text encoder, the time to encode texts (TEXTS, `|`-separated, each searched twice:
// the first warms up; the median of the second encodes is reported).
// Usage: node bench.mjs BASE_URL DATASET [PARAMS]   (as served by run.sh's static-server
// setup); PARAMS are added to the page URL, e.g. `searcher=ens&workers=1` for ensemble
// rounds trained in one worker.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, dataset, params] = process.argv.slice(2);
const TIMEOUT = 600_000;
// A profile on disk, as a user's browser has: its HTTP cache keeps what the cold run
// fetched for the warm one (a context without a profile caches in memory only, and drops
// large files). No service worker: the figures are the app's own fetches (the Cache API
// still applies).
const profile = await mkdtemp(join(tmpdir(), 'bench-profile-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-quic'],
  serviceWorkers: 'block',
});
const out = { dataset, params };

/** Summed RSS, in MB, of the renderer processes of the browser this script launched (the
 * descendants of this process). */
function rendererRssMb() {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,rss=,args='], { encoding: 'utf8' })
    .split('\n').filter(Boolean).map((l) => {
      const [pid, ppid, rss, ...args] = l.trim().split(/\s+/);
      return { pid: Number(pid), ppid: Number(ppid), rss: Number(rss), args: args.join(' ') };
    });
  const ours = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const r of rows) if (ours.has(r.ppid) && !ours.has(r.pid)) { ours.add(r.pid); grew = true; }
  }
  const renderers = rows.filter((r) => ours.has(r.pid) && r.args.includes('--type=renderer'));
  const mb = (kb) => +(kb / 1024).toFixed(1);
  return { total: mb(renderers.reduce((sum, r) => sum + r.rss, 0)), each: renderers.map((r) => mb(r.rss)) };
}

async function open() {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const net = { bytes: 0, requests: 0 };
  page.on('requestfinished', async (r) => {
    net.requests += 1;
    try { const s = await r.sizes(); net.bytes += s.responseBodySize + s.responseHeadersSize; } catch { /* closed */ }
  });
  const t0 = Date.now();
  await page.goto(`${base}?dataset=${dataset}${params ? `&${params}` : ''}`);
  await page.waitForFunction(() => {
    const els = [...document.querySelectorAll('[data-testid=result]')];
    return els.length === 60 && els.every((e) => e.querySelector('img')?.complete);
  }, null, { timeout: TIMEOUT });
  return { page, net, ms: Date.now() - t0 };
}

const idle = (page) => page.waitForFunction(() => !document.querySelector('[data-testid=progress]'), null, { timeout: TIMEOUT });

const cold = await open();
out.count = Number(await cold.page.getByTestId('count').textContent());
out.cold_first_grid = { ms: cold.ms, bytes: cold.net.bytes, renderer_rss_mb: rendererRssMb().total };
const { page, net } = cold;
const id = await page.locator('[data-testid=result]').evaluateAll((els) =>
  Number((els.find((e) => /rare cluster/.test(e.title)) || els[0]).dataset.id));
let before = net.bytes;
let t = Date.now();
await page.locator(`[data-testid=result][data-id="${id}"] [data-testid=more-like-this]`).click();
await page.waitForFunction((id) => {
  const els = [...document.querySelectorAll('[data-testid=result]')];
  return els[0]?.dataset.id === String(id) && els.every((e) => e.querySelector('img')?.complete);
}, id, { timeout: TIMEOUT });
await idle(page);
out.more_like_this = { ms: Date.now() - t, bytes: net.bytes - before, times: await page.getByTestId('times').textContent(), renderer_rss_mb: rendererRssMb().total };
for (const round of [1, 2]) {
  before = net.bytes;
  const requestsBefore = net.requests;
  t = Date.now();
  await page.getByTestId('finetune').click();
  await page.waitForFunction(() => !document.querySelector('[data-testid=progress]')
    && !document.querySelector('[data-testid=undo]').disabled, null, { timeout: TIMEOUT });
  await idle(page);
  out[`round_${round}`] = {
    ms: Date.now() - t,
    bytes: net.bytes - before,
    requests: net.requests - requestsBefore,
    count: Number(await page.getByTestId('count').textContent()),
    times: await page.getByTestId('times').textContent(),
    renderer_rss_mb: rendererRssMb().total,
  };
  await page.getByTestId('undo').click();
}
// The status is empty for a dataset without a text encoder.
if ((await page.getByTestId('text-status').textContent()).trim()) {
  await page.waitForFunction(() => /ready|failed/.test(document.querySelector('[data-testid=text-status]')?.textContent || ''), null, { timeout: TIMEOUT });
  out.text_status = await page.getByTestId('text-status').textContent();
  const texts = (process.env.TEXTS || 'red stars|green hearts|blue crosses|two yellow circles|hearts').split('|');
  const encodes = [];
  for (const text of texts) {
    for (const pass of [0, 1]) {
      await page.getByTestId('query').fill(pass ? text : `the ${text}`);
      await page.getByTestId('search').click();
      await page.waitForFunction(() => /encode/.test(document.querySelector('[data-testid=times]')?.textContent || '')
        && !document.querySelector('[data-testid=progress]'), null, { timeout: TIMEOUT });
      const times = await page.getByTestId('times').textContent();
      if (pass) encodes.push(Number(/encode ([\d.]+) ms/.exec(times)[1]));
    }
  }
  encodes.sort((a, b) => a - b);
  out.text_encode_ms = { median: encodes[Math.floor(encodes.length / 2)], all: encodes };
}
// What the page and its workers hold: the resident memory of this browser's renderer
// processes (the page's JS heaps, its workers' wasm memories and heaps, the DOM, and the
// renderer's own baseline), as the kernel counts it.
out.renderer_rss_mb = rendererRssMb();
out.js_heap_mb = +((await page.evaluate(() => performance.memory?.usedJSHeapSize || 0)) / 1e6).toFixed(1);
await page.close();
const warm = await open();
out.warm_first_grid = { ms: warm.ms, bytes: warm.net.bytes };
console.log(JSON.stringify(out, null, 1));
await context.close();
await rm(profile, { recursive: true, force: true });
