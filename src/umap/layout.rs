//! Stochastic gradient descent on the fuzzy cross-entropy, following
//! umap-learn's `optimize_layout_euclidean` step for step.
//!
//! The loop is sequential on purpose: umap-learn's parallel mode is Hogwild
//! (racy, non-reproducible), and every step reads coordinates the previous
//! step may just have written, so there is no cheap deterministic split.

use rand::RngCore;

use crate::umap::fastpow::powf_pos;
use crate::umap::fuzzy::Graph;
use crate::umap::rng::{stream, Stream};

pub(crate) struct SgdConfig {
    pub n_epochs: usize,
    pub a: f32,
    pub b: f32,
    /// Weight of the repulsive term (umap-learn's `repulsion_strength`).
    pub gamma: f32,
    pub learning_rate: f32,
    pub negative_sample_rate: usize,
    pub seed: u64,
}

const CLIP: f32 = 4.0;
const NEG_BATCH: usize = 8;

/// `embedding` is row-major `n x dim`, already rescaled to `[0, 10]`.
pub(crate) fn optimize_layout(embedding: &mut [f32], dim: usize, graph: &Graph, cfg: &SgdConfig) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the required CPU features were detected just above.
            unsafe { optimize_layout_avx2(embedding, dim, graph, cfg) };
            return;
        }
    }
    optimize_layout_impl(embedding, dim, graph, cfg);
}

/// The same code compiled for AVX2/FMA machines: VEX encoding and blends
/// shorten the latency-bound scalar chains (Rust never fuses mul+add on its
/// own, so the arithmetic and results match the portable build's rounding).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn optimize_layout_avx2(embedding: &mut [f32], dim: usize, graph: &Graph, cfg: &SgdConfig) {
    optimize_layout_impl(embedding, dim, graph, cfg);
}

#[inline(always)]
fn optimize_layout_impl(embedding: &mut [f32], dim: usize, graph: &Graph, cfg: &SgdConfig) {
    let n = graph.n;
    let mut head = Vec::with_capacity(graph.nnz());
    for i in 0..n {
        head.extend(std::iter::repeat_n(
            i as u32,
            graph.row_ptr[i + 1] - graph.row_ptr[i],
        ));
    }
    let tail = &graph.cols;
    let w_max = graph.weights.iter().copied().fold(0.0f32, f32::max);
    if w_max <= 0.0 || n < 2 {
        return;
    }
    // An edge of weight w is sampled n_epochs * w / w_max times in the run.
    let epochs_per_sample: Vec<f64> = graph
        .weights
        .iter()
        .map(|&w| w_max as f64 / w as f64)
        .collect();
    let neg_rate = cfg.negative_sample_rate as f64;
    let epochs_per_negative: Vec<f64> = epochs_per_sample.iter().map(|e| e / neg_rate).collect();
    let mut next_sample = epochs_per_sample.clone();
    let mut next_negative = epochs_per_negative.clone();
    let mut rng = stream(cfg.seed, Stream::Sgd);
    let (a, b) = (cfg.a, cfg.b);
    let two_gamma_b = 2.0 * cfg.gamma * b;
    let mut cur = [0.0f32; 8];
    let mut grad = [0.0f32; 8];
    assert!(dim <= cur.len(), "n_components above 8 is not supported");
    for epoch in 0..cfg.n_epochs {
        let alpha = cfg.learning_rate * (1.0 - epoch as f32 / cfg.n_epochs as f32);
        let nf = epoch as f64;
        for e in 0..epochs_per_sample.len() {
            if next_sample[e] > nf {
                continue;
            }
            let j = head[e] as usize;
            let k = tail[e] as usize;
            // Attraction along the edge, applied to both ends.
            let d2 = rdist(
                &embedding[j * dim..(j + 1) * dim],
                &embedding[k * dim..(k + 1) * dim],
            );
            let coeff = if d2 > 0.0 {
                // d2^(b-1) = d2^b / d2 saves one pow per step.
                let pb = powf_pos(d2, b);
                -2.0 * a * b * (pb / d2) / (a * pb + 1.0)
            } else {
                0.0
            };
            for d in 0..dim {
                let g = clip(coeff * (embedding[j * dim + d] - embedding[k * dim + d]));
                embedding[j * dim + d] += g * alpha;
                embedding[k * dim + d] -= g * alpha;
            }
            next_sample[e] += epochs_per_sample[e];

            // Repulsion from random vertices, applied to the head only. umap-learn
            // moves the head after every negative sample; here each batch of up
            // to NEG_BATCH samples is evaluated against the same head position
            // and the clipped gradients are summed in sample order. The steps
            // are tiny, so the dynamics are the same, but the samples no longer
            // form one long dependency chain and the CPU overlaps them (~3x).
            let n_neg = ((nf - next_negative[e]) / epochs_per_negative[e]) as usize;
            cur[..dim].copy_from_slice(&embedding[j * dim..(j + 1) * dim]);
            let mut left = n_neg;
            while left > 0 {
                let batch = left.min(NEG_BATCH);
                left -= batch;
                let mut ks = [0usize; NEG_BATCH];
                let mut coeffs = [0.0f32; NEG_BATCH];
                for s in 0..batch {
                    // Multiply-shift maps 32 random bits onto 0..n without a division.
                    let kk = ((rng.next_u32() as u64 * n as u64) >> 32) as usize;
                    ks[s] = kk;
                    let d2 = rdist(&cur[..dim], &embedding[kk * dim..(kk + 1) * dim]);
                    // d2 == 0 (the head itself or an exact overlap) exerts no force.
                    coeffs[s] = if d2 > 0.0 {
                        two_gamma_b / ((0.001 + d2) * (a * powf_pos(d2, b) + 1.0))
                    } else {
                        0.0
                    };
                }
                grad[..dim].fill(0.0);
                for s in 0..batch {
                    let other = &embedding[ks[s] * dim..(ks[s] + 1) * dim];
                    for d in 0..dim {
                        grad[d] += clip(coeffs[s] * (cur[d] - other[d]));
                    }
                }
                for d in 0..dim {
                    cur[d] += grad[d] * alpha;
                }
            }
            embedding[j * dim..(j + 1) * dim].copy_from_slice(&cur[..dim]);
            next_negative[e] += n_neg as f64 * epochs_per_negative[e];
        }
    }
}

#[inline]
fn rdist(x: &[f32], y: &[f32]) -> f32 {
    x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum()
}

#[inline]
fn clip(v: f32) -> f32 {
    v.clamp(-CLIP, CLIP)
}
