//! An ensemble round split into member ranges (as the browser spreads it over web
//! workers) gives the very model, ids and rules of the one-call round, however it is split;
//! a bad split or an altered plan is an `Err`.

use branches::{EnsemblePart, EnsemblePlan, Error, Model, Searcher};
use proptest::prelude::*;

use crate::common::{GOLDEN_ENS_RESULTS, golden_engine, golden_request, golden_set};

/// Trains `plan` in the parts that `cuts` (ascending, inside `0..members`) mark, each
/// after a trip through JSON, as between workers.
fn train_split(plan: &EnsemblePlan, cuts: &[u32]) -> Vec<EnsemblePart> {
    let plan: EnsemblePlan = serde_json::from_str(&serde_json::to_string(plan).unwrap()).unwrap();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(plan.members());
    bounds
        .windows(2)
        .map(|w| {
            let part = plan.train_members(w[0]..w[1]).unwrap();
            serde_json::from_str(&serde_json::to_string(&part).unwrap()).unwrap()
        })
        .collect()
}

#[test]
fn split_rounds_equal_the_one_call_round() {
    let set = golden_set();
    let engine = golden_engine(&set);
    let mut request = golden_request(&set);
    request.searcher = Searcher::Ensemble;
    let whole = engine.train(&request).unwrap();
    let results = engine.search(&whole).unwrap();
    assert_eq!(results, GOLDEN_ENS_RESULTS);
    let plan = engine.plan_ensemble(&request).unwrap();
    assert_eq!(plan.members(), 25);
    let every_member: Vec<u32> = (1..25).collect();
    for cuts in [&[][..], &[12], &[1, 13, 24], &every_member] {
        let mut parts = train_split(&plan, cuts);
        parts.reverse();
        let joined = plan.join(parts).unwrap();
        assert_eq!(joined, whole, "cuts {cuts:?}");
        assert_eq!(engine.search(&joined).unwrap(), results);
        assert_eq!(joined.rules(), whole.rules());
    }
}

#[test]
fn bad_splits_and_altered_plans_are_errors() {
    let set = golden_set();
    let engine = golden_engine(&set);
    let request = golden_request(&set);
    let plan = engine.plan_ensemble(&request).unwrap();
    assert!(matches!(
        plan.train_members(20..26),
        Err(Error::SettingOutOfRange { .. })
    ));
    let first = plan.train_members(0..10).unwrap();
    let last = plan.train_members(12..25).unwrap();
    let gap = plan.join(vec![first.clone(), last.clone()]);
    assert!(matches!(gap, Err(Error::ModelMismatch { .. })), "{gap:?}");
    let short = plan.join(vec![first.clone()]);
    assert!(
        matches!(short, Err(Error::ModelMismatch { .. })),
        "{short:?}"
    );
    let twice = plan.join(vec![
        first.clone(),
        first,
        plan.train_members(10..25).unwrap(),
    ]);
    assert!(
        matches!(twice, Err(Error::ModelMismatch { .. })),
        "{twice:?}"
    );

    // A plan altered on its way: rows cut short, a subset dim out of range.
    let mut json: serde_json::Value = serde_json::to_value(&plan).unwrap();
    json["rows"].as_array_mut().unwrap().pop();
    let cut: EnsemblePlan = serde_json::from_value(json).unwrap();
    assert!(matches!(
        cut.train_members(0..1),
        Err(Error::TrainingShape { .. })
    ));
    let mut json: serde_json::Value = serde_json::to_value(&plan).unwrap();
    json["subsets"][0][0] = 200.into();
    let wide: EnsemblePlan = serde_json::from_value(json).unwrap();
    assert!(matches!(
        wide.train_members(0..1),
        Err(Error::InvalidSubset { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Any split into up to four parts joins into the one-call model.
    #[test]
    fn any_split_joins_into_the_same_model(mut cuts in proptest::collection::vec(1u32..25, 0..4)) {
        cuts.sort_unstable();
        cuts.dedup();
        let set = golden_set();
        let engine = golden_engine(&set);
        let mut request = golden_request(&set);
        request.searcher = Searcher::Ensemble;
        request.seed = u64::from(cuts.iter().sum::<u32>());
        let whole = engine.train(&request).unwrap();
        let plan = engine.plan_ensemble(&request).unwrap();
        let joined: Model = plan.join(train_split(&plan, &cuts)).unwrap();
        prop_assert_eq!(joined, whole);
    }
}
