//! A CSV or TSV table that names images (by path, relative to the table's folder, or by URL)
//! and their captions in columns chosen by name. A row that cannot be read (bad quoting,
//! wrong number of fields, invalid UTF-8) or names no image is skipped with its line number;
//! a required column missing from the header is an error.

use std::path::Path;

use dataset::SkippedItem;

use crate::IngestError;
use crate::skipped;

/// Which columns name the image and the caption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvColumns {
    /// Column of image paths (used when `url` is `None`).
    pub file: String,
    /// Column of image URLs; when set, images are downloaded.
    pub url: Option<String>,
    /// Column of captions.
    pub caption: String,
}

impl Default for CsvColumns {
    fn default() -> Self {
        Self {
            file: "filename".into(),
            url: None,
            caption: "caption".into(),
        }
    }
}

/// One readable row: its line number, the image's path or URL, and the raw caption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// 1-based line of the row in the file.
    pub line: u64,
    /// The image cell as written.
    pub image: String,
    /// The caption cell as written.
    pub caption: String,
}

/// Parses `bytes` (a table named `file` in messages) with `delimiter`; rows in file order.
pub fn parse(
    bytes: &[u8],
    delimiter: u8,
    columns: &CsvColumns,
    file: &Path,
) -> Result<(Vec<Row>, Vec<SkippedItem>), IngestError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|source| IngestError::Csv {
            path: file.to_owned(),
            source,
        })?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| IngestError::MissingColumn {
                column: name.to_owned(),
                path: file.to_owned(),
            })
    };
    let image_column = column(columns.url.as_deref().unwrap_or(&columns.file))?;
    let caption_column = column(&columns.caption)?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut rows = Vec::new();
    let mut skips = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                let image = record.get(image_column).unwrap_or("").trim();
                if image.is_empty() {
                    skips.push(skipped(
                        format!("{name}:{line}"),
                        "missing_file",
                        "the image cell is empty",
                    ));
                    continue;
                }
                rows.push(Row {
                    line,
                    image: image.to_owned(),
                    caption: record.get(caption_column).unwrap_or("").to_owned(),
                });
            }
            Err(error) => {
                let line = error.position().map_or(0, |p| p.line());
                skips.push(skipped(
                    format!("{name}:{line}"),
                    "bad_csv_row",
                    error.to_string(),
                ));
            }
        }
    }
    Ok((rows, skips))
}

/// The delimiter of a table by its extension: tab for `.tsv`, else comma.
pub fn delimiter_of(path: &Path) -> u8 {
    let is_tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    if is_tsv { b'\t' } else { b',' }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_csv(text: &str) -> Result<(Vec<Row>, Vec<SkippedItem>), IngestError> {
        parse(
            text.as_bytes(),
            b',',
            &CsvColumns::default(),
            Path::new("/data/list.csv"),
        )
    }

    #[test]
    fn rows_and_bad_rows_with_line_numbers() {
        let text = "caption,filename\n\"a, quoted\",a.jpg\nb,b.jpg,extra\n,\n\"c\nd\",c.jpg\n";
        let (rows, skips) = parse_csv(text).unwrap();
        assert_eq!(
            rows,
            [
                Row {
                    line: 2,
                    image: "a.jpg".into(),
                    caption: "a, quoted".into()
                },
                Row {
                    line: 5,
                    image: "c.jpg".into(),
                    caption: "c\nd".into()
                },
            ]
        );
        let got: Vec<(&str, &str)> = skips
            .iter()
            .map(|s| (s.source.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("list.csv:3", "bad_csv_row"),
                ("list.csv:4", "missing_file")
            ]
        );
    }

    #[test]
    fn a_missing_column_names_column_and_file() {
        let error = parse_csv("file,caption\na.jpg,x\n").unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("filename") && message.contains("/data/list.csv"),
            "{message}"
        );
    }

    #[test]
    fn tsv_by_extension() {
        assert_eq!(delimiter_of(Path::new("x.TSV")), b'\t');
        assert_eq!(delimiter_of(Path::new("x.csv")), b',');
    }
}
