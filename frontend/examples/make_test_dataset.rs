//! Writes the frontend's test datasets: a catalog and dataset folders in the layout of
//! `dataset` (index shards, item chunks, SVG colour-swatch thumbnails), from a seeded
//! synthetic feature set with rare clusters, plus two damaged copies for the error paths.
//!
//! ```sh
//! cargo run --release -p frontend --example make_test_dataset -- OUT [N] [LISTS]
//! ```
//!
//! `OUT/catalog.json` lists `swatches` (N images, default 3000), `swatches-text` (the same
//! with a text encoder: the tiny random open_clip fixture of `clip/fixtures` and a seeded
//! random PCA, so text queries run end to end though their neighbours mean nothing),
//! `swatches-tuned` (the same with search settings of its own in `dataset.json`),
//! `broken-features` (a feature shard altered: the dataset cannot open) and
//! `broken-leaves` (every tree top and leaf pack altered: k-NN works, box search fails),
//! `swatches-partitioned` (the same images with a partitioned k-NN of 100 lists, 60 probed
//! per query, fetched per query instead of every feature shard at open, and row blocks of
//! 64 rows with a pool of 1,000 random negatives, read by id instead of every feature shard
//! at the first round) and `swatches-large` (60,000 images, more than the app keeps every
//! file of: its rounds read leaf files by range requests). Same arguments, same bytes. Sets above
//! 10,000 images use leaf size 500 and 4 MiB shards (28 trees in all sizes) and get no
//! damaged copies; from `index_shards::MIN_PARTITIONED_ROWS` images on, the main set has
//! the partitioned k-NN and row blocks `precompute build` gives such a set (about sqrt(N)
//! lists, blocks of 256 rows, the default pool); LISTS
//! sets the main set's lists instead (0: none, the exact scan), so one machine can serve
//! both layouts of one collection side by side.

use std::fs;
use std::path::{Path, PathBuf};

use branches::{NegativePool, PoolSettings};
use dataset::{
    Catalog, CatalogEntry, DATASET_FORMAT_VERSION, DatasetManifest, FileRef, ImageEncoder, Item,
    ItemsChunk, Reduction, TextEncoder, hashed_name, items_table,
};
use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
use index_shards::{
    Centroids, Features, MANIFEST_NAME, MIN_PARTITIONED_ROWS, Manifest, PartitionConfig,
    RowBlocksConfig, ShardConfig, TreeSet, TreeSetConfig, write_index, write_knn_lists,
    write_row_blocks,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn file_ref(name: String, bytes: &[u8]) -> FileRef {
    FileRef {
        name,
        bytes: bytes.len() as u64,
        blake3: blake3::hash(bytes).to_hex().to_string(),
    }
}

/// A swatch of the colour of the row's first three dims, four levels a channel (so few
/// distinct thumbnails), with the cluster's number when it has one.
fn swatch(row: &[u8], cluster: Option<usize>) -> String {
    let level = |v: u8| (v / 64) * 85;
    let (r, g, b) = (level(row[0]), level(row[1]), level(row[2]));
    let mark = cluster.map_or(String::new(), |c| {
        format!(
            r#"<text x="32" y="42" font-size="28" text-anchor="middle" fill="white">{c}</text>"#
        )
    });
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="rgb({r},{g},{b})"/>{mark}</svg>"#
    )
}

/// Writes the k-NN lists of `config` for `features` into `dir` and names them in `index`.
fn add_knn_lists(
    dir: &Path,
    features: Features<'_>,
    config: &PartitionConfig,
    index: &mut Manifest,
    total: &mut u64,
) -> Result<()> {
    let centroids = Centroids::train(features, config)?;
    index.knn = Some(write_knn_lists(features, &centroids, |name, bytes| {
        *total += bytes.len() as u64;
        fs::write(dir.join(name), bytes)
    })?);
    Ok(())
}

/// Writes the row blocks and the pool of random negatives for `features` into `dir` and
/// names them in `index`, as `precompute build` does beside a partitioned k-NN; a `small`
/// set gets small blocks and pages and a pool of 1,000, so that each layer shows.
fn add_row_blocks(
    dir: &Path,
    features: Features<'_>,
    small: bool,
    index: &mut Manifest,
    total: &mut u64,
) -> Result<()> {
    let (pool, config) = if small {
        let pool = PoolSettings {
            size: Some(1000),
            ..PoolSettings::default()
        };
        let config = RowBlocksConfig {
            block_rows: 64,
            blocks_per_page: 8,
        };
        (pool, config)
    } else {
        (PoolSettings::default(), RowBlocksConfig::default())
    };
    let pool = NegativePool::new(features.len() as u32, pool);
    index.rows = Some(write_row_blocks(
        features,
        pool.ids(),
        &config,
        |name, bytes| {
            *total += bytes.len() as u64;
            fs::write(dir.join(name), bytes)
        },
    )?);
    Ok(())
}

