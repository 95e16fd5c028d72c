//! The fuzzy simplicial set: per-point smooth-kNN calibration, then a
//! symmetric fuzzy union of the directed membership strengths.

use rayon::prelude::*;

use crate::umap::knn::Knn;

// Same constants as umap-learn's `smooth_knn_dist`.
const SMOOTH_K_TOLERANCE: f64 = 1e-5;
const MIN_K_DIST_SCALE: f64 = 1e-3;
const N_ITER: usize = 64;

/// Symmetric sparse graph in CSR form with rows sorted by column.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    pub n: usize,
    pub row_ptr: Vec<usize>,
    pub cols: Vec<u32>,
    pub weights: Vec<f32>,
}

impl Graph {
    pub(crate) fn nnz(&self) -> usize {
        self.cols.len()
    }

    pub(crate) fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let (s, e) = (self.row_ptr[i], self.row_ptr[i + 1]);
        (&self.cols[s..e], &self.weights[s..e])
    }

    /// umap-learn drops edges that would be sampled less than once in the
    /// whole run (`w < max(w) / n_epochs`) before init and SGD.
    pub(crate) fn prune_below(&self, threshold: f32) -> Graph {
        let mut row_ptr = Vec::with_capacity(self.n + 1);
        let mut cols = Vec::with_capacity(self.nnz());
        let mut weights = Vec::with_capacity(self.nnz());
        row_ptr.push(0);
        for i in 0..self.n {
            let (c, w) = self.row(i);
            for (&c, &w) in c.iter().zip(w) {
                if w >= threshold && w > 0.0 {
                    cols.push(c);
                    weights.push(w);
                }
            }
            row_ptr.push(cols.len());
        }
        Graph {
            n: self.n,
            row_ptr,
            cols,
            weights,
        }
    }

    /// Number of connected components (union-find; edges are undirected).
    pub(crate) fn n_components(&self) -> usize {
        let mut parent: Vec<usize> = (0..self.n).collect();
        fn find(p: &mut [usize], mut x: usize) -> usize {
            while p[x] != x {
                p[x] = p[p[x]];
                x = p[x];
            }
            x
        }
        let mut count = self.n;
        for i in 0..self.n {
            for &j in self.row(i).0 {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j as usize));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                    count -= 1;
                }
            }
        }
        count
    }
}

/// `(sigma, rho)` per point, as umap-learn's `smooth_knn_dist` with
/// `local_connectivity = 1` and `bandwidth = 1`: rho is the distance to the
/// nearest non-identical neighbour, sigma is found by bisection so that
/// `sum_j exp(-(d_j - rho) / sigma) = log2(k)` over the non-self neighbours.
pub(crate) fn smooth_knn_dist(knn: &Knn) -> (Vec<f32>, Vec<f32>) {
    let k = knn.k;
    let target = (k as f64).log2();
    let n = knn.dists.len() / k;
    let mean_all = knn.dists.iter().map(|&d| d as f64).sum::<f64>() / knn.dists.len() as f64;
    let per_point: Vec<(f32, f32)> = (0..n)
        .into_par_iter()
        .map(|i| {
            let d = &knn.dists[i * k..(i + 1) * k];
            let rho = d.iter().copied().find(|&x| x > 0.0).unwrap_or(0.0) as f64;
            let (mut lo, mut hi, mut mid) = (0.0f64, f64::INFINITY, 1.0f64);
            for _ in 0..N_ITER {
                let psum: f64 = d[1..]
                    .iter()
                    .map(|&x| {
                        let e = x as f64 - rho;
                        if e > 0.0 {
                            (-(e / mid)).exp()
                        } else {
                            1.0
                        }
                    })
                    .sum();
                if (psum - target).abs() < SMOOTH_K_TOLERANCE {
                    break;
                }
                if psum > target {
                    hi = mid;
                    mid = (lo + hi) / 2.0;
                } else {
                    lo = mid;
                    mid = if hi.is_infinite() {
                        mid * 2.0
                    } else {
                        (lo + hi) / 2.0
                    };
                }
            }
            // A floor keeps sigma away from zero for points in very tight groups.
            let floor = if rho > 0.0 {
                MIN_K_DIST_SCALE * d.iter().map(|&x| x as f64).sum::<f64>() / k as f64
            } else {
                MIN_K_DIST_SCALE * mean_all
            };
            (mid.max(floor) as f32, rho as f32)
        })
        .collect();
    per_point.into_iter().unzip()
}

