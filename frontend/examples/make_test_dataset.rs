//! Writes the frontend's test datasets: a catalog and dataset folders in the layout of
//! `dataset` (index shards, item chunks, SVG colour-swatch thumbnails), from a seeded
//! synthetic feature set with rare clusters, plus two damaged copies for the error paths.
//!
//! ```sh
//! cargo run --release -p frontend --example make_test_dataset -- OUT [N]
//! ```
//!
//! `OUT/catalog.json` lists `swatches` (N images, default 3000), `broken-features` (a
//! feature shard altered: the dataset cannot open) and `broken-leaves` (every leaf shard
//! altered: k-NN works, box search fails). Same arguments, same bytes. Sets above 10,000
//! images use leaf size 500 and 4 MiB shards (28 trees in all sizes) and get no damaged
//! copies.

use std::fs;
use std::path::{Path, PathBuf};

use dataset::{
    Catalog, CatalogEntry, DATASET_FORMAT_VERSION, DatasetManifest, FileRef, INDEX_MANIFEST_FILE,
    Item, ItemsChunk, hashed_name,
};
use index_shards::synthetic::{RareClusterSet, SyntheticConfig};
use index_shards::{Features, ShardConfig, TreeSet, TreeSetConfig, write_index};

const ITEMS_PER_CHUNK: u32 = 500;

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

fn write_dataset(dir: &Path, n: usize) -> Result<CatalogEntry> {
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
        ShardConfig {
            max_shard_bytes: 16 << 10,
        }
    } else {
        ShardConfig::default()
    };
    let trees = TreeSet::build(&set.features, set.dims, &config)?;
    fs::create_dir_all(dir.join(dataset::THUMBS_DIR))?;
    let mut total = 0u64;
    write_index(
        Features::new(&set.features, set.dims)?,
        &trees,
        &shards,
        |name, bytes| {
            total += bytes.len() as u64;
            fs::write(dir.join(name), bytes)
        },
    )?;
    let cluster_of = |id: u32| {
        set.clusters
            .iter()
            .position(|c| c.binary_search(&id).is_ok())
    };
    let mut items = Vec::new();
    for (k, first) in (0..n).step_by(ITEMS_PER_CHUNK as usize).enumerate() {
        let mut chunk = ItemsChunk {
            first_id: first as u64,
            items: Vec::new(),
        };
        for id in first..(first + ITEMS_PER_CHUNK as usize).min(n) {
            let cluster = cluster_of(id as u32);
            let svg = swatch(&set.features[id * set.dims..], cluster);
            let thumb = format!(
                "{}/{}.svg",
                dataset::THUMBS_DIR,
                blake3::hash(svg.as_bytes()).to_hex()
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
            });
        }
        let json = serde_json::to_vec(&chunk)?;
        let digest = blake3::hash(&json).to_hex().to_string();
        let name = hashed_name(&format!("items-{k:04}"), &digest, "json");
        total += json.len() as u64;
        fs::write(dir.join(&name), &json)?;
        items.push(file_ref(name, &json));
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
        index: INDEX_MANIFEST_FILE.to_owned(),
        items,
        items_per_chunk: ITEMS_PER_CHUNK,
        text: None,
        full_features: None,
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

/// Copies dataset folder `from` to `to` (renamed inside) and flips one byte in the middle
/// of every shard whose name starts with one of `prefixes`.
fn damaged_copy(from: &Path, to: &Path, prefixes: &[&str]) -> Result<()> {
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

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: make_test_dataset OUT [N]")?);
    let n: usize = args.next().map_or(Ok(3000), |a| a.parse())?;
    let main = write_dataset(&out.join("swatches"), n)?;
    let mut catalog = Catalog {
        datasets: vec![main.clone()],
    };
    let damaged: &[(&str, &[&str])] = if n <= 10_000 {
        &[("broken-features", &["features"]), ("broken-leaves", &["tree-"])]
    } else {
        &[]
    };
    for &(name, prefixes) in damaged {
        damaged_copy(&out.join("swatches"), &out.join(name), prefixes)?;
        catalog.datasets.push(CatalogEntry {
            name: name.to_owned(),
            description: format!("{} (damaged copy for tests)", main.description),
            path: name.to_owned(),
            ..main.clone()
        });
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
