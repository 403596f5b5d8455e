//! Token batches for the text tower and where each row is pooled.
//!
//! CLIP pools the text feature at the end-of-text token, found as the first position of the
//! largest id in the row (OpenAI's and open_clip's `argmax`; the end token 49407 is the
//! largest id). [`TokenBatch`] checks a batch once and keeps those positions, which the
//! early-stopping text tower also uses to cut the sequence short.

/// Why an input could not be encoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The flat id buffer is empty or not a whole number of rows.
    #[error(
        "token ids hold {len} values, not a positive multiple of context length {context_length}"
    )]
    TokenShape {
        /// Values given.
        len: usize,
        /// Row length asked for.
        context_length: usize,
    },
    /// The rows are longer than the model's positional embedding.
    #[error("context length {found} exceeds the model's {max}")]
    ContextTooLong {
        /// Row length given.
        found: usize,
        /// Positional embedding rows.
        max: usize,
    },
    /// An id is outside the vocabulary.
    #[error(
        "token id {id} at row {row}, position {position} is outside the vocabulary of {vocab_size}"
    )]
    TokenOutOfRange {
        /// The id.
        id: u32,
        /// Its row.
        row: usize,
        /// Its position in the row.
        position: usize,
        /// Vocabulary size.
        vocab_size: usize,
    },
    /// Pixels are not `[batch, channels, image_size, image_size]`.
    #[error("image tensor is [_, {found:?}], the model needs [_, {expected:?}]")]
    ImageShape {
        /// `[channels, height, width]` the model needs.
        expected: [usize; 3],
        /// `[channels, height, width]` given.
        found: [usize; 3],
    },
    /// A linear projection's components do not match its input and output widths.
    #[error("projection has {components} components, not input {input} x output {output}")]
    ProjectionShape {
        /// Component values given.
        components: usize,
        /// Input width (mean length).
        input: usize,
        /// Output width.
        output: usize,
    },
}

/// Rows of token ids of one context length, with each row's pooling position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    ids: Vec<u32>,
    context_length: usize,
    end_positions: Vec<usize>,
}

impl TokenBatch {
    /// A batch from row-major ids (as [`crate::Tokenizer::tokenize_batch`] makes them).
    pub fn new(ids: Vec<u32>, context_length: usize) -> Result<Self, EncodeError> {
        if context_length == 0 || ids.is_empty() || !ids.len().is_multiple_of(context_length) {
            return Err(EncodeError::TokenShape {
                len: ids.len(),
                context_length,
            });
        }
        let end_positions = ids
            .chunks(context_length)
            .map(|row| {
                // First occurrence of the maximum, as torch's argmax returns it.
                let max = row.iter().copied().max().unwrap_or(0);
                row.iter().position(|&id| id == max).unwrap_or(0)
            })
            .collect();
        Ok(Self {
            ids,
            context_length,
            end_positions,
        })
    }

    /// Rows in the batch.
    pub fn batch_size(&self) -> usize {
        self.end_positions.len()
    }

    /// Ids per row.
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// The pooling position of each row.
    pub fn end_positions(&self) -> &[usize] {
        &self.end_positions
    }

    /// The first `used` ids of every row, row-major.
    pub(crate) fn truncated(&self, used: usize) -> Vec<i64> {
        self.ids
            .chunks(self.context_length)
            .flat_map(|row| row[..used].iter().map(|&id| i64::from(id)))
            .collect()
    }

    /// Checks the batch against a text tower's vocabulary and context.
    pub(crate) fn check_fits(
        &self,
        vocab_size: usize,
        max_context: usize,
    ) -> Result<(), EncodeError> {
        if self.context_length > max_context {
            return Err(EncodeError::ContextTooLong {
                found: self.context_length,
                max: max_context,
            });
        }
        match self
            .ids
            .iter()
            .enumerate()
            .find(|&(_, &id)| id as usize >= vocab_size)
        {
            Some((index, &id)) => Err(EncodeError::TokenOutOfRange {
                id,
                row: index / self.context_length,
                position: index % self.context_length,
                vocab_size,
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_at_first_largest_id() {
        let batch = TokenBatch::new(vec![49406, 5, 49407, 0, 49406, 49407, 49407, 0], 4).unwrap();
        assert_eq!(batch.end_positions(), &[2, 1]);
        assert_eq!(batch.truncated(2), vec![49406, 5, 49406, 49407]);
    }

    #[test]
    fn ragged_ids_are_refused() {
        assert!(matches!(
            TokenBatch::new(vec![1, 2, 3], 2),
            Err(EncodeError::TokenShape { len: 3, .. })
        ));
        assert!(TokenBatch::new(vec![], 77).is_err());
    }

    #[test]
    fn out_of_vocabulary_id_is_located() {
        let batch = TokenBatch::new(vec![1, 2, 3, 70000], 2).unwrap();
        assert!(matches!(
            batch.check_fits(49408, 77),
            Err(EncodeError::TokenOutOfRange {
                row: 1,
                position: 1,
                ..
            })
        ));
        assert!(matches!(
            batch.check_fits(49408, 1),
            Err(EncodeError::ContextTooLong { found: 2, max: 1 })
        ));
    }
}
