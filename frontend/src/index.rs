//! The search worker's dataset index: which shard files each step needs, and the steps
//! themselves over the files loaded so far.
//!
//! Loading is lazy and in layers, so the first results need only part of the files:
//! k-NN reads [`DatasetIndex::missing_for_nearest`] (every feature shard; or, for an index
//! with a partitioned k-NN, the centroids at open and the few lists a query probes), and
//! "more like this" first [`DatasetIndex::missing_for_rows`] (nothing when the image came
//! from a list already fetched). Training needs [`DatasetIndex::missing_for_training`]
//! (every feature shard; or, for an index with row blocks, the stored pool of random
//! negatives and the labelled rows), then a search [`DatasetIndex::missing_top_files`]
//! (the tops of the trees its boxes query), [`DatasetIndex::missing_leaf_files`] (the leaf
//! shards its boxes reach) and [`DatasetIndex::missing_for_search`] (the rows of the images
//! those boxes hold). Rows come in layers (a table, its pages, the blocks), so a step asks
//! again until nothing is missing. Every file is checked (size, blake3, content) before it
//! is used.

use std::ops::Range;

use branches::{
    BoxIndex, EnsemblePlan, Model, NegativePool, PoolSettings, SearchEngine, SearchRequest,
};
use index_shards::{
    Features, IndexError, KnnManifest, LoadedIndex, PartitionedKnn, ShardKind, StoredFile,
    knn_exact,
};

/// Why a step over the dataset index failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The index or one of its files is wrong, or a needed file is not loaded.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Training or searching rejected the request or the model.
    #[error(transparent)]
    Search(#[from] branches::Error),
    /// The files fetched for some rows did not make them readable (a table that names
    /// other blocks than the ones served).
    #[error("the row files fetched do not hold the rows asked for")]
    RowsIncomplete,
    /// k-NN was asked for before every feature shard was loaded.
    #[error("k-NN needs every feature shard: {missing} are not loaded yet")]
    FeaturesMissing {
        /// Number of feature shards still missing.
        missing: usize,
    },
}

/// How k-NN runs on this index.
#[derive(Debug)]
enum Knn {
    /// The exact scan of every feature row, copied into one slice once the last feature
    /// shard is in.
    Exact(Option<Vec<u8>>),
    /// The manifest's partitioned index, once its centroids are added.
    /// Boxed: the manifest and the loaded lists are large beside the exact variant.
    Partitioned(Box<KnnManifest>, Option<Box<PartitionedKnn>>),
}

/// An index described by `manifest.json`, with the shards loaded so far.
#[derive(Debug)]
pub struct DatasetIndex {
    index: LoadedIndex,
    knn: Knn,
    pool: PoolSettings,
}

impl DatasetIndex {
    /// Parses `manifest.json`; no shard is loaded yet. The random-negative pool is the
    /// default one (fixed seed), as `precompute search` draws it.
    ///
    /// # Errors
    /// As [`LoadedIndex::from_manifest_json`].
    pub fn from_manifest_json(bytes: &[u8]) -> Result<Self, IndexError> {
        let index = LoadedIndex::from_manifest_json(bytes)?;
        let knn = match &index.manifest().knn {
            Some(knn) => Knn::Partitioned(Box::new(knn.clone()), None),
            None => Knn::Exact(None),
        };
        Ok(Self {
            pool: PoolSettings::of_index(index.manifest()),
            index,
            knn,
        })
    }

    /// Images in the index.
    pub fn count(&self) -> u32 {
        self.index.len() as u32
    }

    /// Feature dims.
    pub fn dims(&self) -> usize {
        self.index.dims()
    }

    /// Trees (feature subsets).
    pub fn trees(&self) -> usize {
        self.index.subsets().len()
    }

    fn missing(&self, wanted: impl Fn(&ShardKind) -> bool) -> Vec<StoredFile> {
        self.index
            .manifest()
            .files
            .iter()
            .filter(|f| wanted(&f.kind) && !self.index.is_loaded(&f.name))
            .map(|f| StoredFile::whole(&f.name, f.bytes))
            .collect()
    }

    /// Feature shards not loaded yet, in row order.
    pub fn missing_feature_files(&self) -> Vec<StoredFile> {
        self.missing(|kind| matches!(kind, ShardKind::Features { .. }))
    }

