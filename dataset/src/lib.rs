//! The dataset folder: what `precompute build` writes and what the frontend reads.
//!
//! A dataset is a folder that any static host can serve. Every file except the one entry
//! point ([`DATASET_FILE`]) has a content-hashed name (`<stem>.<first 16 hex of
//! blake3>.<ext>`), so hosts may cache them forever, and a rebuild switches a served folder
//! from the old dataset to the new one with the single rename of `dataset.json`:
//!
//! ```text
//! DIR/
//!   dataset.json                         DatasetManifest (written last: its presence marks a complete dataset)
//!   manifest.<hash>.json                 index-shards manifest (features and kd-tree shards)
//!   *.shard                              index shards (see index-shards)
//!   items-0000.<hash>.json               ItemsChunk: captions, thumbnails, sources, dates taken of ids [first_id, first_id + n)
//!   items-page-00000.<hash>.bin          the blake3 of up to 256 chunks (items_table)
//!   items-top.<hash>.bin                 the blake3 of every page, named by dataset.json's items
//!   thumbs/<hash>.jpg                    thumbnails, named by the blake3 of their own bytes
//!   text-encoder.<hash>.safetensors      the text tower for the browser (clip::export, f16 or int8)
//!   reduction.<hash>.safetensors         the map from CLIP space to the index's compact space
//!   text-head.<hash>.safetensors         or the paper's text head, in its place
//!   image-encoder.<hash>.safetensors     the image tower for queries by image (clip::export, f16 or int8)
//!   image-head.<hash>.safetensors        the paper's image head, where the text head is
//!   report.json                          IngestReport: counts (uncaptioned items too) and skipped items
//! ```
//!
//! This crate only defines the types, their JSON and the items table's files; it does no
//! I/O.

pub mod items_table;

use serde::{Deserialize, Serialize};

pub use items_table::ItemsTable;

/// Version of [`DatasetManifest`]'s layout; bumped on any incompatible change. 2: the item
/// chunks are named by a table ([`ItemsTable`]), no longer listed in `dataset.json`.
pub const DATASET_FORMAT_VERSION: u32 = 2;
/// The dataset manifest's file name inside a dataset folder.
pub const DATASET_FILE: &str = "dataset.json";
/// The index manifest's name in an index folder (`precompute index`), and in dataset
/// folders written before the manifest was content-named; readers follow
/// [`DatasetManifest::index`].
pub const INDEX_MANIFEST_FILE: &str = "manifest.json";
/// The ingest report's file name inside a dataset folder.
pub const REPORT_FILE: &str = "report.json";
/// The catalog's file name (beside the dataset folders it lists).
pub const CATALOG_FILE: &str = "catalog.json";
/// Sub-folder of a dataset folder that holds the thumbnails.
pub const THUMBS_DIR: &str = "thumbs";

/// A JPEG thumbnail's name in the dataset folder: `thumbs/<the first 16 hex of its
/// blake3>.jpg`, so hosts may cache it forever and a damaged one is told by its bytes.
pub fn thumb_name(jpeg: &[u8]) -> String {
    format!("{THUMBS_DIR}/{}.jpg", &blake3::hash(jpeg).to_hex()[..16])
}

/// Why a dataset document could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The JSON is malformed or misses a field (serde's message names line, column and field).
    #[error("{file}: {source}")]
    Json {
        /// The document's file name.
        file: &'static str,
        /// serde's error.
        source: serde_json::Error,
    },
    /// Search settings the app cannot use.
    #[error("{file}: {source}")]
    Settings {
        /// The document's file name.
        file: &'static str,
        /// What is wrong, naming the field.
        source: SettingsError,
    },
    /// `items` do not fit `count`.
    #[error("{source}")]
    Items {
        /// What disagrees.
        source: items_table::ItemsTableError,
    },
    /// A document of another format version.
    #[error(
        "{file}: format version {found}, this build reads {expected}: rebuild the dataset with \
         `precompute build` (the same arguments as before)"
    )]
    Version {
        /// The document's file name.
        file: &'static str,
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
}

/// A file of the dataset folder, named by its content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// Path relative to the dataset folder, `/`-separated.
    pub name: String,
    /// Size in bytes.
    pub bytes: u64,
    /// blake3 of the whole file, 64 lower-case hex digits.
    pub blake3: String,
}

