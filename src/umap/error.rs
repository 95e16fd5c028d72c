//! The UMAP module's error type.

use thiserror::Error;

use crate::umap::params::UmapParam;

/// Everything that can go wrong before or during a UMAP fit or a quality measurement.
///
/// Row and column indices are zero-based positions in the row-major input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum UmapError {
    /// A hyper-parameter outside its allowed range, found by [`crate::umap::UmapParams::check`].
    #[error("invalid parameter `{}`: {reason}", param.name())]
    InvalidParam {
        /// The offending parameter; [`UmapParam::name`] is its field name.
        param: UmapParam,
        /// The allowed range and the value given, e.g. `must be >= 2, got 1`.
        reason: String,
    },
    /// The input matrix has no rows.
    #[error("input has no rows")]
    EmptyInput,
    /// The input rows have dimension 0.
    #[error("input rows have zero columns")]
    ZeroDim,
    /// The data slice does not hold `n_rows * dim` values.
    #[error("data length {len} is not n_rows ({n_rows}) x dim ({dim})")]
    ShapeMismatch {
        /// Number of values in the slice.
        len: usize,
        /// Rows the caller declared (`len / dim` where the count is inferred).
        n_rows: usize,
        /// Columns per row the caller declared.
        dim: usize,
    },
    /// A NaN or infinite input value (the first one in row-major order).
    #[error("non-finite value {value} at row {row}, column {col}")]
    NonFinite {
        /// Row of the value.
        row: usize,
        /// Column of the value.
        col: usize,
        /// The value itself (NaN, +inf or -inf).
        value: f32,
    },
    /// An all-zero row under the cosine metric, which has no direction.
    #[error("row {row} is the zero vector; cosine distance to it is undefined")]
    ZeroVector {
        /// The first all-zero row.
        row: usize,
    },
    /// Fewer rows than [`crate::umap::MIN_POINTS`].
    #[error("UMAP needs at least {min} points, got {n_rows}")]
    TooFewPoints {
        /// Rows given.
        n_rows: usize,
        /// Rows needed.
        min: usize,
    },
    /// [`crate::umap::trustworthiness`] got layouts of different lengths.
    #[error("the high- and low-dimensional inputs have {high} and {low} rows")]
    RowCountMismatch {
        /// Rows of the high-dimensional input.
        high: usize,
        /// Rows of the low-dimensional layout.
        low: usize,
    },
    /// A trustworthiness neighbourhood size outside `1 <= k < n_rows / 2` (sklearn's range).
    #[error("trustworthiness needs 1 <= k < n_rows / 2 (k = {k}, n_rows = {n_rows})")]
    InvalidK {
        /// The requested neighbourhood size.
        k: usize,
        /// Rows of the inputs.
        n_rows: usize,
    },
}

/// `Result` with [`UmapError`].
pub type Result<T> = std::result::Result<T, UmapError>;
