//! The same scenes, pixels and captions on every target: a fingerprint pinned here and in
//! `wasm.rs` (which runs the same function in headless Chromium).

#![cfg(not(target_family = "wasm"))]

mod fingerprint;

#[test]
fn collection_fingerprint_is_pinned() {
    assert_eq!(fingerprint::of_collection(), fingerprint::PINNED);
}
