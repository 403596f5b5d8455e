// The app's service worker: a page and dataset opened once keep working offline.
// Every same-origin GET goes to the network first and its 200 answer is stored; when the
// network fails, the stored answer is served (pages by path, ignoring the query).
// Index shards are left to the search worker's own Cache API store (clip-branches-files-v1),
// so they are not stored twice.
const CACHE = 'clip-branches-app-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin || request.headers.has('range')) return;
  const store = !url.pathname.endsWith('.shard');
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (store && response.status === 200) await cache.put(request, response.clone());
      return response;
    } catch (offline) {
      const stored = await cache.match(request, { ignoreSearch: request.mode === 'navigate' });
      if (stored) return stored;
      throw offline;
    }
  })());
});
