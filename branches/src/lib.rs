//! Decision branches and search by classification.
//!
//! A round of interactive retrieval: the user's labels become a training set
//! ([`training`]), a classifier is trained ([`dbranches`] for decision branches and their
//! ensemble, [`cart`] for the decision-tree and random-forest baselines), and every image
//! it accepts is found through an index's box queries ([`BoxIndex`]) and ranked
//! ([`SearchEngine`]). A trained [`Model`] is serialisable and renders its boxes as rules
//! and SQL.
//!
//! The crate does no I/O and keeps no global state; every random draw is seeded, so the
//! same request gives the same ranking natively and in wasm.
//!
//! ```
//! use branches::{FlatIndex, PoolSettings, SearchEngine, SearchRequest};
//!
//! // Eight points on a line, one subset holding the only dim.
//! let index = FlatIndex::new((0..8).map(|i| i * 30).collect(), 1, vec![vec![0]]).unwrap();
//! let engine = SearchEngine::new(index, PoolSettings::default()).unwrap();
//! let mut request = SearchRequest::new(vec![0, 1]);
//! request.negatives = vec![5, 6];
//! request.random_negatives = 0;
//! let response = engine.run(&request).unwrap();
//! assert!(response.results.contains(&0) && response.results.contains(&1));
//! assert!(!response.results.contains(&5));
//! ```

pub mod cart;
pub mod dbranches;
mod error;
pub mod gini;
pub mod index;
pub mod model;
mod rng;
pub mod search;
mod shards;
pub mod training;

pub use cart::{DecisionTree, RandomForest, TreeSettings};
pub use dbranches::BranchSettings;
pub use error::Error;
pub use index::{BoxIndex, FlatIndex};
pub use model::{BoxRule, Model, Searcher};
pub use search::{
    EnsemblePart, EnsemblePlan, MAX_TRAINING_WORK, SearchEngine, SearchRequest, SearchResponse,
    TrainingSettings,
};
pub use shards::MemoryIndex;
pub use training::{NegativePool, PoolSettings, TrainingSet};
