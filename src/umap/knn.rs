//! Exact k-nearest neighbours by blocked brute force.
//!
//! For the sizes softtext plots (<= ~20k points) an exact search costs a few
//! seconds and removes the approximate-NN variance umap-learn has.

use rayon::prelude::*;

use crate::umap::dot::dot_tile;
use crate::umap::params::Metric;

const ROW_BLOCK: usize = 64;
const COL_BLOCK: usize = 512;

/// Input rows prepared for fast distance evaluation under one metric.
pub(crate) struct Points {
    /// Unit rows under cosine (so `1 - <u, v>` is the distance), raw rows otherwise.
    rows: Vec<f32>,
    sq_norms: Vec<f32>,
    n: usize,
    dim: usize,
    metric: Metric,
}

impl Points {
    /// Callers must have rejected zero rows for cosine (see `input::validate`).
    pub(crate) fn new(data: &[f32], n: usize, dim: usize, metric: Metric) -> Self {
        let mut rows = data.to_vec();
        if metric == Metric::Cosine {
            rows.par_chunks_mut(dim).for_each(|r| {
                let norm = r
                    .iter()
                    .map(|&x| (x as f64) * (x as f64))
                    .sum::<f64>()
                    .sqrt();
                let inv = (1.0 / norm) as f32;
                r.iter_mut().for_each(|x| *x *= inv);
            });
        }
        let sq_norms = rows
            .chunks(dim)
            .map(|r| r.iter().map(|x| x * x).sum())
            .collect();
        Self {
            rows,
            sq_norms,
            n,
            dim,
            metric,
        }
    }

    pub(crate) fn n(&self) -> usize {
        self.n
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.rows[i * self.dim..(i + 1) * self.dim]
    }

    /// Order-preserving distances (squared for Euclidean) from rows `r0..r1`
    /// to rows `c0..c1`, via one matrix product; cancellation makes them
    /// inexact for near-duplicates, which `exact` repairs where it matters.
    pub(crate) fn rank_block(&self, r0: usize, r1: usize, c0: usize, c1: usize, out: &mut [f32]) {
        let d = self.dim;
        let w = c1 - c0;
        dot_tile(
            &self.rows[r0 * d..r1 * d],
            &self.rows[c0 * d..c1 * d],
            d,
            &mut out[..(r1 - r0) * w],
        );
        for (r, chunk) in out[..(r1 - r0) * w].chunks_mut(w).enumerate() {
            match self.metric {
                Metric::Cosine => chunk.iter_mut().for_each(|x| *x = 1.0 - *x),
                Metric::Euclidean => {
                    let ni = self.sq_norms[r0 + r];
                    for (x, nj) in chunk.iter_mut().zip(&self.sq_norms[c0..c1]) {
                        *x = (ni + nj - 2.0 * *x).max(0.0);
                    }
                }
            }
        }
    }

    /// The metric itself, computed from differences so duplicates give exactly 0.
    pub(crate) fn exact(&self, i: usize, j: usize) -> f32 {
        let sq: f32 = self
            .row(i)
            .iter()
            .zip(self.row(j))
            .map(|(x, y)| (x - y) * (x - y))
            .sum();
        match self.metric {
            // For unit vectors 1 - cos = |u - v|^2 / 2.
            Metric::Cosine => 0.5 * sq,
            Metric::Euclidean => sq.sqrt(),
        }
    }
}

/// Row-major `n x k` neighbour table; column 0 is the point itself at distance 0,
/// as in umap-learn, so `k` counts the point.
pub(crate) struct Knn {
    pub indices: Vec<u32>,
    pub dists: Vec<f32>,
    pub k: usize,
}

/// Ties are broken by the smaller index so the table never depends on scheduling.
pub(crate) fn exact_knn(points: &Points, k: usize) -> Knn {
    let n = points.n();
    assert!(k >= 2 && k <= n, "k must be in [2, n]");
    let others = k - 1;
    let blocks: Vec<(Vec<u32>, Vec<f32>)> = (0..n.div_ceil(ROW_BLOCK))
        .into_par_iter()
        .map(|b| {
            let r0 = b * ROW_BLOCK;
            let r1 = (r0 + ROW_BLOCK).min(n);
            let rows = r1 - r0;
            let mut best_d = vec![f32::INFINITY; rows * others];
            let mut best_i = vec![u32::MAX; rows * others];
            let mut tile = vec![0.0f32; rows * COL_BLOCK];
            for c0 in (0..n).step_by(COL_BLOCK) {
                let c1 = (c0 + COL_BLOCK).min(n);
                let w = c1 - c0;
                points.rank_block(r0, r1, c0, c1, &mut tile);
                for r in 0..rows {
                    let bd = &mut best_d[r * others..(r + 1) * others];
                    let bi = &mut best_i[r * others..(r + 1) * others];
                    for (off, &d) in tile[r * w..(r + 1) * w].iter().enumerate() {
                        let j = c0 + off;
                        // Columns arrive in increasing index order, so a strict `<`
                        // keeps the lower index among equal distances.
                        if d < bd[others - 1] && j != r0 + r {
                            insert_sorted(bd, bi, d, j as u32);
                        }
                    }
                }
            }
            let mut idx = Vec::with_capacity(rows * k);
            let mut dist = Vec::with_capacity(rows * k);
            for r in 0..rows {
                let i = r0 + r;
                let mut cand: Vec<(f32, u32)> = best_i[r * others..(r + 1) * others]
                    .iter()
                    .map(|&j| (points.exact(i, j as usize), j))
                    .collect();
                cand.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
                idx.push(i as u32);
                dist.push(0.0);
                for (d, j) in cand {
                    idx.push(j);
                    dist.push(d);
                }
            }
            (idx, dist)
        })
        .collect();
    let mut indices = Vec::with_capacity(n * k);
    let mut dists = Vec::with_capacity(n * k);
    for (i, d) in blocks {
        indices.extend(i);
        dists.extend(d);
    }
    Knn { indices, dists, k }
}

fn insert_sorted(bd: &mut [f32], bi: &mut [u32], d: f32, j: u32) {
    let mut p = bd.len() - 1;
    while p > 0 && bd[p - 1] > d {
        bd[p] = bd[p - 1];
        bi[p] = bi[p - 1];
        p -= 1;
    }
    bd[p] = d;
    bi[p] = j;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(data: &[f32], n: usize, dim: usize, k: usize, metric: Metric) -> Vec<Vec<u32>> {
        let pts = Points::new(data, n, dim, metric);
        (0..n)
            .map(|i| {
                let mut v: Vec<(f32, u32)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| (pts.exact(i, j), j as u32))
                    .collect();
                v.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
                std::iter::once(i as u32)
                    .chain(v.iter().take(k - 1).map(|x| x.1))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn matches_brute_force_for_both_metrics() {
        let (n, dim, k) = (150, 13, 6);
        let data: Vec<f32> = (0..n * dim)
            .map(|i| ((i as f32 * 0.618).sin() * 3.0 + (i % 7) as f32 * 0.1) + 0.01)
            .collect();
        for metric in [Metric::Cosine, Metric::Euclidean] {
            let knn = exact_knn(&Points::new(&data, n, dim, metric), k);
            let want = naive(&data, n, dim, k, metric);
            for (i, want_i) in want.iter().enumerate() {
                assert_eq!(
                    &knn.indices[i * k..(i + 1) * k],
                    &want_i[..],
                    "{metric:?} row {i}"
                );
                assert!(knn.dists[i * k + 1..(i + 1) * k]
                    .windows(2)
                    .all(|w| w[0] <= w[1]));
            }
        }
    }
}
