//! A CSV or TSV table that names images (by path, relative to the table's folder, or by URL)
//! and their captions in columns chosen by name. A row that cannot be read (bad quoting,
//! wrong number of fields, invalid UTF-8) or names no image is skipped with its line number,
//! and so is every row that a broken quote runs over; a required column missing from the
//! header is an error.

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
    let mut record = csv::StringRecord::new();
    loop {
        let read = reader.read_record(&mut record);
        let end = usize::try_from(reader.position().byte()).unwrap_or(bytes.len());
        let (start, error) = match read {
            Ok(false) => break,
            Ok(true) => (record.position().cloned(), None),
            Err(error) => (error.position().cloned(), Some(error)),
        };
        let line = start.as_ref().map_or(0, csv::Position::line);
        let raw = start
            .and_then(|start| bytes.get(usize::try_from(start.byte()).ok()?..end))
            .unwrap_or_default();
        if let Some(last) = last_line_of_broken_quoting(raw, line, delimiter) {
            // A quote that opens a field and closes anywhere but at a field's end (or
            // never) runs over the rows below it: each is named, none silently lost.
            for lost in line..=last {
                skips.push(skipped(
                    format!("{name}:{lost}"),
                    "bad_csv_row",
                    format!(
                        "inside a quoted field that opens on line {line} and does not close                          at the end of a field (lines {line}-{last} are no rows)"
                    ),
                ));
            }
            continue;
        }
        if let Some(error) = error {
            skips.push(skipped(
                format!("{name}:{line}"),
                "bad_csv_row",
                error.to_string(),
            ));
            continue;
        }
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
    Ok((rows, skips))
}

/// For `raw`, the bytes of one record starting on line `first_line`: its last line when it
/// spans several lines and a quoted field in it is broken (its closing quote is followed
/// by something other than a delimiter or the line's end, or never comes); else `None`.
/// A quoted field that holds a line break and closes properly is a caption with several
/// lines, not a broken row.
fn last_line_of_broken_quoting(raw: &[u8], first_line: u64, delimiter: u8) -> Option<u64> {
    let body = raw.strip_suffix(b"\n").unwrap_or(raw);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let line_breaks = body.iter().filter(|&&b| b == b'\n').count() as u64;
    if line_breaks == 0 {
        return None;
    }
    let ends_a_field =
        |byte: Option<&u8>| byte.is_none_or(|&b| b == delimiter || b == b'\n' || b == b'\r');
    let mut in_quotes = false;
    let mut at_field_start = true;
    let mut index = 0;
    while let Some(&byte) = body.get(index) {
        index += 1;
        if in_quotes {
            if byte == b'"' {
                if body.get(index) == Some(&b'"') {
                    index += 1;
                } else if ends_a_field(body.get(index)) {
                    in_quotes = false;
                } else {
                    return Some(first_line + line_breaks);
                }
            }
        } else if byte == b'"' && at_field_start {
            in_quotes = true;
            at_field_start = false;
        } else {
            at_field_start = byte == delimiter || byte == b'\n' || byte == b'\r';
        }
    }
    in_quotes.then_some(first_line + line_breaks)
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

    /// The issue's probe: a quote broken mid-row swallowed the rows below it into one
    /// caption (or one bad row) and reported at most one skip. Every lost row is named.
    #[test]
    fn a_broken_quote_names_every_row_it_runs_over() {
        let lost_lines = |text: &str| {
            let (rows, skips) = parse_csv(text).unwrap();
            let kept: Vec<u64> = rows.iter().map(|r| r.line).collect();
            let lost: Vec<String> = skips
                .iter()
                .filter(|s| s.reason == "bad_csv_row")
                .map(|s| s.source.clone())
                .collect();
            (kept, lost)
        };
        // Closed by the next quote, which opens a later field.
        assert_eq!(
            lost_lines(
                "filename,caption\na.jpg,\"broken\nb.jpg,x\nc.jpg,x\nd.jpg,\"ok\"\ne.jpg,x\n"
            ),
            (
                vec![6],
                vec![
                    "list.csv:2".into(),
                    "list.csv:3".into(),
                    "list.csv:4".into(),
                    "list.csv:5".into()
                ]
            )
        );
        // Never closed: the rest of the file.
        assert_eq!(
            lost_lines("filename,caption\na.jpg,x\nb.jpg,\"broken\nc.jpg,x\nd.jpg,x"),
            (
                vec![2],
                vec![
                    "list.csv:3".into(),
                    "list.csv:4".into(),
                    "list.csv:5".into()
                ]
            )
        );
        // Opening a row, where csv reports one bad record for three lines.
        assert_eq!(
            lost_lines("filename,caption\n\"a.jpg,x\nb.jpg,x\nc.jpg,\"x\"\nd.jpg,x\n"),
            (
                vec![5],
                vec![
                    "list.csv:2".into(),
                    "list.csv:3".into(),
                    "list.csv:4".into()
                ]
            )
        );
        // A caption of several lines, properly quoted (quotes doubled inside), is a row.
        assert_eq!(
            lost_lines("filename,caption\na.jpg,\"two\n\"\"lines\"\"\"\nb.jpg,x\n"),
            (vec![2, 4], vec![])
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