/// `dataset.json`: everything a client needs to open a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetManifest {
    /// [`DATASET_FORMAT_VERSION`].
    pub format_version: u32,
    /// Short name, e.g. `shapes-demo`.
    pub name: String,
    /// One sentence for people.
    pub description: String,
    /// Images in the collection; ids are `0..count`.
    pub count: u64,
    /// Dims of the compact features the index holds.
    pub dims: usize,
    /// The index manifest's name in the folder: `manifest.<hash>.json`, named by its
    /// content as every file but this one is (older folders: [`INDEX_MANIFEST_FILE`]).
    pub index: String,
    /// Item metadata in chunks of consecutive ids, found through a table of their hashes.
    pub items: ItemsTable,
    /// How text queries are encoded; `None` for a dataset without a text encoder
    /// (then only "more like this" and saved searches work).
    pub text: Option<TextEncoder>,
    /// How an image of the user's own becomes a query (the image tower, loaded only when
    /// used); absent in older folders and in datasets built without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageEncoder>,
    /// Full-dimension int8 image features (for exact text search and re-ranking).
    pub full_features: Option<FullFeatures>,
    /// The app's search settings for this dataset (`precompute build --search FILE`);
    /// absent in older folders and when not given: the app's own defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchSettings>,
}

/// The searchers an app may offer, by the names its URL uses: decision branches, their
/// ensemble, the decision tree and the random forest.
pub const SEARCHER_NAMES: [&str; 4] = ["db", "ens", "dtree", "rf"];

/// A slider's range and where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slider {
    /// The lowest value.
    pub min: u32,
    /// The highest value.
    pub max: u32,
    /// The value it starts at, in `min..=max`.
    pub default: u32,
}

impl Slider {
    /// Whether the slider lies within `limits` and starts inside its own range.
    fn check(
        &self,
        field: &'static str,
        limits: std::ops::RangeInclusive<u32>,
    ) -> Result<(), SettingsError> {
        let invalid = |problem: String| Err(SettingsError::Invalid { field, problem });
        if self.min > self.max {
            return invalid(format!("min {} is above max {}", self.min, self.max));
        }
        if !limits.contains(&self.min) || !limits.contains(&self.max) {
            return invalid(format!(
                "min {} and max {} must lie in {}..={}",
                self.min,
                self.max,
                limits.start(),
                limits.end()
            ));
        }
        if !(self.min..=self.max).contains(&self.default) {
            return invalid(format!(
                "default {} is outside min {} ..= max {}",
                self.default, self.min, self.max
            ));
        }
        Ok(())
    }
}

/// A dataset's search settings, as the app uses them: which searchers it offers (the first
/// is the default), the ranges and starting values of its two sliders, and the classifiers'
/// training settings. Any field left out takes the app's default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchSettings {
    /// The searchers offered, by [`SEARCHER_NAMES`], the default first.
    pub searchers: Vec<String>,
    /// Random images added as irrelevant each round (within 0..=1000).
    pub random_negatives: Slider,
    /// How many times each irrelevant image counts (within 1..=100).
    pub negative_weight: Slider,
    /// `branches::TrainingSettings` as JSON (any of its fields; the rest at their
    /// defaults): this crate leaves it to those who know `branches` to read and check.
    pub training: serde_json::Map<String, serde_json::Value>,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            searchers: SEARCHER_NAMES.iter().map(|&n| n.to_owned()).collect(),
            random_negatives: Slider {
                min: 0,
                max: 1000,
                default: 500,
            },
            negative_weight: Slider {
                min: 1,
                max: 100,
                default: 1,
            },
            training: serde_json::Map::new(),
        }
    }
}

/// Why search settings are not usable, naming the field (`search.<field>`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingsError {
    /// A field's value is out of what the app can offer.
    #[error("search.{field}: {problem}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

impl SearchSettings {
    /// Parses search settings from JSON and checks them ([`Self::check`]).
    ///
    /// # Errors
    /// [`DatasetError::Json`] (serde's message names an unknown field) or
    /// [`DatasetError::Settings`].
    pub fn from_json(text: &str) -> Result<Self, DatasetError> {
        let settings: Self = serde_json::from_str(text).map_err(|source| DatasetError::Json {
            file: "search settings",
            source,
        })?;
        settings.check().map_err(|source| DatasetError::Settings {
            file: "search settings",
            source,
        })?;
        Ok(settings)
    }

    /// Checks what serde cannot: known, distinct searchers, at least one; sliders within
    /// the app's limits, each starting inside its range.
    ///
    /// # Errors
    /// [`SettingsError`] naming the first field at fault.
    pub fn check(&self) -> Result<(), SettingsError> {
        let invalid = |problem: String| {
            Err(SettingsError::Invalid {
                field: "searchers",
                problem,
            })
        };
        if self.searchers.is_empty() {
            return invalid("offer at least one searcher".to_owned());
        }
        for (k, name) in self.searchers.iter().enumerate() {
            if !SEARCHER_NAMES.contains(&name.as_str()) {
                return invalid(format!(
                    "unknown searcher {name:?} (known: {})",
                    SEARCHER_NAMES.join(", ")
                ));
            }
            if self.searchers[..k].contains(name) {
                return invalid(format!("{name:?} is listed twice"));
            }
        }
        self.random_negatives.check("random_negatives", 0..=1000)?;
        self.negative_weight.check("negative_weight", 1..=100)
    }
}

