//! Integration tests of index-shards, one module per topic.
#![cfg(not(target_family = "wasm"))]

mod bad_input;
mod common;
mod knn;
mod partitioned_knn;
mod range;
mod shards;