    /// What opening the dataset fetches so that k-NN can start: the partitioned index's
    /// centroids (a query then fetches its lists), or every feature shard for the exact scan.
    pub fn missing_to_open(&self) -> Vec<StoredFile> {
        match &self.knn {
            Knn::Exact(_) => self.missing_feature_files(),
            Knn::Partitioned(_, Some(_)) => Vec::new(),
            Knn::Partitioned(manifest, None) => vec![(&manifest.centroids).into()],
        }
    }

    /// What [`Self::nearest`] of `k` needs for `query` and does not have yet: every
    /// feature shard, or the next batch of probed lists (asked again once they are added,
    /// until it names nothing).
    ///
    /// # Errors
    /// A query of the wrong length.
    pub fn missing_for_nearest(&self, query: &[u8], k: u32) -> Result<Vec<StoredFile>, StepError> {
        match &self.knn {
            Knn::Exact(_) => Ok(self.missing_feature_files()),
            Knn::Partitioned(_, None) => Ok(self.missing_to_open()),
            Knn::Partitioned(_, Some(knn)) => Ok(knn
                .missing_lists(query, knn.default_nprobe(), k as usize)?
                .into_iter()
                .map(StoredFile::from)
                .collect()),
        }
    }

    /// Whether k-NN goes through a partitioned index (lists fetched per query) rather
    /// than the exact scan of every feature shard.
    pub fn is_partitioned(&self) -> bool {
        matches!(self.knn, Knn::Partitioned(..))
    }

    /// The features of image `id`: from its feature shard, row block or the pool, else
    /// from a k-NN list fetched already.
    ///
    /// # Errors
    /// An id out of range, or [`IndexError::NotLoaded`] naming the feature shard to fetch.
    pub fn row(&self, id: u32) -> Result<&[u8], IndexError> {
        if let Some(row) = self.index.loaded_row(id) {
            return Ok(row);
        }
        if let Knn::Partitioned(_, Some(knn)) = &self.knn
            && let Some(row) = knn.loaded_row(id)
        {
            return Ok(row);
        }
        // The error: out of range, or the features file to fetch.
        self.index.feature_row(id)
    }

