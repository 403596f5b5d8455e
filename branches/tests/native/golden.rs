//! Determinism: the same request gives the same answer, a saved model gives the same
//! ranking, and the golden example's answer is pinned (the wasm test checks the same).

use branches::{Model, Searcher};

use crate::common::{
    GOLDEN_DB_RESULTS, GOLDEN_DB_RULES, GOLDEN_ENS_RESULTS, golden_engine, golden_request,
    golden_set,
};

#[test]
fn golden_example() {
    let set = golden_set();
    let engine = golden_engine(&set);
    let mut request = golden_request(&set);
    let db = engine.run(&request).unwrap();
    assert_eq!(db.rules, GOLDEN_DB_RULES);
    assert_eq!(db.results, GOLDEN_DB_RESULTS);
    assert_eq!(
        db.sql,
        [
            "SELECT * FROM images WHERE (dim_1 BETWEEN 158 AND 162) AND (dim_2 BETWEEN 160 AND 165) \
          AND (dim_3 BETWEEN 41 AND 216) AND (dim_7 BETWEEN 50 AND 187) \
          AND ((dim_6 <= 160 AND dim_7 <= 178) OR (dim_0 <= 137 AND dim_1 <= 159 AND dim_7 >= 179) \
          OR (dim_0 >= 138 AND dim_7 >= 179))"
        ]
    );
    request.searcher = Searcher::Ensemble;
    assert_eq!(engine.run(&request).unwrap().results, GOLDEN_ENS_RESULTS);
}

#[test]
fn the_same_request_gives_the_same_answer() {
    let set = golden_set();
    let engine = golden_engine(&set);
    for searcher in [
        Searcher::DBranches,
        Searcher::Ensemble,
        Searcher::DecisionTree,
        Searcher::RandomForest,
    ] {
        let mut request = golden_request(&set);
        request.searcher = searcher;
        let first = engine.run(&request).unwrap();
        assert_eq!(first, engine.run(&request).unwrap(), "{searcher:?}");
        // Label order does not matter.
        request.positives.reverse();
        assert_eq!(first, engine.run(&request).unwrap(), "{searcher:?}");
        assert_eq!(first.count as usize, first.results.len());
    }
}

#[test]
fn a_saved_model_gives_the_same_ranking() {
    let set = golden_set();
    let engine = golden_engine(&set);
    for searcher in [
        Searcher::DBranches,
        Searcher::Ensemble,
        Searcher::DecisionTree,
        Searcher::RandomForest,
    ] {
        let mut request = golden_request(&set);
        request.searcher = searcher;
        let model = engine.train(&request).unwrap();
        let json = serde_json::to_string(&model).unwrap();
        let loaded: Model = serde_json::from_str(&json).unwrap();
        assert_eq!(loaded, model);
        assert_eq!(
            engine.search(&loaded).unwrap(),
            engine.search(&model).unwrap()
        );
    }
}
