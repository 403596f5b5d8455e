//! The one error type of the crate: every way a request, a model or an index can be wrong.

/// Why training or searching failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request names no relevant image, so there is nothing to learn.
    #[error("request has no positives")]
    NoPositives,
    /// An id in the request is not an image of the index.
    #[error("{field} id {id} is out of range: the index has {len} images")]
    IdOutOfRange {
        /// The request field that holds the id.
        field: &'static str,
        /// The offending id.
        id: u32,
        /// Number of images in the index.
        len: u32,
    },
    /// An id is labelled both relevant and irrelevant.
    #[error("id {id} is both in positives and in negatives")]
    PositiveAlsoNegative {
        /// The id with two labels.
        id: u32,
    },
    /// The index holds no image.
    #[error("index is empty")]
    EmptyIndex,
    /// The index has no feature subsets, so no box can be grown or queried.
    #[error("index has no feature subsets")]
    NoSubsets,
    /// A feature subset of the index is empty, repeats a dim or names a dim out of range.
    #[error("subset {subset} of the index is invalid: {reason}")]
    InvalidSubset {
        /// Position of the subset in the index.
        subset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A setting is outside its valid range.
    #[error("setting {name} = {value} is out of range {range}")]
    SettingOutOfRange {
        /// The setting's field name.
        name: &'static str,
        /// The value given.
        value: f64,
        /// The valid range, as text.
        range: &'static str,
    },
    /// The request would train for too long: its settings times its training rows are
    /// past [`crate::MAX_TRAINING_WORK`].
    #[error(
        "the {searcher} would train on {rows} rows for about {work} steps, over the limit of \
         {limit}: lower {settings}, or label fewer images"
    )]
    TooMuchTraining {
        /// The searcher trained.
        searcher: &'static str,
        /// Training rows (labelled and random negatives, weights counted).
        rows: usize,
        /// The estimate, in [`crate::MAX_TRAINING_WORK`]'s steps.
        work: u64,
        /// [`crate::MAX_TRAINING_WORK`].
        limit: u64,
        /// The settings that scale the work.
        settings: &'static str,
    },
    /// Training rows and labels do not fit together.
    #[error("training rows hold {values} values for {labels} labels of {dims} dims")]
    TrainingShape {
        /// Values given.
        values: usize,
        /// Labels given.
        labels: usize,
        /// Dims per row.
        dims: usize,
    },
    /// A row returned by the index has the wrong length.
    #[error("row {id} has {actual} values, the index has {expected} dims")]
    RowLength {
        /// The row's id.
        id: u32,
        /// Dims of the index.
        expected: usize,
        /// Length of the returned row.
        actual: usize,
    },
    /// The index reported an id it does not hold.
    #[error("index emitted id {id} from tree {tree}, but has only {len} images")]
    EmittedIdOutOfRange {
        /// The tree queried.
        tree: usize,
        /// The emitted id.
        id: u32,
        /// Number of images in the index.
        len: u32,
    },
    /// The index emitted point values that are not one subset row per id.
    #[error("tree {tree} emitted {values} point values for {ids} ids of {dims} dims")]
    EmittedPointsShape {
        /// The tree queried.
        tree: usize,
        /// Ids emitted.
        ids: usize,
        /// Values emitted.
        values: usize,
        /// Dims of the tree's subset.
        dims: usize,
    },
    /// A saved model does not fit the index it is applied to, or is corrupt.
    #[error("model does not fit the index: {part}: {reason}")]
    ModelMismatch {
        /// Which part of the model, e.g. `box 3` or `tree 2`.
        part: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The index failed to answer a query.
    #[error("index query failed")]
    Index(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps an index's own error.
    pub(crate) fn index(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Index(Box::new(error))
    }
}
