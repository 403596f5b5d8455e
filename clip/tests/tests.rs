//! Parity and error tests of the clip crate against the fixtures in `clip/fixtures/`.
//!
//! The fixtures come from `clip/fixtures/generate.py`, run as
//! `/work/venv-clip/bin/python clip/fixtures/generate.py` (torch, open_clip 3.3.0,
//! transformers 5.24, ftfy 6.3.1, Pillow 13; see the script's header). Tolerances:
//! features within 1e-4 (max abs) of the PyTorch reference; PIL's resize + crop matched
//! exactly (0 u8 levels); tokenizer ids identical.

#![cfg(not(target_family = "wasm"))]

mod common;
mod loader;
mod model;
mod preprocess;
mod query_bytes;
mod random_tower;
mod tokenizer;
