//! Bad requests, indexes and models give typed errors, never panics.

use branches::{
    BoxRule, Error, FlatIndex, Model, PoolSettings, SearchEngine, SearchRequest, Searcher,
};

fn engine() -> SearchEngine<FlatIndex> {
    let features = (0..40u8).flat_map(|i| [i, 255 - i, i / 2]).collect();
    let index = FlatIndex::new(features, 3, vec![vec![0, 1], vec![1, 2]]).unwrap();
    SearchEngine::new(index, PoolSettings::default()).unwrap()
}

fn request(positives: &[u32], negatives: &[u32]) -> SearchRequest {
    let mut request = SearchRequest::new(positives.to_vec());
    request.negatives = negatives.to_vec();
    request
}

#[test]
fn bad_labels_are_rejected_by_every_searcher() {
    let engine = engine();
    for searcher in [
        Searcher::DBranches,
        Searcher::Ensemble,
        Searcher::DecisionTree,
        Searcher::RandomForest,
    ] {
        let run = |mut r: SearchRequest| {
            r.searcher = searcher;
            engine.run(&r)
        };
        assert!(matches!(run(request(&[], &[3])), Err(Error::NoPositives)));
        assert!(matches!(
            run(request(&[1, 40], &[])),
            Err(Error::IdOutOfRange {
                field: "positives",
                id: 40,
                len: 40
            })
        ));
        assert!(matches!(
            run(request(&[1], &[u32::MAX])),
            Err(Error::IdOutOfRange {
                field: "negatives",
                ..
            })
        ));
        let err = run(request(&[1, 7], &[7])).unwrap_err();
        assert!(matches!(err, Error::PositiveAlsoNegative { id: 7 }));
        assert_eq!(
            err.to_string(),
            "id 7 is both in positives and in negatives"
        );
    }
}

#[test]
fn bad_settings_are_rejected() {
    let engine = engine();
    let mut r = request(&[1], &[]);
    r.training.branches.subset_fraction = Some(0.0);
    assert!(matches!(
        engine.run(&r),
        Err(Error::SettingOutOfRange {
            name: "subset_fraction",
            ..
        })
    ));
    let mut r = request(&[1], &[]);
    r.negative_weight = 101;
    assert!(matches!(
        engine.run(&r),
        Err(Error::SettingOutOfRange {
            name: "negative_weight",
            ..
        })
    ));
    let mut r = request(&[1], &[]);
    r.training.ensemble_models = 0;
    assert!(matches!(
        engine.run(&r),
        Err(Error::SettingOutOfRange {
            name: "ensemble_models",
            ..
        })
    ));
}

#[test]
fn bad_indexes_are_rejected() {
    let empty = FlatIndex::new(Vec::new(), 3, vec![vec![0]]).unwrap();
    assert!(matches!(
        SearchEngine::new(empty, PoolSettings::default()),
        Err(Error::EmptyIndex)
    ));
    let unsorted = FlatIndex::new(vec![1, 2, 3], 3, vec![vec![2, 0]]).unwrap();
    assert!(matches!(
        SearchEngine::new(unsorted, PoolSettings::default()),
        Err(Error::InvalidSubset { subset: 0, .. })
    ));
    let no_subsets = FlatIndex::new(vec![1, 2, 3, 4, 5, 6], 3, Vec::new()).unwrap();
    let engine = SearchEngine::new(no_subsets, PoolSettings::default()).unwrap();
    assert!(matches!(
        engine.run(&request(&[0], &[])),
        Err(Error::NoSubsets)
    ));
    // The full-scan baselines need no subset.
    let mut tree = request(&[0], &[1]);
    tree.searcher = Searcher::DecisionTree;
    assert_eq!(engine.run(&tree).unwrap().results, [0]);
}

#[test]
fn models_that_do_not_fit_the_index_are_rejected() {
    let engine = engine();
    let rule = BoxRule {
        subset: 1,
        dims: vec![1, 2],
        lo: vec![0, 0],
        hi: vec![255, 255],
        post_tree: None,
    };
    let with = |rule: BoxRule| Model::DBranches { boxes: vec![rule] };
    assert_eq!(engine.search(&with(rule.clone())).unwrap().len(), 40);
    let bad = [
        BoxRule {
            subset: 2,
            ..rule.clone()
        },
        BoxRule {
            dims: vec![0, 1],
            ..rule.clone()
        },
        BoxRule {
            lo: vec![0],
            ..rule.clone()
        },
        BoxRule {
            lo: vec![9, 0],
            hi: vec![8, 255],
            ..rule.clone()
        },
    ];
    for rule in bad {
        assert!(matches!(
            engine.search(&with(rule)),
            Err(Error::ModelMismatch { .. })
        ));
    }
    let json = r#"{"searcher":"dtree","tree":[{"split":{"dim":9,"threshold":1.5,"left":1,"right":2}},{"leaf":{"positive":true}},{"leaf":{"positive":false}}]}"#;
    let model: Model = serde_json::from_str(json).unwrap();
    assert!(matches!(
        engine.search(&model),
        Err(Error::ModelMismatch { .. })
    ));
}