/// Builds the symmetric graph `mix * (A + A^T - A.A^T) + (1 - mix) * A.A^T`
/// from the directed memberships `A_ij = exp(-(d_ij - rho_i) / sigma_i)`.
pub(crate) fn fuzzy_simplicial_set(knn: &Knn, set_op_mix_ratio: f32) -> Graph {
    let k = knn.k;
    let n = knn.dists.len() / k;
    let (sigmas, rhos) = smooth_knn_dist(knn);
    // (row, col, value, from_transpose)
    let mut entries: Vec<(u32, u32, f32, bool)> = Vec::with_capacity(2 * n * k);
    for i in 0..n {
        for s in 0..k {
            let j = knn.indices[i * k + s];
            if j as usize == i {
                continue;
            }
            let d = knn.dists[i * k + s];
            let v = if d - rhos[i] <= 0.0 || sigmas[i] == 0.0 {
                1.0
            } else {
                (-((d - rhos[i]) / sigmas[i])).exp()
            };
            if v > 0.0 {
                entries.push((i as u32, j, v, false));
                entries.push((j, i as u32, v, true));
            }
        }
    }
    entries.par_sort_unstable_by(|x, y| (x.0, x.1, x.3).cmp(&(y.0, y.1, y.3)));
    let mix = set_op_mix_ratio;
    let mut row_ptr = vec![0usize; n + 1];
    let mut cols = Vec::with_capacity(entries.len());
    let mut weights = Vec::with_capacity(entries.len());
    let mut e = 0;
    while e < entries.len() {
        let (r, c, v, _) = entries[e];
        // A (r, c) position holds at most A_rc and (A^T)_rc = A_cr.
        let (a, b, step) = match entries.get(e + 1) {
            Some(&(r2, c2, v2, _)) if r2 == r && c2 == c => (v, v2, 2),
            _ => (v, 0.0, 1),
        };
        let prod = a * b;
        let w = mix * (a + b - prod) + (1.0 - mix) * prod;
        if w > 0.0 {
            cols.push(c);
            weights.push(w);
            row_ptr[r as usize + 1] += 1;
        }
        e += step;
    }
    for i in 0..n {
        row_ptr[i + 1] += row_ptr[i];
    }
    Graph {
        n,
        row_ptr,
        cols,
        weights,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigma_calibration_hits_log2_k() {
        let knn = Knn {
            indices: vec![0, 1, 2, 3, 1, 0, 2, 3],
            dists: vec![0.0, 0.5, 0.9, 1.7, 0.0, 0.5, 0.6, 2.0],
            k: 4,
        };
        let (sigmas, rhos) = smooth_knn_dist(&knn);
        assert_eq!(rhos, vec![0.5, 0.5]);
        for i in 0..2 {
            let psum: f64 = knn.dists[i * 4 + 1..(i + 1) * 4]
                .iter()
                .map(|&d| (-((d - rhos[i]).max(0.0) as f64) / sigmas[i] as f64).exp())
                .sum();
            assert!((psum - 2.0).abs() < 1e-4, "psum {psum}");
        }
    }

    #[test]
    fn union_is_symmetric_probabilistic_or() {
        // 0 -> 1 and 1 -> 0 with different strengths, 2 -> 0 one-way.
        let knn = Knn {
            indices: vec![0, 1, 2, 1, 0, 2, 2, 0, 1],
            dists: vec![0.0, 1.0, 2.0, 0.0, 1.0, 1.5, 0.0, 2.0, 1.5],
            k: 3,
        };
        let g = fuzzy_simplicial_set(&knn, 1.0);
        let w = |i: usize, j: u32| {
            let (c, w) = g.row(i);
            c.iter().position(|&x| x == j).map(|p| w[p]).unwrap_or(0.0)
        };
        for i in 0..3 {
            for j in 0..3u32 {
                assert_eq!(w(i, j), w(j as usize, i as u32));
            }
        }
        assert_eq!(w(0, 1), 1.0);
        assert!(w(0, 2) > 0.0 && w(0, 2) < 1.0);
        assert_eq!(g.n_components(), 1);
    }
}
