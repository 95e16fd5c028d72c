//! Initial low-dimensional layout: spectral, PCA or random, with the same
//! scaling and jitter umap-learn applies before the SGD.

use rand::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::umap::eigen::{dot, jacobi_eigh, lanczos_top};
use crate::umap::fuzzy::Graph;
use crate::umap::params::Init;
use crate::umap::rng::{normal, stream, Stream};

/// Why the requested initialisation was replaced by another one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum InitFallback {
    /// The fuzzy graph has several connected components; each would collapse to
    /// a point in the Laplacian's eigenvectors. (umap-learn embeds components
    /// separately; we use PCA of the raw data instead.)
    Disconnected {
        /// Number of connected components of the graph.
        components: usize,
    },
    /// The Lanczos iteration broke down or produced non-finite vectors.
    EigenSolveFailed,
    /// The input has (numerically) no variance, so PCA has no directions.
    NoVariance,
}

/// Which initialisation produced the layout the SGD started from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InitReport {
    /// What [`crate::umap::UmapParams::init`] asked for.
    pub requested: Init,
    /// What produced the starting layout: `requested` unless a fallback happened.
    pub used: Init,
    /// Why `used` differs from `requested`; `None` when it does not.
    pub fallback: Option<InitFallback>,
    /// Largest Ritz residual of the spectral solve (umap-learn asks ARPACK for 1e-4).
    pub spectral_residual: Option<f64>,
}

const SPECTRAL_TOL: f64 = 1e-4;
const MAX_LANCZOS_STEPS: usize = 300;

/// Row-major `n x n_components` coordinates plus a report, before the
/// min-max rescaling the SGD stage applies.
pub(crate) fn initial_layout(
    requested: Init,
    graph: &Graph,
    data: &[f32],
    dim: usize,
    n_components: usize,
    seed: u64,
) -> (Vec<f32>, InitReport) {
    let n = graph.n;
    let mut report = InitReport {
        requested,
        used: requested,
        fallback: None,
        spectral_residual: None,
    };
    let mut coords = None;
    if requested == Init::Spectral {
        let comps = graph.n_components();
        if comps > 1 {
            report.fallback = Some(InitFallback::Disconnected { components: comps });
        } else {
            match spectral(graph, n_components, seed) {
                Some((c, res)) => {
                    report.spectral_residual = Some(res);
                    coords = Some(c);
                }
                None => report.fallback = Some(InitFallback::EigenSolveFailed),
            }
        }
        if coords.is_none() {
            report.used = Init::Pca;
        }
    }
    if coords.is_none() && report.used == Init::Pca {
        coords = pca(data, n, dim, n_components, seed);
        if coords.is_none() {
            report.fallback = Some(InitFallback::NoVariance);
            report.used = Init::Random;
        }
    }
    let coords = match coords {
        Some(c) => noisy_scale(c, seed),
        None => {
            let mut rng = stream(seed, Stream::RandomInit);
            (0..n * n_components)
                .map(|_| rng.random_range(-10.0f32..10.0))
                .collect()
        }
    };
    (coords, report)
}

/// Eigenvectors 2..=n_components+1 of the normalised Laplacian
/// `I - D^-1/2 W D^-1/2`, i.e. the top non-trivial eigenvectors of
/// `D^-1/2 W D^-1/2`, whose top eigenvector `sqrt(deg)` is known and deflated.
fn spectral(graph: &Graph, n_components: usize, seed: u64) -> Option<(Vec<f64>, f64)> {
    let n = graph.n;
    if n < n_components + 2 {
        return None;
    }
    let deg: Vec<f64> = (0..n)
        .map(|i| graph.row(i).1.iter().map(|&w| w as f64).sum())
        .collect();
    if deg.iter().any(|&d| d.is_nan() || d <= 0.0) {
        return None;
    }
    let inv_sqrt: Vec<f64> = deg.iter().map(|d| 1.0 / d.sqrt()).collect();
    let op = |x: &[f64], y: &mut [f64]| {
        for (i, yi) in y.iter_mut().enumerate() {
            let (c, w) = graph.row(i);
            let s: f64 = c
                .iter()
                .zip(w)
                .map(|(&j, &w)| w as f64 * inv_sqrt[j as usize] * x[j as usize])
                .sum();
            *yi = inv_sqrt[i] * s;
        }
    };
    let mut top: Vec<f64> = deg.iter().map(|d| d.sqrt()).collect();
    let nrm = dot(&top, &top).sqrt();
    top.iter_mut().for_each(|x| *x /= nrm);
    let mut rng = stream(seed, Stream::SpectralStart);
    let start: Vec<f64> = (0..n).map(|_| normal(&mut rng)).collect();
    let max_steps = MAX_LANCZOS_STEPS.min(n - 1);
    let ritz = lanczos_top(&op, n, &[top], n_components, start, max_steps, SPECTRAL_TOL)?;
    let mut out = vec![0.0; n * n_components];
    for (c, v) in ritz.vectors.iter().enumerate() {
        for i in 0..n {
            out[i * n_components + c] = v[i];
        }
    }
    out.iter()
        .all(|x| x.is_finite())
        .then_some((out, ritz.residual))
}

const PCA_ITERS: usize = 40;
const PCA_OVERSAMPLE: usize = 4;
const ROW_CHUNK: usize = 256;

