//! Item metadata (captions, thumbnails, sources, dates taken) from the dataset's
//! `items-NNNN` chunks, and any other dataset file, each checked against `dataset.json`
//! before use: size, blake3, and the id range the manifest says it covers. [`caption_line`]
//! is what a tile says of its item.

use dataset::{DatasetManifest, FileRef, Item, ItemsChunk};

/// What tile `id` says of `item`: its caption, or `image N` for an uncaptioned photo (a
/// camera-named file), then the date it was taken when known, to the minute
/// (`beach · 2023-05-01 14:02`).
pub fn caption_line(id: u32, item: &Item) -> String {
    let caption = if item.caption.is_empty() {
        format!("image {id}")
    } else {
        item.caption.clone()
    };
    match &item.date_taken {
        // `YYYY-MM-DDTHH:MM` of the ISO 8601 date; one of another shape is shown whole.
        Some(date) => {
            let minute = date.get(..16).unwrap_or(date).replacen('T', " ", 1);
            format!("{caption} · {minute}")
        }
        None => caption,
    }
}

/// Why an items chunk was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ItemsError {
    /// `dataset.json` lists no chunk `chunk`.
    #[error("items chunk {chunk} is not in dataset.json")]
    NoSuchChunk {
        /// The chunk asked for.
        chunk: usize,
    },
    /// The bytes differ from what `dataset.json` says (size or hash).
    #[error("{file}: {what} is {actual}, dataset.json says {expected}")]
    Mismatch {
        /// The chunk's file name.
        file: String,
        /// `size` or `blake3`.
        what: &'static str,
        /// What dataset.json says.
        expected: String,
        /// What the bytes are.
        actual: String,
    },
    /// The JSON is malformed or covers other ids.
    #[error("{file}: {reason}")]
    Content {
        /// The chunk's file name.
        file: String,
        /// What is wrong.
        reason: String,
    },
}

/// Checks `bytes` against `file` (size, then blake3).
///
/// # Errors
/// [`ItemsError::Mismatch`] naming the file and what differs.
pub fn check_file(file: &FileRef, bytes: &[u8]) -> Result<(), ItemsError> {
    let mismatch = |what, expected: String, actual: String| ItemsError::Mismatch {
        file: file.name.clone(),
        what,
        expected,
        actual,
    };
    if bytes.len() as u64 != file.bytes {
        return Err(mismatch(
            "size",
            file.bytes.to_string(),
            bytes.len().to_string(),
        ));
    }
    let hash = blake3::hash(bytes).to_hex();
    if hash.as_str() != file.blake3 {
        return Err(mismatch("blake3", file.blake3.clone(), hash.to_string()));
    }
    Ok(())
}

/// Checks the bytes of chunk `chunk` of `manifest` and parses them.
///
/// # Errors
/// [`ItemsError`] naming the file and what is wrong.
pub fn parse_chunk(
    manifest: &DatasetManifest,
    chunk: usize,
    bytes: &[u8],
) -> Result<ItemsChunk, ItemsError> {
    let file = manifest
        .items
        .get(chunk)
        .ok_or(ItemsError::NoSuchChunk { chunk })?;
    check_file(file, bytes)?;
    let content = |reason: String| ItemsError::Content {
        file: file.name.clone(),
        reason,
    };
    let parsed: ItemsChunk = serde_json::from_slice(bytes).map_err(|e| content(e.to_string()))?;
    let per = u64::from(manifest.items_per_chunk);
    let first = chunk as u64 * per;
    let expected_len = per.min(manifest.count.saturating_sub(first));
    if parsed.first_id != first || parsed.items.len() as u64 != expected_len {
        return Err(content(format!(
            "covers ids {}..{}, expected {first}..{}",
            parsed.first_id,
            parsed.first_id + parsed.items.len() as u64,
            first + expected_len
        )));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use dataset::DATASET_FORMAT_VERSION;

    use super::*;

    fn chunk_bytes(first_id: u64, n: usize) -> Vec<u8> {
        let item = Item {
            caption: "c".into(),
            thumb: "thumbs/t.svg".into(),
            source: "s".into(),
            width: 1,
            height: 1,
            date_taken: None,
        };
        serde_json::to_vec(&ItemsChunk {
            first_id,
            items: vec![item; n],
        })
        .unwrap()
    }

    fn manifest(chunks: &[&[u8]]) -> DatasetManifest {
        DatasetManifest {
            format_version: DATASET_FORMAT_VERSION,
            name: "t".into(),
            description: String::new(),
            count: 5,
            dims: 32,
            index: "manifest.json".into(),
            items: chunks
                .iter()
                .enumerate()
                .map(|(k, bytes)| FileRef {
                    name: format!("items-{k:04}.json"),
                    bytes: bytes.len() as u64,
                    blake3: blake3::hash(bytes).to_hex().to_string(),
                })
                .collect(),
            items_per_chunk: 3,
            text: None,
            full_features: None,
            search: None,
        }
    }

    #[test]
    fn good_chunks_parse_and_bad_ones_are_named() {
        let (a, b) = (chunk_bytes(0, 3), chunk_bytes(3, 2));
        let m = manifest(&[&a, &b]);
        assert_eq!(parse_chunk(&m, 1, &b).unwrap().items.len(), 2);
        let err = parse_chunk(&m, 0, &b).unwrap_err();
        assert!(
            err.to_string().starts_with("items-0000.json: size"),
            "{err}"
        );
        let mut flipped = a.clone();
        flipped[2] ^= 1;
        let err = parse_chunk(&m, 0, &flipped).unwrap_err();
        assert!(err.to_string().contains("blake3"), "{err}");
        assert!(matches!(
            parse_chunk(&m, 2, &a),
            Err(ItemsError::NoSuchChunk { chunk: 2 })
        ));
    }

    #[test]
    fn a_chunk_must_cover_the_ids_the_manifest_gives_it() {
        let (a, wrong) = (chunk_bytes(0, 3), chunk_bytes(4, 2));
        let m = manifest(&[&a, &wrong]);
        let err = parse_chunk(&m, 1, &wrong).unwrap_err();
        assert!(err.to_string().contains("expected 3..5"), "{err}");
    }

    #[test]
    fn the_caption_line_adds_the_date_taken() {
        let mut item = Item {
            caption: "beach".into(),
            thumb: "thumbs/t.jpg".into(),
            source: "IMG_0001.jpg".into(),
            width: 1,
            height: 1,
            date_taken: None,
        };
        assert_eq!(caption_line(7, &item), "beach");
        item.date_taken = Some("2023-05-01T14:02:33+02:00".into());
        assert_eq!(caption_line(7, &item), "beach · 2023-05-01 14:02");
        item.caption.clear();
        assert_eq!(caption_line(7, &item), "image 7 · 2023-05-01 14:02");
        item.date_taken = Some("2023-05".into());
        assert_eq!(caption_line(7, &item), "image 7 · 2023-05");
    }
}
