// clip-branches.js: the <clip-branches-search> element, so that any page embeds the app
// with one script tag:
//
//   <script type="module" src="https://HOST/APP/clip-branches.js"></script>
//   <clip-branches-search dataset="https://HOST/data/swatches-text" query="a red swatch">
//   </clip-branches-search>
//
// `dataset`: the URL of a dataset folder (the one that holds dataset.json) or of a
// catalog.json (then the switcher lists its datasets); relative URLs are read against
// the host page, like `src`. `query`: a text query; setting it again runs the new query.
// `searcher`: the searcher of the fine-tune rounds (`db`, `ens`, `dtree` or `rf`).
// The element tells the page what it shows: a `results` event for every result list
// (a query's neighbours, more of them, a round, an undo) and a `round` event after each
// fine-tune round, with `event.detail` = { query, like, count, ids, relevant, irrelevant,
// round, searcher, rules }.
// The app's files (wasm, workers, CSS) are read next to this script, the dataset's files
// next to the dataset, never against the host page. Each element mounts its own app (and
// workers) in an open shadow root, so the host page's CSS and the app's do not mix.
//
// frontend/build.sh writes this file into dist as clip-branches.js, with the placeholders
// below replaced by the content-hashed names of the app files it wrote.
const here = new URL('.', import.meta.url);
const APP_JS = new URL('@APP_JS@', here);
const APP_WASM = new URL('@APP_WASM@', here);
const APP_CSS = new URL('@APP_CSS@', here);

let app = null;
/** The app's wasm module, loaded once for every element of the page. */
function loadApp() {
  app ??= import(APP_JS.href).then(async (module) => {
    await module.default({ module_or_path: APP_WASM });
    return module;
  });
  return app;
}

class ClipBranchesSearch extends HTMLElement {
  static observedAttributes = ['dataset', 'query', 'searcher'];

  async connectedCallback() {
    if (this.mounting) return;
    this.mounting = true;
    const shadow = this.shadowRoot ?? this.attachShadow({ mode: 'open' });
    const style = document.createElement('link');
    style.rel = 'stylesheet';
    style.href = APP_CSS.href;
    const root = document.createElement('div');
    shadow.replaceChildren(style, root);
    const module = await loadApp();
    // The attributes as they are now: changes while loading are not lost.
    this.search = new module.EmbeddedSearch(root, here.href, this.datasetUrl(), this.getAttribute('query'),
      this.getAttribute('searcher'));
  }

  disconnectedCallback() {
    this.search?.destroy();
    this.search = null;
    this.mounting = false;
  }

  attributeChangedCallback(name, before, after) {
    if (!this.search || before === after) return;
    if (name === 'query') this.search.set_query(after);
    else if (name === 'searcher') this.search.set_searcher(after);
    else this.search.set_dataset(this.datasetUrl());
  }

  /** The `dataset` attribute as an absolute URL (default: the app's own catalog). */
  datasetUrl() {
    const value = this.getAttribute('dataset');
    return value ? new URL(value, document.baseURI).href : new URL('data/catalog.json', here).href;
  }
}

if (!customElements.get('clip-branches-search')) {
  customElements.define('clip-branches-search', ClipBranchesSearch);
}
