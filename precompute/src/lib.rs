//! The `precompute` CLI as a library: each subcommand is a module with its clap `Args` and
//! a `run`, so integration tests and other tools can call them without a process.
//!
//! - [`index_cmd`]: features (`.npy`) to index shards and a manifest;
//! - [`search_cmd`]: a round of search by classification over an index folder;
//! - [`knn_cmd`]: nearest images of query vectors;
//! - [`bench_cmd`]: the engine's and the partitioned k-NN's figures on a synthetic set;
//! - [`tokenize_cmd`]: CLIP token ids of texts;
//! - [`encode_cmd`]: CLIP features of texts, images and preprocessed tensors;
//! - [`extract_cmd`]: resumable, splittable image feature extraction, and `merge`;
//!   [`part`]: a split run's share, from `--part` or a Slurm array / Indexed Job;
//! - [`model_files`]: finding a model's config and weights on disk; [`device`]: `--device`;
//!   [`images`]: decoding image files;
//! - [`ingest_cmd`], [`verify_cmd`], [`catalog_cmd`]: collection to items and thumbnails,
//!   dataset folder checks, the list of datasets a frontend offers;
//! - [`reduce_cmd`]: features to compact quantised rows by PCA (the step `build` runs);
//! - [`build_cmd`]: the whole pipeline, collection to dataset folder, in one command;
//!   [`search_settings`]: its `--search FILE`, the app's search settings for the dataset;
//!   [`part_join`]: its parts on several machines and their join;
//! - [`synth_cmd`]: a synthetic captioned collection (PNG files and `captions.csv`);
//! - [`train_cmd`]: contrastive training of a CLIP model on a captioned collection;
//! - [`train_head_cmd`]: the paper's compact heads on a frozen model's features;
//! - [`compact`]: features to compact rows and queries (PCA or the paper's heads);
//! - [`eval_cmd`]: retrieval quality of a model on held-out synthetic scenes;
//! - [`npy`]: reading and writing `.npy` matrices; [`output`]: atomic file writes.

pub mod bench_cmd;
pub mod build_cmd;
pub mod catalog_cmd;
pub mod compact;
pub mod dataset;
pub mod device;
pub mod encode_cmd;
pub mod eval_cmd;
pub mod extract_cmd;
pub mod feature_cache;
pub mod images;
pub mod index_cmd;
pub mod ingest_cmd;
pub mod knn_cmd;
pub mod layout_cmd;
pub mod model_files;
pub mod npy;
pub mod output;
pub mod part;
pub mod part_join;
pub mod reduce_cmd;
pub mod search_cmd;
pub mod search_settings;
pub mod synth_cmd;
pub mod tokenize_cmd;
pub mod train_cmd;
pub mod train_head_cmd;
pub mod verify_cmd;
