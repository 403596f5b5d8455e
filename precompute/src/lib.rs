//! The `precompute` CLI as a library: each subcommand is a module with its clap `Args` and
//! a `run`, so integration tests and other tools can call them without a process.
//!
//! - [`index_cmd`]: features (`.npy`) to index shards and a manifest;
//! - [`search_cmd`]: a round of search by classification over an index folder;
//! - [`knn_cmd`]: nearest images of query vectors;
//! - [`bench_cmd`]: the engine's figures on a synthetic set;
//! - [`tokenize_cmd`]: CLIP token ids of texts;
//! - [`encode_cmd`]: CLIP features of texts, images and preprocessed tensors;
//! - [`extract_cmd`]: resumable, splittable image feature extraction, and `merge`;
//! - [`model_files`]: finding a model's config and weights on disk; [`device`]: `--device`;
//!   [`images`]: decoding image files;
//! - [`npy`]: reading and writing `.npy` matrices; [`output`]: atomic file writes.

pub mod bench_cmd;
pub mod dataset;
pub mod device;
pub mod encode_cmd;
pub mod extract_cmd;
pub mod images;
pub mod index_cmd;
pub mod knn_cmd;
pub mod model_files;
pub mod npy;
pub mod output;
pub mod search_cmd;
pub mod tokenize_cmd;