/// The browser's text encoder and the way from its output to the index's space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextEncoder {
    /// Where the model came from (a path or hub name), for people.
    pub model: String,
    /// The text tower weights (`clip::export` layout, open_clip names).
    pub weights: FileRef,
    /// The text tower's config: `clip::TextConfig` as JSON.
    pub config: serde_json::Value,
    /// Width of the joint embedding (the text projection's output).
    pub projection_dim: usize,
    /// The map to the compact space.
    pub reduction: Reduction,
}

/// The image tower for queries by image, as precompute encoded the collection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageEncoder {
    /// The image tower weights (`clip::export` layout, open_clip names).
    pub weights: FileRef,
    /// The image tower's config: `clip::VisionConfig` as JSON.
    pub config: serde_json::Value,
    /// Width of the joint embedding (the image projection's output).
    pub projection_dim: usize,
    /// Pixel rows cut from the bottom of every image before CLIP's preprocessing, as the
    /// collection's were (`precompute build --bottom-crop`).
    pub bottom_crop: usize,
    /// The map to the compact space: the text encoder's PCA, or the paper's image head
    /// (`image_head.*`).
    pub reduction: Reduction,
}

/// How CLIP features become the index's compact features (then L2-normalised and
/// quantised with `index_shards::quantize_row`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reduction {
    /// `y = (x / |x| - mean) @ components^T`; the file holds f32 tensors `mean` (d) and
    /// `components` (dims, d), fitted on the image features.
    Pca {
        /// safetensors file with `mean` and `components`.
        file: FileRef,
    },
    /// The paper's learned head (clip::FeatureHead weights in the file: `text_head.*` for
    /// the text encoder, `image_head.*` for the image encoder).
    Head {
        /// safetensors file of the head.
        file: FileRef,
    },
    /// The CLIP features are used as they are (dims == projection_dim).
    Identity,
}

/// Full-dimension image features, int8 per row (`round(127 * x / |x|)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FullFeatures {
    /// Dims of a row.
    pub dims: usize,
    /// Row-major i8 rows, in id order, possibly split into several files.
    pub files: Vec<FileRef>,
    /// Rows per file (the last may hold fewer).
    pub rows_per_file: u64,
}

/// One image of the collection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// The caption after clean-up (may be empty when the source has none).
    pub caption: String,
    /// The thumbnail, relative to the dataset folder (`thumbs/<hash>.jpg`).
    pub thumb: String,
    /// Where the original is: a path relative to the ingested source, or a URL.
    pub source: String,
    /// Original width in pixels.
    pub width: u32,
    /// Original height in pixels.
    pub height: u32,
    /// When the photo was taken, from its EXIF (`DateTimeOriginal`, else
    /// `DateTimeDigitized`, else `DateTime`): ISO 8601 in the camera's local time,
    /// `2023-05-01T14:02:33`, with its UTC offset (`+02:00`) when the EXIF gives one.
    /// Absent when unknown; item chunks written before this field read as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_taken: Option<String>,
}

/// `items-NNNN.<hash>.json`: the metadata of a run of consecutive ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemsChunk {
    /// Id of the first item.
    pub first_id: u64,
    /// Items `first_id..first_id + items.len()`.
    pub items: Vec<Item>,
}

/// One item that ingest skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedItem {
    /// The item as the source names it (path, CSV line, URL).
    pub source: String,
    /// Machine-readable reason, e.g. `undecodable`, `too_small`, `duplicate`, `empty_caption`.
    pub reason: String,
    /// Details for people (decoder message, sizes, the duplicate's source).
    pub detail: String,
}

/// `report.json`: what ingest took and what it skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Items taken into the dataset.
    pub ingested: u64,
    /// Items taken without a caption (their source gave none, or only a file name that
    /// describes nothing, such as `IMG_1234`); text search finds them by their image.
    /// Reports written before this count read as 0.
    #[serde(default)]
    pub uncaptioned: u64,
    /// Items skipped, all reasons together.
    pub skipped: u64,
    /// Skipped items per reason.
    pub skipped_by_reason: std::collections::BTreeMap<String, u64>,
    /// Every skipped item.
    pub skipped_items: Vec<SkippedItem>,
}

