//! Measures the partitioned k-NN ([`index_shards::PartitionedKnn`]) against the exact
//! scan on a seeded rare-cluster set: build time, the files' sizes, and per query kind and
//! `nprobe` the recall@k, the bytes and files a query fetches and its time.
//!
//! Two kinds of query: *image-like*, the rows of seeded random images ("more like this"),
//! and *text-like*, the same rows moved by one shared offset (CLIP's text features sit
//! apart from the image features they match, the modality gap), so a query lies off the
//! rows and its neighbours are farther and less clustered.
//!
//! The build ([`build`]) and the queries ([`measure`]) are separate calls, so a native
//! caller can read its peak memory between them.

use std::collections::HashMap;

use index_shards::quantize::{dequantize, quantize_row};
use index_shards::synthetic::RareClusterSet;
use index_shards::{
    Centroids, Features, KnnManifest, PartitionConfig, PartitionedKnn, knn_exact, write_knn_lists,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use seeded::below;
use serde::Serialize;

use crate::{median, recall_hits};

/// How far a text-like query is moved off its image row, as a multiple of the row's
/// (unit) length: at 1.2 its cosine to the row is about 0.65 when the offset is
/// orthogonal to it, a little above CLIP's text-to-matching-image cosines of 0.3 to 0.4
/// once both are reduced to the compact space.
const TEXT_OFFSET: f32 = 1.2;

/// The kinds of query measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    /// An image's own row.
    ImageLike,
    /// An image's row moved by the shared text offset.
    TextLike,
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct PartitionedKnnConfig {
    /// The partition (list count, training sample, iterations, seed).
    pub partition: PartitionConfig,
    /// `nprobe` values to measure.
    pub nprobes: Vec<usize>,
    /// Queries of each kind.
    pub queries: usize,
    /// Neighbours per query.
    pub k: usize,
    /// Seed of the query draws.
    pub seed: u64,
}

/// The written partitioned index, held in memory, and what writing it took.
pub struct Built {
    /// The manifest section.
    pub manifest: KnnManifest,
    /// Every file by name.
    pub files: HashMap<String, Vec<u8>>,
    /// Figures of the build.
    pub figures: BuildFigures,
}

/// Figures of the build; times in milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct BuildFigures {
    pub n: usize,
    pub dims: usize,
    pub lists: usize,
    pub train_ms: f64,
    pub write_ms: f64,
    pub centroids_bytes: u64,
    pub list_bytes: u64,
    pub largest_list_rows: u64,
}

/// Figures of one query kind at one `nprobe`; means per query, times medians.
#[derive(Clone, Debug, Serialize)]
pub struct QueryFigures {
    pub kind: QueryKind,
    pub nprobe: usize,
    pub queries: usize,
    pub recall: f64,
    pub bytes: f64,
    pub files: f64,
    /// Checking and adding the fetched lists, then ranking them (nothing loaded before).
    pub ms: f64,
    /// The exact scan of every row, for comparison.
    pub exact_ms: f64,
}

/// Trains the centroids and writes every file of `set`'s partitioned index to memory.
pub fn build(set: &RareClusterSet, partition: &PartitionConfig, now_ms: &dyn Fn() -> f64) -> Built {
    let features = Features::new(&set.features, set.dims).expect("a valid synthetic set");
    let started = now_ms();
    let centroids = Centroids::train(features, partition).expect("a valid partition config");
    let trained = now_ms();
    let mut files = HashMap::new();
    let manifest = write_knn_lists(features, &centroids, |name, bytes| {
        files.insert(name.to_owned(), bytes.to_vec());
        Ok::<_, std::convert::Infallible>(())
    })
    .expect("writing to memory cannot fail");
    let figures = BuildFigures {
        n: set.len(),
        dims: set.dims,
        lists: manifest.lists.len(),
        train_ms: trained - started,
        write_ms: now_ms() - trained,
        centroids_bytes: manifest.centroids.bytes,
        list_bytes: manifest.lists.iter().map(|l| l.bytes).sum(),
        largest_list_rows: manifest.lists.iter().map(|l| l.rows).max().unwrap_or(0),
    };
    Built {
        manifest,
        files,
        figures,
    }
}

