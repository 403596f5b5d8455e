// The app's service worker: a page and dataset opened once keep working offline, from the
// first visit on.
// Every same-origin GET goes to the network first and its 200 answer is stored; when the
// network fails, the stored answer is served (pages by path, ignoring the query).
// What the first visit fetched before this worker controlled it (the page, the app's
// wasm, the workers' files, the dataset's entry files) the page lists once this worker is
// ready (index.html posts {cache: [urls], list: k} for each batch of resource entries);
// they are fetched again and stored, and the page is told {cached: n, list: k} when they
// are in.
// Index shards are left to the search worker's own Cache API store (clip-branches-files-v1),
// so they are not stored twice.
const CACHE = 'clip-branches-app-v1';
/** Stores still running that the fetch handler started (siblings), so that {cached} is
 * answered only once they are in. */
const storing = new Set();

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

/** Same-origin files worth storing (not shards, which the search worker stores). */
function storable(url) {
  return url.origin === self.location.origin && !url.pathname.endsWith('.shard');
}

/** The index manifest that a dataset's dataset.json (`response`, the answer for `url`)
 * names: the search worker reads it, and on a first visit the worker runs before this
 * service worker controls anything. */
async function siblings(url, response) {
  if (!url.pathname.endsWith('/dataset.json')) return [];
  try {
    const { index } = await response.clone().json();
    return typeof index === 'string' ? [new URL(index, url)] : [];
  } catch { return []; /* not a dataset: nothing beside it */ }
}

/** Fetches and stores `url` unless stored already, and what it names; best effort. */
async function store(cache, url) {
  if (!storable(url)) return;
  let response = await cache.match(url.href, { ignoreVary: true });
  if (!response) {
    try {
      response = await fetch(url.href);
    } catch { return; /* offline already: nothing to store */ }
    if (response.status !== 200) return;
    await cache.put(url.href, response.clone());
  }
  for (const sibling of await siblings(url, response)) await store(cache, sibling);
}

self.addEventListener('message', (event) => {
  const urls = event.data && event.data.cache;
  if (!Array.isArray(urls)) return;
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    for (const url of urls) await store(cache, new URL(url, self.location.href));
    await Promise.all([...storing]);
    event.source?.postMessage({ cached: urls.length, list: event.data.list });
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin || request.headers.has('range')) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (storable(url) && response.status === 200) {
        await cache.put(request, response.clone());
        for (const sibling of await siblings(url, response)) {
          const stored = store(cache, sibling).finally(() => storing.delete(stored));
          storing.add(stored);
          event.waitUntil(stored);
        }
      }
      return response;
    } catch (offline) {
      // One answer per URL is kept, so a `Vary` (CORS answers vary on Origin) is ignored.
      const stored = await cache.match(request, { ignoreSearch: request.mode === 'navigate', ignoreVary: true });
      if (stored) return stored;
      throw offline;
    }
  })());
});
