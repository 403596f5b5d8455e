// Bytes on the wire for a first visit (an empty profile each time): to the first grid and
// until the text encoder is ready, as the browser asks (`br`, `gzip`: the `.br`/`.gz`
// files frontend/build.sh writes beside each bundle) against a browser that asks for no
// compression (`identity`), by kind of file.
// Usage: node first-visit.mjs BASE_URL DATASET   (static-server serving frontend/dist and
// the dataset, as run.sh sets it up)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [base, dataset] = process.argv.slice(2);
const TIMEOUT = 600_000;

/** One first visit with `acceptEncoding`: bytes by kind, to the first grid and in all. */
async function visit(acceptEncoding) {
  const profile = await mkdtemp(join(tmpdir(), 'first-visit-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-quic'],
    serviceWorkers: 'block',
    // Sent with every request, the workers' too.
    extraHTTPHeaders: { 'Accept-Encoding': acceptEncoding },
  });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const encodings = {};
  const bytes = { total: 0, byKind: {} };
  const kind = (url) => {
    const path = new URL(url).pathname;
    if (/\.wasm$/.test(path)) return 'wasm';
    if (/\.js$/.test(path)) return 'js';
    if (/\/thumbs\//.test(path)) return 'thumbnails';
    if (/\.safetensors$/.test(path)) return 'model';
    return 'data and page';
  };
  // Requests of the page and of its workers; the body as it came over the wire (encoded).
  page.on('requestfinished', async (request) => {
    try {
      const [sizes, response] = await Promise.all([request.sizes(), request.response()]);
      const size = sizes.responseBodySize + sizes.responseHeadersSize;
      bytes.total += size;
      const k = kind(request.url());
      bytes.byKind[k] = (bytes.byKind[k] || 0) + size;
      const encoding = (await response?.allHeaders())?.['content-encoding'] || 'none';
      encodings[encoding] = (encodings[encoding] || 0) + 1;
    } catch { /* the page closed */ }
  });
  const t0 = Date.now();
  await page.goto(`${base}?dataset=${dataset}`);
  await page.waitForFunction(() => {
    const els = [...document.querySelectorAll('[data-testid=result]')];
    return els.length > 0 && els.every((e) => e.querySelector('img')?.complete);
  }, null, { timeout: TIMEOUT });
  const firstGrid = { ms: Date.now() - t0, bytes: bytes.total };
  let textReady = null;
  if ((await page.getByTestId('text-status').textContent()).trim()) {
    await page.waitForFunction(() => /ready|failed/.test(document.querySelector('[data-testid=text-status]')?.textContent || ''), null, { timeout: TIMEOUT });
    // The last responses' loadingFinished events.
    await page.waitForTimeout(500);
    textReady = { ms: Date.now() - t0, bytes: bytes.total, status: await page.getByTestId('text-status').textContent() };
  }
  await context.close();
  await rm(profile, { recursive: true, force: true });
  return { acceptEncoding, firstGrid, textReady, byKind: bytes.byKind, encodings };
}

const out = [];
for (const acceptEncoding of ['br, gzip', 'identity']) out.push(await visit(acceptEncoding));
console.log(JSON.stringify(out, null, 1));
