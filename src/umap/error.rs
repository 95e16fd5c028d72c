use thiserror::Error;

/// Everything that can go wrong before or during a UMAP fit or a quality measurement.
///
/// Row and column indices are zero-based positions in the row-major input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum UmapError {
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam { name: &'static str, reason: String },
    #[error("input has no rows")]
    EmptyInput,
    #[error("input rows have zero columns")]
    ZeroDim,
    #[error("data length {len} is not n_rows ({n_rows}) x dim ({dim})")]
    ShapeMismatch {
        len: usize,
        n_rows: usize,
        dim: usize,
    },
    #[error("non-finite value {value} at row {row}, column {col}")]
    NonFinite { row: usize, col: usize, value: f32 },
    #[error("row {row} is the zero vector; cosine distance to it is undefined")]
    ZeroVector { row: usize },
    #[error("UMAP needs at least {min} points, got {n_rows}")]
    TooFewPoints { n_rows: usize, min: usize },
    #[error("the high- and low-dimensional inputs have {high} and {low} rows")]
    RowCountMismatch { high: usize, low: usize },
    #[error("trustworthiness needs 1 <= k < n_rows / 2 (k = {k}, n_rows = {n_rows})")]
    InvalidK { k: usize, n_rows: usize },
}

pub type Result<T> = std::result::Result<T, UmapError>;
