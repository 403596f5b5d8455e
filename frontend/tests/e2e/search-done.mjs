// Waiting for a search in the app to finish, shared by e2e.mjs and demo.mjs.

/** Runs `start`, which begins a search, and waits until the search is done: its progress
 * panel was shown and is gone. (The times line is no signal: two quick image queries gave
 * the same text, and a wait for it to change timed out.) */
export async function searchDone(page, start, timeout) {
  await page.evaluate(() => {
    window.progressShown = false;
    window.progressWatch?.disconnect();
    const isProgress = (n) => n.nodeType === 1
      && (n.matches('[data-testid=progress]') || n.querySelector('[data-testid=progress]'));
    window.progressWatch = new MutationObserver((records) => {
      if (records.some((r) => [...r.addedNodes].some(isProgress))) window.progressShown = true;
    });
    window.progressWatch.observe(document.body, { childList: true, subtree: true });
  });
  await start();
  await page.waitForFunction(() => window.progressShown && !document.querySelector('[data-testid=progress]'), null, { timeout });
}
