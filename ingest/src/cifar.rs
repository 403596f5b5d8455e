//! CIFAR-10 batches in both published formats, from a folder, a `.tar.gz` archive or a
//! single batch file: binary batches (`data_batch_N.bin`, `test_batch.bin`: records of one
//! label byte and 3072 pixel bytes) and python batches (`data_batch_N`, `test_batch`: a
//! pickled dict with `data`, an (n, 3072) `uint8` array, and `labels`). Pixels are stored
//! as three 32x32 planes, red then green then blue.

use std::io::Read;
use std::path::Path;

use dataset::SkippedItem;
use image::{ImageEncoder, codecs::png::PngEncoder};

use crate::local_file::{open_regular_file, read_regular_file};
use crate::pickle::{self, Value};
use crate::source::{Candidate, ImageData, SourceCaption, SourceItems};
use crate::{IngestError, NoProgress, skipped};

/// The class names, by label.
pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// Bytes of one image's pixels.
pub const PIXELS: usize = 3 * 32 * 32;

/// One CIFAR image: its label and its pixels as three planes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CifarImage {
    /// The class label, 0..10 in a valid file.
    pub label: u8,
    /// Red, green and blue planes of 32x32 bytes.
    pub planes: Vec<u8>,
}

impl CifarImage {
    /// The image as PNG bytes (deterministic: the same pixels give the same bytes).
    pub fn to_png(&self) -> Vec<u8> {
        let mut rgb = Vec::with_capacity(PIXELS);
        for i in 0..1024 {
            rgb.extend([self.planes[i], self.planes[1024 + i], self.planes[2048 + i]]);
        }
        let mut png = Vec::new();
        PngEncoder::new(&mut png)
            .write_image(&rgb, 32, 32, image::ExtendedColorType::Rgb8)
            .expect("encoding a 32x32 RGB image to memory cannot fail");
        png
    }
}

/// Which format a batch file is in, by its name (`None`: not a batch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchFormat {
    /// `*.bin`: fixed 3073-byte records.
    Binary,
    /// No extension: a python pickle.
    Pickle,
}

/// The format of a file named `name`, if it is a CIFAR batch.
pub fn batch_format(name: &str) -> Option<BatchFormat> {
    let (stem, format) = match name.strip_suffix(".bin") {
        Some(stem) => (stem, BatchFormat::Binary),
        None => (name, BatchFormat::Pickle),
    };
    let is_batch = stem == "test_batch"
        || stem
            .strip_prefix("data_batch_")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    is_batch.then_some(format)
}

/// The records of a binary batch; a trailing partial record is reported as its length.
pub fn parse_binary_batch(bytes: &[u8]) -> (Vec<CifarImage>, Option<usize>) {
    let records = bytes.chunks_exact(PIXELS + 1);
    let rest = records.remainder().len();
    let images = records
        .map(|record| CifarImage {
            label: record[0],
            planes: record[1..].to_vec(),
        })
        .collect();
    (images, (rest > 0).then_some(rest))
}