/// Scores on the first principal components by block subspace iteration on
/// the centred data (never forming the `dim x dim` covariance). Row chunks are
/// reduced in a fixed order, so the parallel sums are deterministic.
fn pca(data: &[f32], n: usize, dim: usize, n_components: usize, seed: u64) -> Option<Vec<f64>> {
    let p = (n_components + PCA_OVERSAMPLE).min(dim).min(n);
    if p < n_components {
        return None;
    }
    let mean: Vec<f64> = {
        let mut m = vec![0.0f64; dim];
        for r in data.chunks(dim) {
            m.iter_mut().zip(r).for_each(|(m, &x)| *m += x as f64);
        }
        m.iter_mut().for_each(|m| *m /= n as f64);
        m
    };
    // Z = Xc V, n x p.
    let project = |v: &[f64]| -> Vec<f64> {
        let mv: Vec<f64> = (0..p)
            .map(|c| (0..dim).map(|d| mean[d] * v[d * p + c]).sum())
            .collect();
        let mut z = vec![0.0; n * p];
        z.par_chunks_mut(p)
            .zip(data.par_chunks(dim))
            .for_each(|(zr, xr)| {
                for (d, &x) in xr.iter().enumerate() {
                    let x = x as f64;
                    for c in 0..p {
                        zr[c] += x * v[d * p + c];
                    }
                }
                zr.iter_mut().zip(&mv).for_each(|(z, m)| *z -= m);
            });
        z
    };
    // Xc^T Z, dim x p.
    let back = |z: &[f64]| -> Vec<f64> {
        let partials: Vec<Vec<f64>> = data
            .par_chunks(dim * ROW_CHUNK)
            .zip(z.par_chunks(p * ROW_CHUNK))
            .map(|(xs, zs)| {
                let mut acc = vec![0.0; dim * p];
                for (xr, zr) in xs.chunks(dim).zip(zs.chunks(p)) {
                    for (d, &x) in xr.iter().enumerate() {
                        let x = x as f64 - mean[d];
                        for c in 0..p {
                            acc[d * p + c] += x * zr[c];
                        }
                    }
                }
                acc
            })
            .collect();
        let mut out = vec![0.0; dim * p];
        for part in partials {
            out.iter_mut().zip(part).for_each(|(o, x)| *o += x);
        }
        out
    };
    let mut rng = stream(seed, Stream::PcaStart);
    let mut v: Vec<f64> = (0..dim * p).map(|_| normal(&mut rng)).collect();
    if !orthonormalise_columns(&mut v, dim, p) {
        return None;
    }
    for _ in 0..PCA_ITERS {
        v = back(&project(&v));
        if !orthonormalise_columns(&mut v, dim, p) {
            return None;
        }
    }
    let z = project(&v);
    let mut s = vec![0.0; p * p];
    for zr in z.chunks(p) {
        for a in 0..p {
            for b in 0..p {
                s[a * p + b] += zr[a] * zr[b];
            }
        }
    }
    let (vals, vecs) = jacobi_eigh(s, p);
    let total: f64 = vals.iter().map(|v| v.max(0.0)).sum();
    let smallest = vals[n_components - 1];
    if total <= 0.0 || smallest.is_nan() || smallest <= 1e-12 * total {
        return None;
    }
    let mut out = vec![0.0; n * n_components];
    for (i, zr) in z.chunks(p).enumerate() {
        for c in 0..n_components {
            out[i * n_components + c] = (0..p).map(|a| zr[a] * vecs[a * p + c]).sum();
        }
    }
    out.iter().all(|x| x.is_finite()).then_some(out)
}

/// Modified Gram–Schmidt on the columns of a row-major `rows x cols` matrix;
/// false when a column is (numerically) dependent on the previous ones.
fn orthonormalise_columns(m: &mut [f64], rows: usize, cols: usize) -> bool {
    for c in 0..cols {
        for prev in 0..c {
            let proj: f64 = (0..rows)
                .map(|r| m[r * cols + c] * m[r * cols + prev])
                .sum();
            for r in 0..rows {
                m[r * cols + c] -= proj * m[r * cols + prev];
            }
        }
        let nrm: f64 = (0..rows)
            .map(|r| m[r * cols + c].powi(2))
            .sum::<f64>()
            .sqrt();
        if nrm.is_nan() || nrm <= 1e-300 {
            return false;
        }
        for r in 0..rows {
            m[r * cols + c] /= nrm;
        }
    }
    true
}

/// Scale so the largest |coordinate| is 10, then add N(0, 1e-4) jitter so no
/// two points start exactly on top of each other (umap-learn's `noisy_scale_coords`).
fn noisy_scale(coords: Vec<f64>, seed: u64) -> Vec<f32> {
    let max = coords.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let expansion = if max > 0.0 { 10.0 / max } else { 1.0 };
    let mut rng = stream(seed, Stream::InitNoise);
    coords
        .iter()
        .map(|&x| (x * expansion) as f32 + (1e-4 * normal(&mut rng)) as f32)
        .collect()
}

/// Per-axis min-max rescale to `[0, 10]`, as umap-learn does right before the SGD.
pub(crate) fn rescale_to_box(coords: &mut [f32], n_components: usize) {
    for c in 0..n_components {
        let (lo, hi) = coords
            .iter()
            .skip(c)
            .step_by(n_components)
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        let range = hi - lo;
        for x in coords.iter_mut().skip(c).step_by(n_components) {
            // A flat axis (possible only for a single point) is centred instead of divided by 0.
            *x = if range > 0.0 {
                10.0 * (*x - lo) / range
            } else {
                5.0
            };
        }
    }
}
