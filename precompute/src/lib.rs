//! The `precompute` CLI as a library: each subcommand is a module with its clap `Args` and
//! a `run`, so integration tests and other tools can call them without a process.
//!
//! - [`index_cmd`]: features (`.npy`) to index shards and a manifest;
//! - [`search_cmd`]: a round of search by classification over an index folder;
//! - [`knn_cmd`]: nearest images of query vectors;
//! - [`bench_cmd`]: the engine's figures on a synthetic set;
//! - [`tokenize_cmd`]: CLIP token ids of texts;
//! - [`synth_cmd`]: a synthetic captioned collection (PNG files and `captions.csv`);
//! - [`train_cmd`]: contrastive training of a CLIP model on a captioned collection;
//! - [`eval_cmd`]: retrieval quality of a model on held-out synthetic scenes;
//! - [`npy`]: reading and writing `.npy` matrices; [`output`]: atomic file writes.

pub mod bench_cmd;
pub mod dataset;
pub mod eval_cmd;
pub mod index_cmd;
pub mod knn_cmd;
pub mod npy;
pub mod output;
pub mod search_cmd;
pub mod synth_cmd;
pub mod tokenize_cmd;
pub mod train_cmd;