/// Why a python batch could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PickleBatchError {
    /// Not a pickle this reader understands.
    #[error(transparent)]
    Pickle(#[from] pickle::PickleError),
    /// The pickle is not the dict of `data` and `labels` a batch holds.
    #[error("not a CIFAR batch: {0}")]
    Layout(&'static str),
}

/// The images of a python (pickle) batch.
pub fn parse_pickle_batch(bytes: &[u8]) -> Result<Vec<CifarImage>, PickleBatchError> {
    let batch = pickle::parse(bytes)?;
    let labels = match batch.get("labels").or_else(|| batch.get("fine_labels")) {
        Some(Value::List(labels)) => labels
            .iter()
            .map(|l| match l {
                Value::Int(v) => u8::try_from(*v).ok(),
                _ => None,
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or(PickleBatchError::Layout("a label is not a small integer"))?,
        _ => return Err(PickleBatchError::Layout("no `labels` list")),
    };
    let data = array_bytes(
        batch
            .get("data")
            .ok_or(PickleBatchError::Layout("no `data` array"))?,
    )?;
    if data.len() != labels.len() * PIXELS {
        return Err(PickleBatchError::Layout(
            "`data` does not hold 3072 bytes per label",
        ));
    }
    Ok(labels
        .iter()
        .zip(data.chunks_exact(PIXELS))
        .map(|(&label, planes)| CifarImage {
            label,
            planes: planes.to_vec(),
        })
        .collect())
}

/// The raw bytes of a pickled C-order `uint8` numpy array (`_reconstruct` + `BUILD` state
/// `(version, shape, dtype, is_fortran, data)`).
fn array_bytes(array: &Value) -> Result<&[u8], PickleBatchError> {
    let Value::Call {
        state: Some(state), ..
    } = array
    else {
        return Err(PickleBatchError::Layout("`data` is not a numpy array"));
    };
    let Value::Tuple(fields) = state.as_ref() else {
        return Err(PickleBatchError::Layout("numpy array state is not a tuple"));
    };
    let [
        _,
        Value::Tuple(shape),
        dtype,
        Value::Bool(fortran),
        Value::Bytes(data),
    ] = fields.as_slice()
    else {
        return Err(PickleBatchError::Layout("unexpected numpy array state"));
    };
    let is_u8 = matches!(dtype, Value::Call { args, .. }
        if matches!(args.as_ref(), Value::Tuple(a) if a.first() == Some(&Value::Str("u1".into()))));
    if !is_u8 {
        return Err(PickleBatchError::Layout("`data` is not a uint8 array"));
    }
    if *fortran && shape.len() > 1 {
        return Err(PickleBatchError::Layout("`data` is in Fortran order"));
    }
    Ok(data)
}

/// One batch file's name (relative to the input) and contents.
struct Batch {
    name: String,
    format: BatchFormat,
    bytes: Vec<u8>,
}

/// Every image of the batches under `input` (a folder, a `.tar.gz`/`.tgz` archive, or one
/// batch file), batches in name order.
pub fn read(input: &Path) -> Result<SourceItems, IngestError> {
    let mut batches = read_batches(input)?;
    if batches.is_empty() {
        return Err(IngestError::NoCifarBatches {
            path: input.to_owned(),
        });
    }
    batches.sort_by(|a, b| a.name.cmp(&b.name));
    let mut items = SourceItems::default();
    for batch in batches {
        let images = match batch.format {
            BatchFormat::Binary => {
                let (images, rest) = parse_binary_batch(&batch.bytes);
                if let Some(rest) = rest {
                    items.skipped.push(skipped(
                        format!("{}#{}", batch.name, images.len()),
                        "truncated_record",
                        format!("{rest} trailing bytes, a record holds {}", PIXELS + 1),
                    ));
                }
                images
            }
            BatchFormat::Pickle => match parse_pickle_batch(&batch.bytes) {
                Ok(images) => images,
                Err(error) => {
                    items.skipped.push(skipped(
                        batch.name.clone(),
                        "unreadable_batch",
                        error.to_string(),
                    ));
                    continue;
                }
            },
        };
        for (index, image) in images.iter().enumerate() {
            let source = format!("{}#{index}", batch.name);
            match CLASSES.get(usize::from(image.label)) {
                Some(class) => items.candidates.push(Candidate {
                    label: source.clone(),
                    source,
                    caption: SourceCaption::Paired((*class).to_owned()),
                    image: ImageData::Memory {
                        bytes: image.to_png(),
                        ext: "png",
                        work_folder: "cifar",
                    },
                }),
                None => items.skipped.push(SkippedItem {
                    source,
                    reason: "bad_label".into(),
                    detail: format!("label {} is not a CIFAR-10 class (0..10)", image.label),
                }),
            }
        }
    }
    Ok(items)
}

fn read_batches(input: &Path) -> Result<Vec<Batch>, IngestError> {
    let io = |source| IngestError::Read {
        path: input.to_owned(),
        source,
    };
    let input_file = |source| IngestError::InputFile {
        path: input.to_owned(),
        source,
    };
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if input.is_dir() {
        let mut batches = Vec::new();
        for file in crate::folder::walk(input, &NoProgress)? {
            let file_name = file.rsplit('/').next().unwrap_or(&file);
            if let Some(format) = batch_format(file_name) {
                let path = input.join(&file);
                let bytes = read_regular_file(&path, u64::MAX)
                    .map_err(|source| IngestError::InputFile { path, source })?;
                batches.push(Batch {
                    name: file,
                    format,
                    bytes,
                });
            }
        }
        Ok(batches)
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        let file = open_regular_file(input).map_err(input_file)?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        let mut batches = Vec::new();
        for entry in archive.entries().map_err(io)? {
            let mut entry = entry.map_err(io)?;
            let path = entry.path().map_err(io)?.to_string_lossy().into_owned();
            let file_name = path.rsplit('/').next().unwrap_or(&path);
            if let Some(format) = batch_format(file_name) {
                let mut bytes = Vec::new();
                entry.read_to_end(&mut bytes).map_err(io)?;
                batches.push(Batch {
                    name: path,
                    format,
                    bytes,
                });
            }
        }
        Ok(batches)
    } else {
        match batch_format(&name) {
            Some(format) => Ok(vec![Batch {
                bytes: read_regular_file(input, u64::MAX).map_err(input_file)?,
                name,
                format,
            }]),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_batches() {
        assert_eq!(batch_format("data_batch_3.bin"), Some(BatchFormat::Binary));
        assert_eq!(batch_format("test_batch"), Some(BatchFormat::Pickle));
        assert_eq!(batch_format("batches.meta"), None);
        assert_eq!(batch_format("data_batch_.bin"), None);
        assert_eq!(batch_format("data_batch_1.txt"), None);
    }

    #[test]
    fn binary_records_and_a_partial_tail() {
        let mut bytes = vec![7u8];
        bytes.extend((0..PIXELS).map(|i| (i % 251) as u8));
        bytes.extend([1, 2, 3]);
        let (images, rest) = parse_binary_batch(&bytes);
        assert_eq!(images.len(), 1);
        assert_eq!(images[0].label, 7);
        assert_eq!(images[0].planes[250], 250);
        assert_eq!(rest, Some(3));
    }

    #[test]
    fn png_interleaves_the_planes() {
        let mut planes = vec![0u8; PIXELS];
        planes[0] = 10; // red of pixel 0
        planes[1024] = 20; // green of pixel 0
        planes[2048 + 1] = 30; // blue of pixel 1
        let png = CifarImage { label: 0, planes }.to_png();
        let rgb = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(rgb.get_pixel(0, 0).0, [10, 20, 0]);
        assert_eq!(rgb.get_pixel(1, 0).0, [0, 0, 30]);
    }

    #[test]
    fn a_pickle_without_labels_is_a_layout_error() {
        // {'data': None}
        let p = [
            0x80, 2, b'}', 0x8c, 4, b'd', b'a', b't', b'a', b'N', b's', b'.',
        ];
        let error = parse_pickle_batch(&p).unwrap_err();
        assert!(error.to_string().contains("labels"), "{error}");
    }
}
