//! The least sure images (`SearchEngine::search_and_uncertain`): one pass gives them with
//! the results, labelled images are left out, and they straddle the model's border.

use branches::{Model, Searcher};

use crate::common::{golden_engine, golden_request, golden_set};

#[test]
fn the_least_sure_come_with_the_results_and_leave_out_the_labelled() {
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
        let mut labelled = [request.positives.clone(), request.negatives.clone()].concat();
        labelled.sort_unstable();
        let (results, least_sure) = engine.search_and_uncertain(&model, 30, &labelled).unwrap();
        assert_eq!(results, engine.search(&model).unwrap(), "{searcher:?}");
        let (_, all) = engine
            .search_and_uncertain(&model, usize::MAX, &[])
            .unwrap();
        let unlabelled: Vec<u32> = all
            .iter()
            .copied()
            .filter(|id| labelled.binary_search(id).is_err())
            .take(30)
            .collect();
        assert_eq!(least_sure, unlabelled, "{searcher:?}");
        assert!(!least_sure.is_empty(), "{searcher:?}");
        match &model {
            // An ensemble is least sure of images some members accept and others do not:
            // accepted and rejected ones both appear.
            Model::Ensemble { .. } | Model::RandomForest { .. } | Model::DecisionTree { .. } => {
                let accepted = least_sure.iter().filter(|id| results.contains(id)).count();
                assert!(
                    accepted > 0 && accepted < least_sure.len(),
                    "{searcher:?}: {accepted} of {} accepted",
                    least_sure.len()
                );
            }
            // One set of boxes: accepted images only (those nearest a face first); this
            // box holds fewer unlabelled images than asked for, so all of them.
            Model::DBranches { .. } => {
                let mut inside: Vec<u32> = results
                    .iter()
                    .copied()
                    .filter(|id| labelled.binary_search(id).is_err())
                    .collect();
                assert!(inside.len() < 30);
                let mut found = least_sure.clone();
                inside.sort_unstable();
                found.sort_unstable();
                assert_eq!(found, inside);
            }
        }
    }
}
