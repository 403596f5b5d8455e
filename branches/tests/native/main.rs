//! Native integration tests of the `branches` crate, one module per topic.
#![cfg(not(target_family = "wasm"))]

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod ensemble_split;
mod golden;
mod properties;
mod rare_cluster;
mod separable;
mod uncertain;

/// F1 of `found` against the true member ids `truth` (both without repeats).
pub fn f1(found: &[u32], truth: &[u32]) -> f64 {
    let truth: std::collections::HashSet<u32> = truth.iter().copied().collect();
    let hits = found.iter().filter(|id| truth.contains(id)).count() as f64;
    if hits == 0.0 {
        return 0.0;
    }
    let precision = hits / found.len() as f64;
    let recall = hits / truth.len() as f64;
    2.0 * precision * recall / (precision + recall)
}
