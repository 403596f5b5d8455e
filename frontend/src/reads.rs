//! The requests that read a load's files: a file stored on its own alone, the leaf files
//! of a tree's pack in runs of range requests, or the pack whole.

use index_shards::StoredFile;

/// Leaf files closer than this in their pack are read by one range request, the bytes
/// between them read and dropped: in headless Chromium on a 2-core machine a request costs
/// about as much as 300 kB (2.6 ms against 8.7 ms a MB, fitted to 128 MB read in 123, 490
/// and 1,459 range requests), and the leaf files of a 10M-image ensemble round (3,352 of
/// about 116 kB) lie in 875 runs, 395 with gaps of up to 2 files merged, for 16% more
/// bytes.
pub const MAX_GAP_BYTES: u64 = 256 << 10;
/// A range request reads at most this much (unless one file is larger), so that a round's
/// requests run in parallel and report progress.
pub const MAX_READ_BYTES: u64 = 4 << 20;

/// One request of a load: a file stored on its own, or leaf files from their tree's pack
/// (a range of it, or the whole pack).
#[derive(Debug, PartialEq, Eq)]
pub struct Read {
    /// The file on the host.
    pub stored_in: String,
    /// The bytes asked for, `start..end`; none for the whole file.
    pub range: Option<(u64, u64)>,
    /// The files it holds.
    pub files: Vec<StoredFile>,
}

impl Read {
    /// What the read loads, for a failure.
    pub fn describe(&self) -> String {
        match self.files.as_slice() {
            [file] if file.is_whole() => format!("loading {}", file.name),
            files => format!("loading {} leaf files from {}", files.len(), self.stored_in),
        }
    }
}

/// The requests that read `files`: each file stored on its own alone; leaf files by pack,
/// in runs of range requests (`by_range`), else each pack whole, once.
pub fn plan_reads(files: Vec<StoredFile>, by_range: bool) -> Vec<Read> {
    let mut reads = Vec::new();
    let mut packed: std::collections::BTreeMap<String, Vec<StoredFile>> = Default::default();
    for file in files {
        if file.is_whole() {
            reads.push(Read {
                stored_in: file.stored_in.clone(),
                range: None,
                files: vec![file],
            });
        } else {
            packed.entry(file.stored_in.clone()).or_default().push(file);
        }
    }
    for (pack, mut files) in packed {
        if !by_range {
            reads.push(Read {
                stored_in: pack,
                range: None,
                files,
            });
            continue;
        }
        files.sort_by_key(|f| f.offset);
        let mut run: Vec<StoredFile> = Vec::new();
        let mut flush = |run: &mut Vec<StoredFile>| {
            if let (Some(first), Some(last)) = (run.first(), run.last()) {
                reads.push(Read {
                    stored_in: pack.clone(),
                    range: Some((first.offset, last.offset + last.bytes)),
                    files: std::mem::take(run),
                });
            }
        };
        for file in files {
            if let (Some(first), Some(last)) = (run.first(), run.last())
                && (file.offset > last.offset + last.bytes + MAX_GAP_BYTES
                    || file.offset + file.bytes - first.offset > MAX_READ_BYTES)
            {
                flush(&mut run);
            }
            run.push(file);
        }
        flush(&mut run);
    }
    reads
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(k: u64, offset: u64, bytes: u64) -> StoredFile {
        StoredFile {
            name: format!("tree-000-leaves-{k:04}-{k:04}.0123456789abcdef.shard"),
            stored_in: "tree-000-leaves.fedcba9876543210.shard".into(),
            offset,
            bytes,
        }
    }

    #[test]
    fn leaf_files_are_read_in_runs_merged_across_small_gaps_and_split_when_long() {
        let kib = 1 << 10;
        let whole = StoredFile::whole("tree-000-top.0123456789abcdef.shard", 900);
        let files = vec![
            // Out of order: runs follow the offsets.
            leaf(3, 300 * kib, 100 * kib),
            leaf(0, 0, 100 * kib),
            leaf(1, 100 * kib, 100 * kib),
            whole.clone(),
            // 256 KiB after the run's end: merged.
            leaf(6, 656 * kib, 100 * kib),
            // 257 KiB after: a run of its own.
            leaf(10, 1013 * kib, 100 * kib),
        ];
        let reads = plan_reads(files.clone(), true);
        let ranges: Vec<_> = reads.iter().map(|r| (r.range, r.files.len())).collect();
        assert_eq!(
            ranges,
            [
                (None, 1),
                (Some((0, 756 * kib)), 4),
                (Some((1013 * kib, 1113 * kib)), 1),
            ]
        );
        assert_eq!(reads[0].files, [whole]);
        assert_eq!(
            reads[0].describe(),
            format!("loading {}", reads[0].files[0].name)
        );
        assert!(
            reads[1]
                .describe()
                .starts_with("loading 4 leaf files from tree-000-leaves.")
        );

        // Without ranges: the pack once, whole.
        let reads = plan_reads(files, false);
        assert_eq!(reads.len(), 2);
        assert_eq!((reads[1].range, reads[1].files.len()), (None, 5));

        // A long run is split at MAX_READ_BYTES, never inside a file.
        let long: Vec<_> = (0..100)
            .map(|k| leaf(k, k * 100 * kib, 100 * kib))
            .collect();
        let reads = plan_reads(long, true);
        assert!(reads.len() > 1);
        let mut next = 0;
        for read in &reads {
            let (start, end) = read.range.unwrap();
            assert!(end - start <= MAX_READ_BYTES && start == next, "{read:?}");
            next = end;
        }
        assert_eq!(next, 100 * 100 * kib);
    }
}
