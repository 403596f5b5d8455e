//! synth in the browser: the collection matches the native fingerprint bit for bit.

#![cfg(target_family = "wasm")]

use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

mod fingerprint;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn collection_fingerprint_matches_native() {
    assert_eq!(fingerprint::of_collection(), fingerprint::PINNED);
}
