//! The golden example in a browser: a round gives the same boxes and ranked ids as natively.
#![cfg(target_family = "wasm")]

use branches::Searcher;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

#[path = "common/mod.rs"]
mod common;

use common::{
    GOLDEN_DB_RESULTS, GOLDEN_DB_RULES, GOLDEN_ENS_RESULTS, golden_engine, golden_request,
    golden_set,
};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn golden_round_matches_native() {
    let set = golden_set();
    let engine = golden_engine(&set);
    let mut request = golden_request(&set);
    let db = engine.run(&request).unwrap();
    assert_eq!(db.rules, GOLDEN_DB_RULES);
    assert_eq!(db.results, GOLDEN_DB_RESULTS);
    request.searcher = Searcher::Ensemble;
    assert_eq!(engine.run(&request).unwrap().results, GOLDEN_ENS_RESULTS);
}
