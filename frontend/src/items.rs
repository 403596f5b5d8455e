//! Item metadata (captions, thumbnails, sources, dates taken) from the dataset's
//! `items-NNNN` chunks, each checked against the hash its table page holds and the id range
//! it covers, and any other dataset file against `dataset.json` (size, blake3).
//! [`caption_line`] is what a tile says of its item.

use dataset::items_table::{ItemsTableError, ListedFile, TableFile};
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
    /// The file is no item chunk, or one past the table's.
    #[error("{file} is no items chunk of dataset.json")]
    NoSuchChunk {
        /// The file asked for.
        file: String,
    },
    /// The bytes are not those the table names (its hash).
    #[error(transparent)]
    Table(#[from] ItemsTableError),
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

/// Checks the bytes of the item chunk `file` (named by its table page) of `manifest` and
/// parses them.
///
/// # Errors
/// [`ItemsError`] naming the file and what is wrong.
pub fn parse_chunk(
    manifest: &DatasetManifest,
    file: &ListedFile,
    bytes: &[u8],
) -> Result<ItemsChunk, ItemsError> {
    let no_such = || ItemsError::NoSuchChunk {
        file: file.name.clone(),
    };
    let TableFile::Chunk(chunk) = file.role else {
        return Err(no_such());
    };
    if chunk >= manifest.items.chunks {
        return Err(no_such());
    }
    file.check(bytes)?;
    let content = |reason: String| ItemsError::Content {
        file: file.name.clone(),
        reason,
    };
    let parsed: ItemsChunk = serde_json::from_slice(bytes).map_err(|e| content(e.to_string()))?;
    let per = u64::from(manifest.items.items_per_chunk);
    let first = chunk * per;
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
    use dataset::items_table::{chunk_name, table_files};

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
        let hashes: Vec<[u8; 32]> = chunks.iter().map(|c| *blake3::hash(c).as_bytes()).collect();
        DatasetManifest {
            format_version: DATASET_FORMAT_VERSION,
            name: "t".into(),
            description: String::new(),
            count: 5,
            dims: 32,
            index: "manifest.json".into(),
            items: table_files(&hashes, 3, 256).0,
            text: None,
            image: None,
            full_features: None,
            search: None,
        }
    }

    /// The file of chunk `k` of the chunks `all`, as its page names it.
    fn listed(k: u64, all: &[&[u8]]) -> ListedFile {
        let hash = blake3::hash(all[k as usize]);
        ListedFile {
            name: chunk_name(k, &hash.to_hex()),
            role: TableFile::Chunk(k),
            blake3: *hash.as_bytes(),
        }
    }

    #[test]
    fn good_chunks_parse_and_bad_ones_are_named() {
        let (a, b) = (chunk_bytes(0, 3), chunk_bytes(3, 2));
        let all: [&[u8]; 2] = [&a, &b];
        let m = manifest(&all);
        assert_eq!(
            parse_chunk(&m, &listed(1, &all), &b).unwrap().items.len(),
            2
        );
        let first = listed(0, &all);
        let err = parse_chunk(&m, &first, &b).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(&format!("{}: blake3", first.name)),
            "{err}"
        );
        let mut flipped = a.clone();
        flipped[2] ^= 1;
        let err = parse_chunk(&m, &first, &flipped).unwrap_err();
        assert!(err.to_string().contains("blake3"), "{err}");
        let past = ListedFile {
            role: TableFile::Chunk(2),
            ..first.clone()
        };
        assert!(matches!(
            parse_chunk(&m, &past, &a),
            Err(ItemsError::NoSuchChunk { .. })
        ));
    }

    #[test]
    fn a_chunk_must_cover_the_ids_the_manifest_gives_it() {
        let (a, wrong) = (chunk_bytes(0, 3), chunk_bytes(4, 2));
        let all: [&[u8]; 2] = [&a, &wrong];
        let m = manifest(&all);
        let err = parse_chunk(&m, &listed(1, &all), &wrong).unwrap_err();
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