/// Seeded queries of `kind`: rows at random ids, moved by the text offset for text-like.
fn queries(set: &RareClusterSet, kind: QueryKind, count: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = set.len() as u32;
    // One offset shared by every text query, as the modality gap is: a drawn row's direction.
    let offset: Vec<f32> = set
        .row(below(&mut rng, n))
        .iter()
        .map(|&v| TEXT_OFFSET * dequantize(v))
        .collect();
    (0..count)
        .map(|_| {
            let row = set.row(below(&mut rng, n));
            match kind {
                QueryKind::ImageLike => row.to_vec(),
                QueryKind::TextLike => {
                    let moved: Vec<f32> = row
                        .iter()
                        .zip(&offset)
                        .map(|(&v, o)| dequantize(v) + o)
                        .collect();
                    quantize_row(&moved)
                }
            }
        })
        .collect()
}

/// Runs every query kind at every `nprobe` of `config` against the exact scan; `log`
/// receives a line per measurement.
pub fn measure(
    set: &RareClusterSet,
    built: &Built,
    config: &PartitionedKnnConfig,
    now_ms: &dyn Fn() -> f64,
    log: &mut dyn FnMut(&str),
) -> Vec<QueryFigures> {
    let features = Features::new(&set.features, set.dims).expect("a valid synthetic set");
    let centroids = &built.files[&built.manifest.centroids.name];
    let mut figures = Vec::new();
    for kind in [QueryKind::ImageLike, QueryKind::TextLike] {
        let queries = queries(set, kind, config.queries, config.seed);
        let mut exact_ms = Vec::new();
        let truths: Vec<_> = queries
            .iter()
            .map(|query| {
                let t0 = now_ms();
                let truth = knn_exact(features, query, config.k).expect("query of the right dims");
                exact_ms.push(now_ms() - t0);
                truth
            })
            .collect();
        let exact_ms = median(&mut exact_ms);
        for &nprobe in &config.nprobes {
            let (mut hits, mut bytes, mut files, mut times) = (0, 0u64, 0usize, Vec::new());
            for (query, truth) in queries.iter().zip(&truths) {
                let mut index =
                    PartitionedKnn::new(&built.manifest, set.dims, set.len() as u64, centroids)
                        .expect("the index just written");
                let t0 = now_ms();
                // A batch of lists at a time, until the probe is complete.
                loop {
                    let fetch: Vec<String> = index
                        .missing_lists(query, nprobe, config.k)
                        .expect("a valid query")
                        .into_iter()
                        .map(|file| {
                            bytes += file.bytes;
                            file.name.clone()
                        })
                        .collect();
                    if fetch.is_empty() {
                        break;
                    }
                    files += fetch.len();
                    for name in &fetch {
                        index
                            .add_list(name, &built.files[name])
                            .expect("a list just written");
                    }
                }
                let found = index
                    .nearest(query, nprobe, config.k)
                    .expect("every probed list added");
                times.push(now_ms() - t0);
                hits += recall_hits(&found, truth);
            }
            let count = queries.len().max(1) as f64;
            let one = QueryFigures {
                kind,
                nprobe,
                queries: queries.len(),
                recall: hits as f64 / truths.iter().map(Vec::len).sum::<usize>().max(1) as f64,
                bytes: bytes as f64 / count,
                files: files as f64 / count,
                ms: median(&mut times),
                exact_ms,
            };
            log(&format!(
                "{kind:?} nprobe {nprobe}: recall@{} {:.4}, {:.0} KiB in {:.1} files per query, {:.2} ms (exact scan {:.2} ms)",
                config.k,
                one.recall,
                one.bytes / 1024.0,
                one.files,
                one.ms,
                one.exact_ms
            ));
            figures.push(one);
        }
    }
    figures
}
