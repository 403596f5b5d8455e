//! Index shards: quantised CLIP features, kd-trees over feature subsets, box and k-NN
//! queries, and the on-disk shard format.
//!
//! The crate does no I/O: it reads and writes `&[u8]` / `Vec<u8>`, so the same code runs
//! in the precompute CLI and in the browser.

pub mod quantize;
pub mod synthetic;
