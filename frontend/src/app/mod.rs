//! The Yew UI: the dataset catalog and switcher, the query box, the result grid with
//! labels, the fine-tune controls, rules, paging, export, saved searches, the error panel
//! and the URL state. All search work happens in the search worker
//! (`crate::worker::SearchWorker`); the page fetches only the catalog, `dataset.json` and
//! the item chunks it shows.
//!
//! One job a module:
//! - [`state`]: the page's state and the messages that change it, a pure reducer tested
//!   natively (the only part built outside wasm);
//! - `embed`: the entry points, `start` (the app's own page) and `EmbeddedSearch` (the
//!   `<clip-branches-search>` element);
//! - `workers`: numbered requests to the search and text workers, starting queries, the
//!   search a URL or element wants;
//! - `loading`: the catalog, `dataset.json` and the item chunks of the tiles shown;
//! - `ensemble`: the helper workers that train an ensemble round's members;
//! - `page`: the page URL and file downloads;
//! - `stored`: saved searches kept in the browser (IndexedDB);
//! - `view`: the `Main` component and a view function per screen part.
//!
//! Stable hooks for automated clients are `data-testid` attributes: `query`, `search`,
//! `result` (with `data-id` and `data-label`), `finetune`, `searcher`, `count`, `rules`,
//! `error`, `backend`, and further `dataset`, `progress`, `times`, `more-like-this`,
//! `all-relevant`, `all-irrelevant`, `clear`, `undo`, `prev-page`, `next-page`, `page`,
//! `random-negatives`, `negative-weight`, `export-json`, `export-csv`, `save-search`,
//! `saved-search`, `apply-search`.

pub mod state;

#[cfg(target_family = "wasm")]
mod embed;
#[cfg(target_family = "wasm")]
mod ensemble;
#[cfg(target_family = "wasm")]
mod loading;
#[cfg(target_family = "wasm")]
mod page;
#[cfg(target_family = "wasm")]
mod stored;
#[cfg(target_family = "wasm")]
mod view;
#[cfg(target_family = "wasm")]
mod workers;

#[cfg(target_family = "wasm")]
pub use embed::{AppProps, ELEMENT_NAME, Embed, EmbeddedSearch, start};

/// The catalog read when the URL names none (static-server serves datasets under `/data/`).
pub const DEFAULT_CATALOG: &str = "data/catalog.json";
