//! Input checks shared by `fit` and the quality measures.

use crate::umap::error::{Result, UmapError};
use crate::umap::params::Metric;

/// Checks a row-major matrix and returns its row count. With `n_rows` given
/// the length must match it exactly; otherwise it is inferred from `dim`.
/// Cosine additionally rejects all-zero rows, which have no direction.
pub(crate) fn validate(
    data: &[f32],
    n_rows: Option<usize>,
    dim: usize,
    metric: Metric,
) -> Result<usize> {
    if dim == 0 {
        return Err(UmapError::ZeroDim);
    }
    let n = n_rows.unwrap_or(data.len() / dim);
    if data.len() != n * dim {
        return Err(UmapError::ShapeMismatch {
            len: data.len(),
            n_rows: n,
            dim,
        });
    }
    if n == 0 {
        return Err(UmapError::EmptyInput);
    }
    for (row, r) in data.chunks_exact(dim).enumerate() {
        if let Some((col, &value)) = r.iter().enumerate().find(|(_, x)| !x.is_finite()) {
            return Err(UmapError::NonFinite { row, col, value });
        }
        if metric == Metric::Cosine && r.iter().all(|&x| x == 0.0) {
            return Err(UmapError::ZeroVector { row });
        }
    }
    Ok(n)
}