/// `catalog.json`: the datasets a frontend offers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// The datasets, in display order.
    pub datasets: Vec<CatalogEntry>,
}

/// One dataset of the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// The dataset's name (as in its manifest).
    pub name: String,
    /// One sentence for people.
    pub description: String,
    /// Images in the dataset.
    pub count: u64,
    /// Total bytes of the dataset's files.
    pub bytes: u64,
    /// The dataset folder, relative to the catalog (ends without `/`).
    pub path: String,
}

impl DatasetManifest {
    /// Parses `dataset.json` and checks its format version.
    pub fn from_json(text: &str) -> Result<Self, DatasetError> {
        #[derive(Deserialize)]
        struct Version {
            format_version: u32,
        }
        let version: Version = serde_json::from_str(text).map_err(|source| DatasetError::Json {
            file: DATASET_FILE,
            source,
        })?;
        if version.format_version != DATASET_FORMAT_VERSION {
            return Err(DatasetError::Version {
                file: DATASET_FILE,
                found: version.format_version,
                expected: DATASET_FORMAT_VERSION,
            });
        }
        let manifest: Self = serde_json::from_str(text).map_err(|source| DatasetError::Json {
            file: DATASET_FILE,
            source,
        })?;
        if let Some(search) = &manifest.search {
            search.check().map_err(|source| DatasetError::Settings {
                file: DATASET_FILE,
                source,
            })?;
        }
        manifest
            .items
            .check(manifest.count)
            .map_err(|source| DatasetError::Items { source })?;
        Ok(manifest)
    }

    /// The metadata chunk that holds `id` and the id's position in it.
    pub fn chunk_of(&self, id: u64) -> Option<(u64, usize)> {
        if id >= self.count {
            return None;
        }
        self.items.chunk_of(id)
    }
}

impl Catalog {
    /// Parses `catalog.json`.
    pub fn from_json(text: &str) -> Result<Self, DatasetError> {
        serde_json::from_str(text).map_err(|source| DatasetError::Json {
            file: CATALOG_FILE,
            source,
        })
    }
}