    /// The next files that the rows of `ids` need and that are not loaded: the next layer
    /// of the row blocks (their top table, pages, then blocks), or the feature shards that
    /// hold them; nothing once every row can be read (a fetched k-NN list serves its rows).
    ///
    /// # Errors
    /// An id out of range.
    pub fn missing_for_rows(&self, ids: &[u32]) -> Result<Vec<StoredFile>, StepError> {
        let mut absent = Vec::new();
        let mut shards = std::collections::BTreeSet::new();
        for &id in ids {
            match self.row(id) {
                Ok(_) => {}
                Err(IndexError::NotLoaded { file }) => {
                    absent.push(id);
                    shards.insert(file);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(rows) = self.index.row_blocks() {
            return Ok(rows
                .missing_for_rows(absent)?
                .iter()
                .map(StoredFile::from)
                .collect());
        }
        Ok(self
            .missing_feature_files()
            .into_iter()
            .filter(|f| shards.contains(&f.name))
            .collect())
    }

    /// What training on `request` reads and is not loaded: the stored pool of random
    /// negatives and the next files of the labelled rows ([`Self::missing_for_rows`]); for
    /// an index without row blocks, every feature shard (its pool spans all rows).
    ///
    /// # Errors
    /// A labelled id out of range.
    pub fn missing_for_training(
        &self,
        request: &SearchRequest,
    ) -> Result<Vec<StoredFile>, StepError> {
        let Some(rows) = self.index.row_blocks() else {
            return Ok(self.missing_feature_files());
        };
        let mut needed: Vec<StoredFile> = rows.missing_pool().map(Into::into).into_iter().collect();
        let labelled = [request.positives.as_slice(), &request.negatives].concat();
        needed.extend(self.missing_for_rows(&labelled)?);
        Ok(needed)
    }

    /// What searching with `model` reads beyond its tree tops and leaves: the rows of
    /// the images that its boxes with a post-tree hold (row blocks,
    /// [`Self::missing_for_rows`]; a box's depth comes from its leaves); every feature
    /// shard for the baselines, which score every row, and for an index without row
    /// blocks.
    ///
    /// # Errors
    /// [`IndexError::NotLoaded`] for a leaf or tree top the boxes need, or a box that does
    /// not fit the index.
    pub fn missing_for_search(&self, model: &Model) -> Result<Vec<StoredFile>, StepError> {
        if model.boxes().is_empty() || self.index.row_blocks().is_none() {
            return Ok(self.missing_feature_files());
        }
        let mut held = Vec::new();
        for rule in model.boxes().iter().filter(|rule| rule.post_tree.is_some()) {
            self.index
                .range_query(rule.subset as usize, &rule.lo, &rule.hi, &mut |ids| {
                    held.extend_from_slice(ids)
                })?;
        }
        held.sort_unstable();
        held.dedup();
        self.missing_for_rows(&held)
    }

    /// Top shards, not loaded yet, of the trees `model`'s boxes query (none for the
    /// baselines): a model of a few boxes reads a few tops, not one per tree.
    pub fn missing_top_files(&self, model: &Model) -> Vec<StoredFile> {
        let trees: std::collections::BTreeSet<usize> = model
            .boxes()
            .iter()
            .map(|rule| rule.subset as usize)
            .collect();
        self.missing(|kind| matches!(kind, ShardKind::TreeTop { tree } if trees.contains(tree)))
    }

    /// Leaf shards that `model`'s boxes reach and that are not loaded yet (none for the
    /// baselines, which scan the features).
    ///
    /// # Errors
    /// [`IndexError::NotLoaded`] if a box's tree top is missing, or a box that does not
    /// fit its tree (a saved model of another dataset).
    pub fn missing_leaf_files(&self, model: &Model) -> Result<Vec<StoredFile>, IndexError> {
        let mut needed = std::collections::BTreeMap::new();
        for rule in model.boxes() {
            let files = self
                .index
                .needed_leaf_files(rule.subset as usize, &rule.lo, &rule.hi)?;
            for file in files.into_iter().filter(|f| !self.index.is_loaded(&f.name)) {
                needed.insert(file.name.clone(), file);
            }
        }
        Ok(needed.into_values().collect())
    }

    /// Adds a fetched shard after [`LoadedIndex::add_file`]'s checks.
    ///
    /// # Errors
    /// As [`LoadedIndex::add_file`]: unknown file, wrong size or hash, corrupt content.
    pub fn add_file(&mut self, name: &str, bytes: &[u8]) -> Result<(), IndexError> {
        match &mut self.knn {
            Knn::Partitioned(manifest, knn @ None) if name == manifest.centroids.name => {
                *knn = Some(Box::new(PartitionedKnn::new(
                    manifest,
                    self.index.dims(),
                    self.index.len() as u64,
                    bytes,
                )?));
                return Ok(());
            }
            Knn::Partitioned(_, Some(knn)) if knn.is_list(name) => {
                return knn.add_list(name, bytes);
            }
            _ => {}
        }
        self.index.add_file(name, bytes)?;
        if let Some(rows) = self.index.row_blocks()
            && rows.manifest().pool.name == name
            && rows.pool_ids() != Some(NegativePool::new(self.count(), self.pool).ids())
        {
            return Err(IndexError::Corrupt {
                file: name.into(),
                reason: "its ids are not the pool of random negatives every reader draws".into(),
            });
        }
        if matches!(self.knn, Knn::Exact(None)) && self.missing_feature_files().is_empty() {
            self.knn = Knn::Exact(Some(self.index.features_to_vec()?));
        }
        Ok(())
    }

    /// The `k` images nearest to `query` (on the `u8` grid), nearest first, ties by id.
    ///
    /// # Errors
    /// [`StepError::FeaturesMissing`], or a query of the wrong length.
    pub fn nearest(&self, query: &[u8], k: u32) -> Result<Vec<u32>, StepError> {
        let found = match &self.knn {
            Knn::Exact(Some(features)) => {
                knn_exact(Features::new(features, self.dims())?, query, k as usize)?
            }
            Knn::Exact(None) => {
                return Err(StepError::FeaturesMissing {
                    missing: self.missing_feature_files().len(),
                });
            }
            Knn::Partitioned(manifest, None) => {
                return Err(IndexError::NotLoaded {
                    file: manifest.centroids.name.clone(),
                }
                .into());
            }
            Knn::Partitioned(_, Some(knn)) => {
                knn.nearest(query, knn.default_nprobe(), k as usize)?
            }
        };
        Ok(found.into_iter().map(|n| n.id).collect())
    }

    /// The `k` images nearest to image `id`'s own feature ("more like this"); `id` is first.
    ///
    /// # Errors
    /// An id out of range, or as [`Self::nearest`].
    pub fn more_like(&self, id: u32, k: u32) -> Result<Vec<u32>, StepError> {
        let query = self.row(id)?.to_vec();
        self.nearest(&query, k)
    }

    fn engine(&self) -> Result<SearchEngine<&Self>, StepError> {
        Ok(SearchEngine::new(self, self.pool)?)
    }

    /// Trains the request's searcher; needs the feature shards only.
    ///
    /// # Errors
    /// As [`SearchEngine::train`] (no positives, ids out of range, settings out of range,
    /// a feature shard not loaded).
    pub fn train(&self, request: &SearchRequest) -> Result<Model, StepError> {
        Ok(self.engine()?.train(request)?)
    }

    /// The request's ensemble round taken apart, for [`member_shares`] of it to train in
    /// several workers; needs the feature shards only.
    ///
    /// # Errors
    /// As [`Self::train`].
    pub fn plan_ensemble(&self, request: &SearchRequest) -> Result<EnsemblePlan, StepError> {
        Ok(self.engine()?.plan_ensemble(request)?)
    }

    /// Every image `model` accepts, ranked, and the `k` least sure images not in
    /// `labelled` (sorted), as [`SearchEngine::search_and_uncertain`]; needs the leaf
    /// shards of [`Self::missing_leaf_files`] loaded.
    ///
    /// # Errors
    /// As [`SearchEngine::search`]: a model that does not fit the index, a shard not loaded.
    pub fn search_and_uncertain(
        &self,
        model: &Model,
        k: usize,
        labelled: &[u32],
    ) -> Result<(Vec<u32>, Vec<u32>), StepError> {
        Ok(self.engine()?.search_and_uncertain(model, k, labelled)?)
    }
}

/// The engine reads rows through the dataset index, so that a row of a fetched k-NN list
/// needs no other file.
impl BoxIndex for DatasetIndex {
    type Error = IndexError;

    fn len(&self) -> u32 {
        self.count()
    }

    fn dims(&self) -> usize {
        self.index.dims()
    }

    fn subsets(&self) -> &[Vec<u16>] {
        self.index.subsets()
    }

    fn range_query(
        &self,
        tree: usize,
        lo: &[u8],
        hi: &[u8],
        emit: &mut dyn FnMut(&[u32], &[u8]),
    ) -> Result<(), IndexError> {
        self.index.range_query_points(tree, lo, hi, emit).map(drop)
    }

    fn row(&self, id: u32) -> Result<&[u8], IndexError> {
        DatasetIndex::row(self, id)
    }
}

/// `members` split into at most `workers` consecutive ranges whose sizes differ by at
/// most one (the first ones larger); no empty range.
pub fn member_shares(members: u32, workers: u32) -> Vec<Range<u32>> {
    let parts = workers.clamp(1, members.max(1));
    let (size, extra) = (members / parts, members % parts);
    let mut start = 0;
    (0..parts)
        .map(|k| {
            let end = start + size + u32::from(k < extra);
            let share = start..end;
            start = end;
            share
        })
        .filter(|share| !share.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use branches::MemoryIndex;
    use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
    use index_shards::{ShardConfig, TreeSetConfig, write_index};

    use super::*;

    struct Fixture {
        files: HashMap<String, Vec<u8>>,
        manifest: Vec<u8>,
        memory: MemoryIndex,
        clusters: Vec<Vec<u32>>,
    }

    fn fixture() -> Fixture {
        let set = RareClusterSet::generate(&SyntheticConfig {
            n: 3000,
            rare_clusters: 2,
            rare_cluster_size: 40,
            ..SyntheticConfig::default()
        });
        let config = TreeSetConfig {
            leaf_size: 16,
            subsets: vec![(4, 6), (6, 3)],
            seed: 5,
        };
        let memory = MemoryIndex::build(set.features.clone(), set.dims, &config).unwrap();
        let mut files = HashMap::new();
        let manifest = write_index(
            memory.features(),
            memory.trees(),
            &ShardConfig::uniform(4096),
            |name, bytes| {
                files.insert(name.to_owned(), bytes.to_vec());
                Ok::<_, std::io::Error>(())
            },
        )
        .unwrap();
        Fixture {
            files,
            manifest: manifest.to_json(),
            memory,
            clusters: set.clusters,
        }
    }

    /// Adds `needed` from `files`, each where it is stored (a leaf file within its pack).
    fn load(index: &mut DatasetIndex, files: &HashMap<String, Vec<u8>>, needed: &[StoredFile]) {
        for file in needed {
            let bytes = file.slice_of(&files[&file.stored_in], 0).unwrap();
            assert_eq!(bytes.len() as u64, file.bytes);
            index.add_file(&file.name, bytes).unwrap();
        }
    }

    #[test]
    fn each_step_names_what_it_needs_and_matches_the_in_memory_engine() {
        let f = fixture();
        let mut index = DatasetIndex::from_manifest_json(&f.manifest).unwrap();
        assert_eq!((index.count(), index.dims(), index.trees()), (3000, 32, 9));
        let err = index.more_like(f.clusters[0][0], 10).unwrap_err();
        assert!(
            matches!(err, StepError::Index(IndexError::NotLoaded { .. })),
            "{err}"
        );

        let features = index.missing_feature_files();
        assert!(
            features.len() > 1,
            "the fixture spreads features over several shards"
        );
        load(&mut index, &f.files, &features);
        assert!(index.missing_feature_files().is_empty());
        let near = index.more_like(f.clusters[0][0], 20).unwrap();
        assert_eq!(near[0], f.clusters[0][0]);
        assert!(near.iter().all(|id| f.clusters[0].contains(id)), "{near:?}");

        let mut request = SearchRequest::new(f.clusters[0][..10].to_vec());
        request.random_negatives = 200;
        let model = index.train(&request).unwrap();
        let err = index.missing_leaf_files(&model).unwrap_err();
        assert!(matches!(err, IndexError::NotLoaded { .. }), "{err}");
        let tops = index.missing_top_files(&model);
        let trees: std::collections::BTreeSet<u32> =
            model.boxes().iter().map(|rule| rule.subset).collect();
        assert_eq!(tops.len(), trees.len(), "the tops of the boxes' trees only");
        load(&mut index, &f.files, &tops);
        let leaves = index.missing_leaf_files(&model).unwrap();
        assert!(!leaves.is_empty());
        let all_leaves = f.files.keys().filter(|n| n.starts_with("tree")).count();
        assert!(
            leaves.len() < all_leaves,
            "a box needs only some leaf shards"
        );
        if !model.boxes().is_empty() {
            assert!(
                index
                    .search_and_uncertain(&model, 0, &[])
                    .map(|(ids, _)| ids)
                    .is_err(),
                "leaves are not loaded yet"
            );
        }
        load(&mut index, &f.files, &leaves);
        assert!(index.missing_leaf_files(&model).unwrap().is_empty());

        let found = index
            .search_and_uncertain(&model, 0, &[])
            .map(|(ids, _)| ids)
            .unwrap();
        let reference = SearchEngine::new(f.memory, PoolSettings::default());
        let expected = reference.unwrap().run(&request).unwrap();
        assert_eq!(found, expected.results);
        assert_eq!(model.rules(), expected.rules);
    }

    /// The fixture's manifest with a partitioned k-NN of 49 lists, its files added.
    fn partitioned(f: &mut Fixture) -> index_shards::Manifest {
        let mut manifest = index_shards::Manifest::from_json(&f.manifest).unwrap();
        let features = f.memory.features();
        let config = index_shards::PartitionConfig {
            lists: 49,
            ..index_shards::PartitionConfig::for_rows(3000)
        };
        let centroids = index_shards::Centroids::train(features, &config).unwrap();
        manifest.knn = Some(
            index_shards::write_knn_lists(features, &centroids, |name, bytes| {
                f.files.insert(name.to_owned(), bytes.to_vec());
                Ok::<_, std::io::Error>(())
            })
            .unwrap(),
        );
        manifest
    }

    /// Loads what `missing` names until it names nothing; returns the names loaded.
    fn load_layers(
        index: &mut DatasetIndex,
        files: &HashMap<String, Vec<u8>>,
        missing: impl Fn(&DatasetIndex) -> Vec<StoredFile>,
    ) -> Vec<String> {
        let mut loaded = Vec::new();
        for _ in 0..4 {
            let needed = missing(index);
            load(index, files, &needed);
            loaded.extend(needed.into_iter().map(|f| f.name));
        }
        assert!(missing(index).is_empty(), "four layers at most");
        loaded
    }

    #[test]
    fn a_partitioned_index_fetches_the_centroids_then_the_probed_lists() {
        let mut f = fixture();
        let manifest = partitioned(&mut f);
        let features = f.memory.features();
        let mut index = DatasetIndex::from_manifest_json(&manifest.to_json()).unwrap();
        assert!(index.is_partitioned());
        let open = index.missing_to_open();
        assert_eq!(open.len(), 1);
        assert!(open[0].name.starts_with("knn-centroids"), "{open:?}");
        load(&mut index, &f.files, &open);
        assert!(index.missing_to_open().is_empty());

        // "More like this" of an image no list holds yet: its feature shard, then the lists.
        let id = f.clusters[0][0];
        let row = index.missing_for_rows(&[id]).unwrap();
        assert_eq!(row.len(), 1);
        assert!(row[0].name.starts_with("features"), "{row:?}");
        load(&mut index, &f.files, &row);
        let query = index.row(id).unwrap().to_vec();
        let first = index.missing_for_nearest(&query, 20).unwrap();
        assert_eq!(first.len(), 8, "a first batch of 8 lists");
        assert!(first.iter().all(|l| l.name.starts_with("knn-list-")));
        assert!(index.more_like(id, 20).is_err(), "lists not loaded yet");
        let lists = load_layers(&mut index, &f.files, |index| {
            index.missing_for_nearest(&query, 20).unwrap()
        });
        // The lists' radii prove the 20 nearest found before all 42 that 6 x sqrt(49)
        // allows are read.
        assert!(lists.len() < 42, "{} lists", lists.len());
        let near = index.more_like(id, 20).unwrap();
        let exact: Vec<u32> = knn_exact(features, &query, 20)
            .unwrap()
            .into_iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(near, exact);
        // Every neighbour came from a fetched list: its "more like this" needs no other
        // file, though most of them are in feature shards not fetched.
        assert!(
            near.iter()
                .all(|&n| index.missing_for_rows(&[n]).unwrap().is_empty())
        );
        assert!(near.iter().any(|&n| index.index.feature_row(n).is_err()));

        // Training needs every feature shard, as before.
        let mut request = SearchRequest::new(f.clusters[0][..10].to_vec());
        request.random_negatives = 200;
        assert!(index.train(&request).is_err());
        let features = index.missing_feature_files();
        load(&mut index, &f.files, &features);
        assert!(index.train(&request).is_ok());
    }

    #[test]
    fn row_blocks_serve_training_and_search_without_the_feature_shards() {
        let mut f = fixture();
        let mut manifest = partitioned(&mut f);
        let pool = PoolSettings {
            size: Some(500),
            ..PoolSettings::default()
        };
        let config = index_shards::RowBlocksConfig {
            block_rows: 32,
            blocks_per_page: 8,
        };
        manifest.rows = Some(
            index_shards::write_row_blocks(
                f.memory.features(),
                NegativePool::new(3000, pool).ids(),
                &config,
                |name, bytes| {
                    f.files.insert(name.to_owned(), bytes.to_vec());
                    Ok::<_, std::io::Error>(())
                },
            )
            .unwrap(),
        );
        let mut index = DatasetIndex::from_manifest_json(&manifest.to_json()).unwrap();
        let open = index.missing_to_open();
        load(&mut index, &f.files, &open);

        let mut request = SearchRequest::new(f.clusters[0][..10].to_vec());
        request.negatives = vec![1, 2000, 2999];
        request.random_negatives = 200;
        let training = load_layers(&mut index, &f.files, |index| {
            index.missing_for_training(&request).unwrap()
        });
        let kinds =
            |names: &[String], prefix: &str| names.iter().filter(|n| n.starts_with(prefix)).count();
        assert_eq!(kinds(&training, "rows-pool."), 1, "{training:?}");
        assert_eq!(kinds(&training, "rows-top."), 1, "{training:?}");
        assert_eq!(kinds(&training, "features"), 0, "{training:?}");
        let blocks = kinds(&training, "rows-0");
        assert!(
            (1..=13).contains(&blocks),
            "at most a block per labelled image: {training:?}"
        );
        let model = index.train(&request).unwrap();
        assert!(!model.boxes().is_empty());

        let tops = index.missing_top_files(&model);
        load(&mut index, &f.files, &tops);
        let leaves = index.missing_leaf_files(&model).unwrap();
        load(&mut index, &f.files, &leaves);
        let results = load_layers(&mut index, &f.files, |index| {
            index.missing_for_search(&model).unwrap()
        });
        assert_eq!(kinds(&results, "features"), 0, "{results:?}");
        let found = index.search_and_uncertain(&model, 10, &[]).unwrap();

        let reference = SearchEngine::new(f.memory, pool).unwrap();
        let expected = reference.run(&request).unwrap();
        assert_eq!(model.rules(), expected.rules);
        assert_eq!(found.0, expected.results);
        assert!(
            f.files
                .keys()
                .filter(|n| n.starts_with("features"))
                .all(|n| !index.index.is_loaded(n)),
            "no feature shard was fetched"
        );

        // An ensemble has no post-trees: its round reads the leaves and no row, though its
        // boxes hold images whose rows were never fetched.
        let mut ensemble = request.clone();
        ensemble.searcher = branches::Searcher::Ensemble;
        let model = index.train(&ensemble).unwrap();
        let tops = index.missing_top_files(&model);
        load(&mut index, &f.files, &tops);
        let leaves = index.missing_leaf_files(&model).unwrap();
        load(&mut index, &f.files, &leaves);
        assert_eq!(index.missing_for_search(&model).unwrap(), []);
        let found = index.search_and_uncertain(&model, 10, &[]).unwrap();
        assert!(found.0.iter().any(|&id| index.row(id).is_err()));
        assert_eq!(found.0, reference.run(&ensemble).unwrap().results);

        // The baselines score every row: they need every feature shard.
        let mut baseline = request.clone();
        baseline.searcher = branches::Searcher::DecisionTree;
        let tree = index.train(&baseline).unwrap();
        assert_eq!(
            index.missing_for_search(&tree).unwrap(),
            index.missing_feature_files()
        );
    }

    #[test]
    fn member_shares_cover_every_member_once() {
        let single = |members, workers| {
            let shares = member_shares(members, workers);
            assert_eq!(shares.len(), 1, "{shares:?}");
            shares[0].clone()
        };
        assert_eq!(single(25, 1), 0..25);
        assert_eq!(member_shares(25, 2), [0..13, 13..25]);
        assert_eq!(member_shares(25, 4), [0..7, 7..13, 13..19, 19..25]);
        assert_eq!(member_shares(3, 8), [0..1, 1..2, 2..3]);
        assert_eq!(single(5, 0), 0..5);
        assert!(member_shares(0, 4).is_empty());
    }

    #[test]
    fn a_split_ensemble_round_equals_the_one_worker_round() {
        let f = fixture();
        let mut index = DatasetIndex::from_manifest_json(&f.manifest).unwrap();
        let features = index.missing_feature_files();
        load(&mut index, &f.files, &features);
        let mut request = SearchRequest::new(f.clusters[0][..10].to_vec());
        request.searcher = branches::Searcher::Ensemble;
        let whole = index.train(&request).unwrap();
        let plan = index.plan_ensemble(&request).unwrap();
        let parts = member_shares(plan.members(), 3)
            .into_iter()
            .map(|share| plan.train_members(share).unwrap())
            .collect();
        assert_eq!(plan.join(parts).unwrap(), whole);
    }

    #[test]
    fn a_corrupt_shard_is_refused_and_named() {
        let f = fixture();
        let mut index = DatasetIndex::from_manifest_json(&f.manifest).unwrap();
        let first = &index.missing_feature_files()[0];
        let mut bytes = f.files[&first.name].clone();
        bytes[100] ^= 1;
        let err = index.add_file(&first.name, &bytes).unwrap_err();
        assert!(err.to_string().contains(&first.name), "{err}");
        assert_eq!(index.missing_feature_files()[0], *first);
    }

    #[test]
    fn a_baseline_needs_no_leaves() {
        let f = fixture();
        let mut index = DatasetIndex::from_manifest_json(&f.manifest).unwrap();
        let features = index.missing_feature_files();
        load(&mut index, &f.files, &features);
        let mut request = SearchRequest::new(f.clusters[1][..5].to_vec());
        request.searcher = branches::Searcher::DecisionTree;
        let model = index.train(&request).unwrap();
        assert!(index.missing_leaf_files(&model).unwrap().is_empty());
        assert!(
            index
                .search_and_uncertain(&model, 0, &[])
                .map(|(ids, _)| ids)
                .unwrap()
                .contains(&f.clusters[1][0])
        );
    }
}
