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
//! - [`share`]: the URL query string of a search (shareable) and the export formats.

pub mod index;
pub mod labels;
pub mod protocol;
pub mod session;
pub mod share;