/// Writes dataset `dir` of `n` images; `knn_lists` partitions its k-NN (default: as
/// `precompute build` does for `n` images).
fn write_dataset(dir: &Path, n: usize, knn_lists: Option<usize>) -> Result<CatalogEntry> {
    let set = RareClusterSet::generate(&SyntheticConfig {
        n,
        rare_clusters: 3,
        rare_cluster_size: (n / 50).max(10),
        ..SyntheticConfig::default()
    });
    // Small sets get small leaves and shards, so that lazy loading shows; large ones the
    // reference leaf size and index-shards' default shard size.
    let small = n <= 10_000;
    let config = TreeSetConfig {
        leaf_size: if small { 32 } else { 500 },
        subsets: vec![(4, 16), (6, 8), (8, 4)],
        seed: 7,
    };
    let shards = if small {
        ShardConfig::uniform(16 << 10)
    } else {
        ShardConfig::default()
    };
    let trees = TreeSet::build(&set.features, set.dims, &config)?;
    fs::create_dir_all(dir.join(dataset::THUMBS_DIR))?;
    let mut total = 0u64;
    let features = Features::new(&set.features, set.dims)?;
    let mut index = write_index(features, &trees, &shards, |name, bytes| {
        if name == MANIFEST_NAME {
            // Content-named below, as `precompute build` names it.
            return Ok(());
        }
        total += bytes.len() as u64;
        fs::write(dir.join(name), bytes)
    })?;
    let partition = match knn_lists {
        Some(0) => None,
        Some(lists) => Some(PartitionConfig {
            lists,
            ..PartitionConfig::for_rows(n)
        }),
        None => (n >= MIN_PARTITIONED_ROWS).then(|| PartitionConfig::for_rows(n)),
    };
    if let Some(partition) = partition {
        add_knn_lists(dir, features, &partition, &mut index, &mut total)?;
        add_row_blocks(dir, features, small, &mut index, &mut total)?;
    }
    let index = write_hashed(dir, "manifest", "json", &index.to_json())?;
    total += index.bytes;
    let cluster_of = |id: u32| {
        set.clusters
            .iter()
            .position(|c| c.binary_search(&id).is_ok())
    };
    let mut chunk_hashes = Vec::new();
    for (k, first) in (0..n)
        .step_by(items_table::ITEMS_PER_CHUNK as usize)
        .enumerate()
    {
        let mut chunk = ItemsChunk {
            first_id: first as u64,
            items: Vec::new(),
        };
        for id in first..(first + items_table::ITEMS_PER_CHUNK as usize).min(n) {
            let cluster = cluster_of(id as u32);
            let svg = swatch(&set.features[id * set.dims..], cluster);
            // Named by content as ingest names a thumbnail (16 hex), so hosts cache it.
            let thumb = format!(
                "{}/{}.svg",
                dataset::THUMBS_DIR,
                &blake3::hash(svg.as_bytes()).to_hex()[..16]
            );
            if !dir.join(&thumb).exists() {
                total += svg.len() as u64;
                fs::write(dir.join(&thumb), &svg)?;
            }
            let caption = match cluster {
                Some(c) => format!("swatch {id}, rare cluster {c}"),
                None => format!("swatch {id}"),
            };
            chunk.items.push(Item {
                caption,
                thumb,
                source: format!("swatch-{id:06}.svg"),
                width: 64,
                height: 64,
                date_taken: None,
            });
        }
        let json = serde_json::to_vec(&chunk)?;
        let digest = blake3::hash(&json);
        let name = items_table::chunk_name(k as u64, &digest.to_hex());
        total += json.len() as u64;
        fs::write(dir.join(&name), &json)?;
        chunk_hashes.push(*digest.as_bytes());
    }
    let (items, table_files) = items_table::table_files(
        &chunk_hashes,
        items_table::ITEMS_PER_CHUNK,
        items_table::CHUNKS_PER_PAGE,
    );
    for (name, bytes) in table_files {
        total += bytes.len() as u64;
        fs::write(dir.join(&name), &bytes)?;
    }
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("swatches");
    let manifest = DatasetManifest {
        format_version: DATASET_FORMAT_VERSION,
        name: name.to_owned(),
        description: format!("{n} synthetic colour swatches with 3 rare clusters"),
        count: n as u64,
        dims: set.dims,
        index: index.name,
        items,
        text: None,
        image: None,
        full_features: None,
        search: None,
    };
    let json = serde_json::to_vec_pretty(&manifest)?;
    total += json.len() as u64;
    fs::write(dir.join(dataset::DATASET_FILE), json)?;
    Ok(CatalogEntry {
        name: manifest.name,
        description: manifest.description,
        count: n as u64,
        bytes: total,
        path: name.to_owned(),
    })
}