/// `<stem>.<first 16 hex of the hash>.<ext>`: the content-hashed name of a dataset file.
pub fn hashed_name(stem: &str, blake3_hex: &str, ext: &str) -> String {
    let short = blake3_hex.get(..16).unwrap_or(blake3_hex);
    format!("{stem}.{short}.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(count: u64, per: u32, chunks: usize) -> DatasetManifest {
        let hashes: Vec<[u8; 32]> = (0..chunks).map(|k| [k as u8; 32]).collect();
        DatasetManifest {
            format_version: DATASET_FORMAT_VERSION,
            name: "t".into(),
            description: String::new(),
            count,
            dims: 32,
            index: INDEX_MANIFEST_FILE.into(),
            items: items_table::table_files(&hashes, per, 2).0,
            text: None,
            image: None,
            full_features: None,
            search: None,
        }
    }

    #[test]
    fn manifest_round_trips_and_checks_version() {
        let m = manifest(25, 10, 3);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(DatasetManifest::from_json(&json).unwrap(), m);
        // Version 1 listed every chunk in dataset.json: refused with how to rebuild.
        let older = json.replace("\"format_version\":2", "\"format_version\":1");
        let err = DatasetManifest::from_json(&older).unwrap_err().to_string();
        assert!(
            err.contains(
                "format version 1, this build reads 2: rebuild the dataset with `precompute build`"
            ),
            "{err}"
        );
        let err = DatasetManifest::from_json("{\"format_version\":2}").unwrap_err();
        assert!(err.to_string().contains("missing field"), "{err}");
        // A table that does not fit the count.
        let short = DatasetManifest {
            count: 35,
            ..m.clone()
        };
        let err = DatasetManifest::from_json(&serde_json::to_string(&short).unwrap()).unwrap_err();
        assert!(
            err.to_string().starts_with("dataset.json: items: 3 chunks"),
            "{err}"
        );
    }

    #[test]
    fn search_settings_are_optional_checked_and_name_the_field_at_fault() {
        // Older dataset.json: no `search`; it opens, and a manifest without one writes none.
        let m = manifest(25, 10, 3);
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("\"search\""), "{json}");
        assert_eq!(DatasetManifest::from_json(&json).unwrap().search, None);

        let settings = SearchSettings::from_json(
            r#"{"searchers": ["ens", "dtree"], "random_negatives": {"min": 0, "max": 200, "default": 50},
                "training": {"ensemble_models": 5}}"#,
        )
        .unwrap();
        assert_eq!(settings.searchers, ["ens", "dtree"]);
        assert_eq!(settings.random_negatives.default, 50);
        assert_eq!(
            settings.negative_weight,
            SearchSettings::default().negative_weight,
            "left out: the default"
        );
        assert_eq!(settings.training["ensemble_models"], 5);
        let with = DatasetManifest {
            search: Some(settings),
            ..m.clone()
        };
        let json = serde_json::to_string(&with).unwrap();
        assert_eq!(DatasetManifest::from_json(&json).unwrap(), with);

        let error = |text: &str| SearchSettings::from_json(text).unwrap_err().to_string();
        for (text, names) in [
            (
                r#"{"searchers": ["db", "svm"]}"#,
                "search.searchers: unknown searcher \"svm\"",
            ),
            (
                r#"{"searchers": []}"#,
                "search.searchers: offer at least one",
            ),
            (
                r#"{"searchers": ["rf", "rf"]}"#,
                "search.searchers: \"rf\" is listed twice",
            ),
            (
                r#"{"random_negatives": {"min": 0, "max": 100, "default": 500}}"#,
                "search.random_negatives: default 500 is outside min 0 ..= max 100",
            ),
            (
                r#"{"negative_weight": {"min": 0, "max": 10, "default": 1}}"#,
                "search.negative_weight: min 0 and max 10 must lie in 1..=100",
            ),
            (
                r#"{"negative_weight": {"min": 9, "max": 3, "default": 4}}"#,
                "search.negative_weight: min 9 is above max 3",
            ),
            (
                r#"{"random_negative": {}}"#,
                "unknown field `random_negative`",
            ),
        ] {
            let message = error(text);
            assert!(message.contains(names), "{text}: {message}");
        }
        // In dataset.json too, which then does not open.
        let bad = json.replace("\"ens\"", "\"svm\"");
        let message = DatasetManifest::from_json(&bad).unwrap_err().to_string();
        assert!(
            message.starts_with("dataset.json: search.searchers: unknown searcher"),
            "{message}"
        );
    }

    #[test]
    fn chunk_of_maps_ids_to_chunks() {
        let m = manifest(25, 10, 3);
        assert_eq!(m.chunk_of(0), Some((0, 0)));
        assert_eq!(m.chunk_of(19), Some((1, 9)));
        assert_eq!(m.chunk_of(24), Some((2, 4)));
        assert_eq!(m.chunk_of(25), None);
    }

    #[test]
    fn reduction_is_tagged() {
        let r = Reduction::Identity;
        assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"kind":"identity"}"#);
    }

    #[test]
    fn report_counts_uncaptioned_items_and_reads_older_reports() {
        let report = IngestReport {
            ingested: 3,
            uncaptioned: 2,
            ..IngestReport::default()
        };
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"uncaptioned\":2"), "{json}");
        assert_eq!(serde_json::from_str::<IngestReport>(&json).unwrap(), report);
        let older = r#"{"ingested":3,"skipped":0,"skipped_by_reason":{},"skipped_items":[]}"#;
        let read: IngestReport = serde_json::from_str(older).unwrap();
        assert_eq!((read.ingested, read.uncaptioned), (3, 0));
    }

    #[test]
    fn items_carry_their_date_taken_and_older_chunks_read_without_it() {
        let item = |date_taken: Option<&str>| Item {
            caption: "a dog".into(),
            thumb: "thumbs/0123456789abcdef.jpg".into(),
            source: "IMG_0001.jpg".into(),
            width: 4032,
            height: 3024,
            date_taken: date_taken.map(str::to_owned),
        };
        let chunk = ItemsChunk {
            first_id: 7,
            items: vec![item(Some("2023-05-01T14:02:33+02:00")), item(None)],
        };
        let json = serde_json::to_string(&chunk).unwrap();
        assert_eq!(
            json.matches("\"date_taken\":\"2023-05-01T14:02:33+02:00\"")
                .count(),
            1
        );
        // Unknown dates are left out, so a chunk of undated items is written as before.
        assert_eq!(json.matches("date_taken").count(), 1, "{json}");
        assert_eq!(serde_json::from_str::<ItemsChunk>(&json).unwrap(), chunk);
        let older = r#"{"first_id":0,"items":[{"caption":"c","thumb":"thumbs/x.jpg","source":"x.jpg","width":2,"height":3}]}"#;
        let read: ItemsChunk = serde_json::from_str(older).unwrap();
        assert_eq!(read.items[0].date_taken, None);
    }

    #[test]
    fn hashed_names() {
        let h = "0123456789abcdef0123";
        assert_eq!(
            hashed_name("items-0001", h, "json"),
            "items-0001.0123456789abcdef.json"
        );
    }
}
