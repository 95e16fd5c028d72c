//! Neighbourhood-preservation scores for judging a layout.

use rayon::prelude::*;

use crate::umap::error::{Result, UmapError};
use crate::umap::input::validate;
use crate::umap::knn::Points;
use crate::umap::params::Metric;

const ROW_BLOCK: usize = 64;

/// Trustworthiness as defined by `sklearn.manifold.trustworthiness`:
///
/// `T(k) = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in U_i} (r(i, j) - k)`
///
/// where `U_i` are the `k` nearest neighbours of `i` in `low` that are not
/// among its `k` nearest in `high`, and `r(i, j)` is the rank of `j` by
/// distance from `i` in `high` (1 = nearest, self excluded). `metric` is the
/// high-dimensional metric (sklearn's default is Euclidean; pass
/// [`Metric::Cosine`] to match `metric="cosine"`); `low` is always Euclidean.
/// Ties in the high-dimensional ranking go to the lower index.
///
/// Both inputs are row-major with `high_dim` and `low_dim` columns and the
/// same number of rows; requires `1 <= k < n / 2` like sklearn. Costs
/// O(n^2 (high_dim + k)) time and O(n) memory per thread.
pub fn trustworthiness(
    high: &[f32],
    high_dim: usize,
    low: &[f32],
    low_dim: usize,
    k: usize,
    metric: Metric,
) -> Result<f64> {
    let n = validate(high, None, high_dim, metric)?;
    let n_low = validate(low, None, low_dim, Metric::Euclidean)?;
    if n != n_low {
        return Err(UmapError::RowCountMismatch {
            high: n,
            low: n_low,
        });
    }
    if k == 0 || 2 * k >= n {
        return Err(UmapError::InvalidK { k, n_rows: n });
    }
    let points = Points::new(high, n, high_dim, metric);
    let penalty: f64 = (0..n.div_ceil(ROW_BLOCK))
        .into_par_iter()
        .map(|b| {
            let r0 = b * ROW_BLOCK;
            let r1 = (r0 + ROW_BLOCK).min(n);
            let mut hd = vec![0.0f32; (r1 - r0) * n];
            points.rank_block(r0, r1, 0, n, &mut hd);
            let mut sum = 0u64;
            let mut low_nn: Vec<(f64, usize)> = Vec::with_capacity(n);
            for i in r0..r1 {
                let row = &hd[(i - r0) * n..(i - r0 + 1) * n];
                low_nn.clear();
                let li = &low[i * low_dim..(i + 1) * low_dim];
                low_nn.extend((0..n).filter(|&j| j != i).map(|j| {
                    let lj = &low[j * low_dim..(j + 1) * low_dim];
                    let d: f64 = li
                        .iter()
                        .zip(lj)
                        .map(|(a, b)| ((a - b) as f64).powi(2))
                        .sum();
                    (d, j)
                }));
                low_nn
                    .select_nth_unstable_by(k - 1, |x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
                for &(_, j) in &low_nn[..k] {
                    let dj = row[j];
                    let rank = 1 + row
                        .iter()
                        .enumerate()
                        .filter(|&(l, &dl)| l != i && (dl < dj || (dl == dj && l < j)))
                        .count();
                    if rank > k {
                        sum += (rank - k) as u64;
                    }
                }
            }
            sum as f64
        })
        .sum();
    let (nf, kf) = (n as f64, k as f64);
    Ok(1.0 - penalty * 2.0 / (nf * kf * (2.0 * nf - 3.0 * kf - 1.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 40 points in 6-d from a closed formula (so Python can rebuild them),
    /// and a deliberately lossy 2-d view (columns 0 and 3).
    fn known_case() -> (Vec<f32>, Vec<f32>) {
        let (n, d) = (40, 6);
        let mut high = Vec::with_capacity(n * d);
        for i in 0..n {
            for j in 0..d {
                high.push(
                    ((i as f32) * 0.37 + (j as f32) * 1.3).sin()
                        + ((i * 7 + j * 3) % 11) as f32 / 10.0,
                );
            }
        }
        let low = (0..n)
            .flat_map(|i| [high[i * d], high[i * d + 3]])
            .collect();
        (high, low)
    }

    #[test]
    fn matches_sklearn_on_known_case() {
        // /work/venv/bin/python -c "
        // import numpy as np; from sklearn.manifold import trustworthiness as t
        // i=np.arange(40,dtype=np.float32)[:,None]; j=np.arange(6,dtype=np.float32)[None,:]
        // X=(np.sin(i*np.float32(.37)+j*np.float32(1.3))+((i*7+j*3)%11)/np.float32(10)).astype(np.float32)
        // print(t(X,X[:,[0,3]],n_neighbors=5), t(X,X[:,[0,3]],n_neighbors=5,metric='cosine'))"
        // -> 0.9059375 0.89703125 (sklearn 1.9.1)
        let (high, low) = known_case();
        let te = trustworthiness(&high, 6, &low, 2, 5, Metric::Euclidean).unwrap();
        let tc = trustworthiness(&high, 6, &low, 2, 5, Metric::Cosine).unwrap();
        assert!((te - 0.9059375).abs() < 1e-9, "euclidean {te}");
        assert!((tc - 0.89703125).abs() < 1e-9, "cosine {tc}");
    }

    #[test]
    fn identity_layout_is_perfect_and_k_is_checked() {
        let low: Vec<f32> = (0..30)
            .flat_map(|i| [i as f32, (i * i) as f32 * 0.01])
            .collect();
        let t = trustworthiness(&low, 2, &low, 2, 5, Metric::Euclidean).unwrap();
        assert_eq!(t, 1.0);
        assert_eq!(
            trustworthiness(&low, 2, &low, 2, 15, Metric::Euclidean),
            Err(UmapError::InvalidK { k: 15, n_rows: 30 })
        );
    }
}
