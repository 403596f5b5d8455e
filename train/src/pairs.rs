//! Which captions of a collection describe which images, for the contrastive targets: a
//! caption describes every image it captions anywhere in the collection. Captions that name
//! only some attributes ("green hearts") caption many images, and a batch that holds two of
//! them must not push either image away from the other's caption.

use std::collections::{HashMap, HashSet};

use crate::loss::Positives;

/// The collection's `(image, caption text)` pairs, captions compared as exact strings.
#[derive(Debug, Clone)]
pub struct CaptionPairs {
    /// The distinct text of each caption row.
    text_of: Vec<u32>,
    /// The image of each caption row.
    image_of: Vec<u32>,
    /// Every `(image, text)` some row pairs.
    described: HashSet<(u32, u32)>,
}

impl CaptionPairs {
    /// Caption row `r` has text `captions[r]` and captions image `image_of[r]`.
    ///
    /// # Panics
    /// When the two slices differ in length or hold over 2^32 images or texts.
    pub fn new<S: AsRef<str>>(image_of: &[usize], captions: &[S]) -> Self {
        assert_eq!(image_of.len(), captions.len(), "one image per caption row");
        let mut texts: HashMap<&str, u32> = HashMap::new();
        let text_of: Vec<u32> = captions
            .iter()
            .map(|caption| {
                let next = u32::try_from(texts.len()).expect("under 2^32 texts");
                *texts.entry(caption.as_ref()).or_insert(next)
            })
            .collect();
        let image_of: Vec<u32> = image_of
            .iter()
            .map(|&i| u32::try_from(i).expect("under 2^32 images"))
            .collect();
        let described = image_of
            .iter()
            .copied()
            .zip(text_of.iter().copied())
            .collect();
        Self {
            text_of,
            image_of,
            described,
        }
    }

    /// The targets of a batch of caption rows: the image of row `rows[i]` against the text
    /// of row `rows[j]`.
    pub fn positives(&self, rows: &[usize]) -> Positives {
        Positives::from_fn(rows.len(), |i, j| {
            self.described
                .contains(&(self.image_of[rows[i]], self.text_of[rows[j]]))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caption_describes_every_image_it_captions_and_no_other() {
        // Images 0 and 1 are both "green hearts"; image 2 is not.
        let image_of = [0, 0, 1, 1, 2];
        let captions = [
            "two small green hearts",
            "green hearts",
            "one green heart",
            "green hearts",
            "red stars",
        ];
        let pairs = CaptionPairs::new(&image_of, &captions);
        // Rows 0 (image 0's own caption), 3 (image 1's "green hearts") and 4.
        let positives = pairs.positives(&[0, 3, 4]);
        assert_eq!(positives, Positives::from_fn(3, |i, j| (i, j) == (0, 1)));
        assert_eq!(positives.shared(), 1);
        // Distinct texts only: the diagonal.
        assert_eq!(pairs.positives(&[0, 2, 4]), Positives::diagonal(3));
    }
}