/// The open_clip test model of the clip crate (`clip/fixtures/open_clip.json`): width 12,
/// 3 heads, 2 layers, a 10-d joint embedding.
const FIXTURE_WEIGHTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../clip/fixtures/open_clip.safetensors"
);
const FIXTURE_EMBED_DIM: usize = 10;

/// A safetensors file of f32 tensors (header padded to 8 bytes, as the format advises).
fn safetensors_f32(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let start = data.len();
        data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        header.insert(
            (*name).to_owned(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut header = serde_json::Value::Object(header).to_string().into_bytes();
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend(data);
    out
}

/// Values in [-1, 1) from a seeded splitmix64 (exact integer arithmetic).
fn seeded_values(seed: u64, n: usize) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn write_hashed(dir: &Path, stem: &str, ext: &str, bytes: &[u8]) -> Result<FileRef> {
    let digest = blake3::hash(bytes).to_hex().to_string();
    let name = hashed_name(stem, &digest, ext);
    fs::write(dir.join(&name), bytes)?;
    Ok(file_ref(name, bytes))
}

/// The reduction of a fixture text encoder.
#[derive(Clone, Copy, PartialEq)]
enum FixtureReduction {
    /// A random PCA: a working text search.
    Pca,
    /// A text head whose file does not match its blake3 in `dataset.json`.
    CorruptHead,
    /// A text head whose file is not in the folder.
    MissingHead,
}

/// Adds the fixture text encoder and its reduction to the dataset folder `dir` (and, with
/// the working PCA, the fixture's image encoder).
fn add_text_encoder(dir: &Path, kind: FixtureReduction) -> Result<()> {
    let weights = write_hashed(
        dir,
        "text-encoder",
        "safetensors",
        &fs::read(FIXTURE_WEIGHTS)?,
    )?;
    let path = dir.join(dataset::DATASET_FILE);
    let mut manifest = DatasetManifest::from_json(&fs::read_to_string(&path)?)?;
    let pca = safetensors_f32(&[
        (
            "mean",
            vec![FIXTURE_EMBED_DIM],
            vec![0.0; FIXTURE_EMBED_DIM],
        ),
        (
            "components",
            vec![manifest.dims, FIXTURE_EMBED_DIM],
            seeded_values(11, manifest.dims * FIXTURE_EMBED_DIM),
        ),
        ("variances", vec![manifest.dims], vec![1.0; manifest.dims]),
    ]);
    let reduction = match kind {
        FixtureReduction::Pca => Reduction::Pca {
            file: write_hashed(dir, "reduction", "safetensors", &pca)?,
        },
        FixtureReduction::CorruptHead | FixtureReduction::MissingHead => {
            // Any bytes do: the app must refuse the file before reading it.
            let file = write_hashed(dir, "text-head", "safetensors", &pca)?;
            let path = dir.join(&file.name);
            if kind == FixtureReduction::MissingHead {
                fs::remove_file(path)?;
            } else {
                let mut bytes = fs::read(&path)?;
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0x5a;
                fs::write(path, bytes)?;
            }
            Reduction::Head { file }
        }
    };
    manifest.text = Some(TextEncoder {
        model: "clip/fixtures/open_clip (random test weights)".to_owned(),
        weights,
        config: serde_json::json!({
            "vocab_size": 49408, "hidden_size": 12, "intermediate_size": 48,
            "num_attention_heads": 3, "num_hidden_layers": 2, "max_position_embeddings": 77,
            "hidden_act": "gelu", "layer_norm_eps": 1e-5
        }),
        projection_dim: FIXTURE_EMBED_DIM,
        reduction: reduction.clone(),
    });
    // The same file holds the fixture's image tower: a working (if meaningless) search by
    // image, beside the working text search.
    if kind == FixtureReduction::Pca {
        manifest.image = Some(ImageEncoder {
            weights: manifest.text.as_ref().expect("set above").weights.clone(),
            config: serde_json::json!({
                "image_size": 32, "patch_size": 8, "num_channels": 3, "hidden_size": 24,
                "intermediate_size": 96, "num_attention_heads": 3, "num_hidden_layers": 2,
                "hidden_act": "gelu", "layer_norm_eps": 1e-5
            }),
            projection_dim: FIXTURE_EMBED_DIM,
            bottom_crop: 0,
            reduction,
        });
    }
    fs::write(path, serde_json::to_vec_pretty(&manifest)?)?;
    Ok(())
}

/// Gives the dataset at `dir` search settings of its own (as `precompute build --search`
/// writes them): the ensemble and the decision tree only, narrower sliders, a smaller
/// ensemble.
fn add_search_settings(dir: &Path) -> Result<()> {
    let path = dir.join(dataset::DATASET_FILE);
    let mut manifest = DatasetManifest::from_json(&fs::read_to_string(&path)?)?;
    manifest.search = Some(dataset::SearchSettings::from_json(
        r#"{"searchers": ["ens", "dtree"], "random_negatives": {"min": 0, "max": 200, "default": 50},
            "negative_weight": {"min": 1, "max": 10, "default": 3}, "training": {"ensemble_models": 5}}"#,
    )?);
    fs::write(path, serde_json::to_vec_pretty(&manifest)?)?;
    Ok(())
}

/// Copies dataset folder `from` to `to` (renamed inside), flipping one byte in the middle
/// of every file whose name starts with one of `prefixes` (none: a plain copy).
fn copy_dataset(from: &Path, to: &Path, prefixes: &[&str]) -> Result<()> {
    fs::create_dir_all(to.join(dataset::THUMBS_DIR))?;
    for entry in fs::read_dir(from)?.chain(fs::read_dir(from.join(dataset::THUMBS_DIR))?) {
        let path = entry?.path();
        if path.is_dir() {
            continue;
        }
        let relative = path.strip_prefix(from)?;
        let name = relative.to_string_lossy();
        let mut bytes = fs::read(&path)?;
        if prefixes.iter().any(|p| name.starts_with(p)) {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x5a;
        }
        if name == dataset::DATASET_FILE {
            let mut manifest = DatasetManifest::from_json(std::str::from_utf8(&bytes)?)?;
            manifest.name = to
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_owned();
            bytes = serde_json::to_vec_pretty(&manifest)?;
        }
        fs::write(to.join(relative), bytes)?;
    }
    Ok(())
}

/// Images of `swatches-large`.
const LARGE_IMAGES: usize = 60_000;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(
        args.next()
            .ok_or("usage: make_test_dataset OUT [N] [LISTS]")?,
    );
    let n: usize = args.next().map_or(Ok(3000), |a| a.parse())?;
    let lists: Option<usize> = args.next().map(|a| a.parse()).transpose()?;
    let main = write_dataset(&out.join("swatches"), n, lists)?;
    let mut catalog = Catalog {
        datasets: vec![main.clone()],
    };
    let copies: &[(&str, &[&str])] = if n <= 10_000 {
        &[
            ("swatches-text", &[]),
            ("swatches-tuned", &[]),
            ("broken-features", &["features"]),
            ("broken-leaves", &["tree-"]),
            ("corrupt-head", &[]),
            ("missing-head", &[]),
        ]
    } else if n <= 1_000_000 {
        &[("swatches-text", &[])]
    } else {
        // A copy of a larger set only fills the disk: the scale bench uses `swatches`.
        &[]
    };
    for &(name, prefixes) in copies {
        copy_dataset(&out.join("swatches"), &out.join(name), prefixes)?;
        let reduction = match name {
            "swatches-text" => Some(FixtureReduction::Pca),
            "corrupt-head" => Some(FixtureReduction::CorruptHead),
            "missing-head" => Some(FixtureReduction::MissingHead),
            _ => None,
        };
        if let Some(reduction) = reduction {
            add_text_encoder(&out.join(name), reduction)?;
        }
        if name == "swatches-tuned" {
            add_search_settings(&out.join(name))?;
        }
        catalog.datasets.push(CatalogEntry {
            name: name.to_owned(),
            description: match (name, prefixes) {
                ("swatches-text", _) => format!("{} and a test text encoder", main.description),
                ("swatches-tuned", _) => {
                    format!("{} and its own search settings", main.description)
                }
                (_, []) => format!("{} (damaged text head, for tests)", main.description),
                _ => format!("{} (damaged copy for tests)", main.description),
            },
            path: name.to_owned(),
            ..main.clone()
        });
    }
    if n <= 10_000 {
        let mut partitioned = write_dataset(&out.join("swatches-partitioned"), n, Some(100))?;
        partitioned.description = format!(
            "{} and a partitioned k-NN (100 lists) and row blocks",
            main.description
        );
        catalog.datasets.push(partitioned);
        // Past the size whose every file the app keeps (the search worker's
        // KEEP_EVERY_FILE_MAX_IMAGES, 50,000 images): its rounds read their leaf files from
        // the packs by range requests.
        let mut large = write_dataset(&out.join("swatches-large"), LARGE_IMAGES, None)?;
        large.description = format!(
            "{LARGE_IMAGES} synthetic colour swatches with 3 rare clusters, leaf files read by range"
        );
        catalog.datasets.push(large);
    }
    fs::write(
        out.join(dataset::CATALOG_FILE),
        serde_json::to_vec_pretty(&catalog)?,
    )?;
    println!(
        "wrote {} ({} images, {} bytes per dataset)",
        out.display(),
        n,
        main.bytes
    );
    Ok(())
}
