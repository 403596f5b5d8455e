//! What every source produces: an ordered list of candidate items (where the image bytes
//! are, the raw caption, the name the dataset keeps) and the items it could not even
//! propose (a bad CSV row, a failed download). How an input's kind is told is
//! [`crate::input_kind`], which reads sources; this module reads none.

use std::path::PathBuf;

use dataset::SkippedItem;

/// Where a candidate's image bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageData {
    /// A file: the original, or a cached download.
    File(PathBuf),
    /// Bytes made in memory (a CIFAR record as PNG); ingest writes them to
    /// `OUT/.work/<work_folder>/<16 hex of their blake3>.<ext>` when the item is kept.
    Memory {
        /// The encoded image.
        bytes: Vec<u8>,
        /// Its file extension.
        ext: &'static str,
        /// The folder under `OUT/.work/`.
        work_folder: &'static str,
    },
}

/// One item a source proposes, before filtering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// What the dataset keeps as the item's source (a relative path or a URL).
    pub source: String,
    /// How a report names the item when it is skipped (adds a line number for CSV rows).
    pub label: String,
    /// The caption as the source gives it, before clean-up.
    pub caption: SourceCaption,
    /// The image bytes.
    pub image: ImageData,
}

/// A candidate's caption as its source gives it, before clean-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceCaption {
    /// The text the source pairs with the image (a CSV cell, a URL list's caption, a
    /// CIFAR class): when it is empty or describes nothing the item is skipped
    /// (`empty_caption`, `junk_caption`), as the reference's preprocessing drops bad
    /// image-text pairs.
    Paired(String),
    /// A caption the image may lack (a sidecar `.txt`, a file name): when it describes
    /// nothing the item is kept without a caption, since CLIP searches the image itself.
    Optional(String),
}

impl SourceCaption {
    /// The text, before clean-up.
    pub fn text(&self) -> &str {
        match self {
            Self::Paired(text) | Self::Optional(text) => text,
        }
    }
}

/// A source's candidates in their deterministic order, and what it skipped itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceItems {
    /// Items to filter, in order.
    pub candidates: Vec<Candidate>,
    /// Items the source could not propose.
    pub skipped: Vec<SkippedItem>,
}
