//! The engine benchmark in headless Chromium (one thread, wasm32). The small run checks
//! that every measurement works in the browser; the 1M run gives the figures:
//! `scripts/bench-wasm` runs it.
#![cfg(target_family = "wasm")]

use engine_bench::{BenchConfig, run};
use index_shards::synthetic::SyntheticConfig;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

fn now_ms() -> f64 {
    web_sys::window()
        .expect("a window")
        .performance()
        .expect("performance")
        .now()
}

#[wasm_bindgen_test]
fn small_run_measures_everything_and_finds_the_clusters() {
    let config = BenchConfig {
        data: SyntheticConfig {
            n: 20_000,
            rare_cluster_size: 100,
            ..SyntheticConfig::default()
        },
        knn_queries: 3,
        ..BenchConfig::default()
    };
    let report = run(&config, &now_ms, &mut |line| console_log!("{line}"));
    assert_eq!(report.trees, 104);
    let ensemble = &report.rounds[1];
    assert!(ensemble.f1.iter().all(|&f1| f1 > 0.9), "{:?}", ensemble.f1);
    assert!(report.knn_tree.iter().all(|t| t.recall > 0.0));
}

#[wasm_bindgen_test]
#[ignore = "the 1M benchmark: run by scripts/bench-wasm"]
fn one_million() {
    let report = run(&BenchConfig::default(), &now_ms, &mut |line| {
        console_log!("{line}")
    });
    console_log!("{report:?}");
}
