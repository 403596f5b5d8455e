//! The clip-branches browser app: text / "more like this" search, relevance labels and
//! search by classification over a static dataset folder, with no search server.
//!
//! The crate is split so that everything but the browser glue is plain Rust, tested
//! natively:
//!
//! - [`labels`]: a label per image and the ways a user changes them (click cycle, range,
//!   all shown);
//! - [`session`]: one query session (results, paging, labels kept across rounds, round
//!   history with undo, keyboard focus) as a state with pure actions;
//! - [`protocol`]: the typed messages between the app and the search worker;
//! - [`index`]: the worker's dataset index ([`index::DatasetIndex`]): which shard files a
//!   step needs, k-NN, training and search by classification over loaded shards;
//! - [`projection`]: a text feature to a `u8` query (PCA or identity, L2, quantise);
//! - [`items`]: item metadata chunks, checked against `dataset.json`;
//! - [`share`]: the URL query string of a search (shareable) and the export formats;
//! - [`source`]: what the app opens (a catalog or one dataset folder);
//! - [`app`]: the Yew UI, also mounted by the `<clip-branches-search>` element; natively
//!   only its state machine ([`app::state`]).
//!
//! In wasm only: `worker` (the search worker, a yew-agent reactor),
//! `text` (the text worker: CLIP text tower with burn, built with the `text-encoder` feature),
//! `net` (fetch with the Cache API and progress) and `codec` (serde-wasm-bindgen messages).

pub mod app;
pub mod index;
pub mod items;
pub mod labels;
pub mod projection;
pub mod protocol;
pub mod reads;
pub mod session;
pub mod share;
pub mod source;

#[cfg(target_family = "wasm")]
pub mod codec;
#[cfg(target_family = "wasm")]
pub mod net;
#[cfg(target_family = "wasm")]
pub mod text;
#[cfg(target_family = "wasm")]
pub mod worker;
