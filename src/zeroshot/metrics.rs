//! Metrics of one protocol's predictions: accuracy, per-class accuracy, confusion matrix,
//! bootstrap confidence interval and the exact McNemar test against `hard`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Fraction of predictions equal to their label (0 for no images).
pub fn accuracy(predictions: &[usize], labels: &[usize]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let correct: usize = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    correct as f64 / labels.len() as f64
}

/// Counts of (true class, predicted class); rows are true classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    class_count: usize,
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// Tallies predictions against labels; both must be `< class_count`.
    pub fn new(class_count: usize, predictions: &[usize], labels: &[usize]) -> Self {
        let mut counts: Vec<u64> = vec![0; class_count * class_count];
        for (&predicted, &label) in predictions.iter().zip(labels) {
            counts[label * class_count + predicted] += 1;
        }
        ConfusionMatrix {
            class_count,
            counts,
        }
    }

    /// Number of classes.
    pub fn class_count(&self) -> usize {
        self.class_count
    }

    /// Counts for true class `class`, by predicted class.
    pub fn row(&self, class: usize) -> &[u64] {
        &self.counts[class * self.class_count..(class + 1) * self.class_count]
    }

    /// Images of true class `class` predicted as `predicted`.
    pub fn count(&self, class: usize, predicted: usize) -> u64 {
        self.counts[class * self.class_count + predicted]
    }

    /// Total number of images.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Rows as nested vectors (for serialisation).
    pub fn to_rows(&self) -> Vec<Vec<u64>> {
        self.counts
            .chunks_exact(self.class_count.max(1))
            .map(<[u64]>::to_vec)
            .collect()
    }

    /// Per true class, the fraction predicted correctly; `None` for a class with no images.
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        (0..self.class_count)
            .map(|class| {
                let total: u64 = self.row(class).iter().sum();
                (total > 0).then(|| self.count(class, class) as f64 / total as f64)
            })
            .collect()
    }
}

/// The exact McNemar test of a protocol against a reference (`hard`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Images the reference got right and the protocol wrong.
    pub b: u64,
    /// Images the protocol got right and the reference wrong.
    pub c: u64,
    /// Two-sided exact binomial p-value on the b + c discordant pairs.
    pub p_value: f64,
}

impl McNemar {
    /// Counts the discordant pairs and tests them.
    pub fn new(reference_correct: &[bool], correct: &[bool]) -> Self {
        let mut b: u64 = 0;
        let mut c: u64 = 0;
        for (&reference, &protocol) in reference_correct.iter().zip(correct) {
            match (reference, protocol) {
                (true, false) => b += 1,
                (false, true) => c += 1,
                _ => {}
            }
        }
        McNemar {
            b,
            c,
            p_value: mcnemar_exact_p(b, c),
        }
    }
}

/// Two-sided exact McNemar p-value: `min(1, 2 · P(X ≤ min(b, c)))` for X ~ Binomial(b + c,
/// ½); 1 when there are no discordant pairs. Summed in log space so n in the tens of
/// thousands neither overflows nor underflows early.
pub fn mcnemar_exact_p(b: u64, c: u64) -> f64 {
    let n: u64 = b + c;
    if n == 0 {
        return 1.0;
    }
    let smaller: u64 = b.min(c);
    let log_half_n: f64 = n as f64 * 0.5f64.ln();
    // log C(n, i), built up term by term.
    let mut log_choose: f64 = 0.0;
    let mut tail: f64 = 0.0;
    for i in 0..=smaller {
        if i > 0 {
            log_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (log_choose + log_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// Paired bootstrap over images: `resamples` draws of N image indices with replacement,
/// made once and shared by every row, so the intervals of two rows come from the same
/// resampled test sets.
///
/// Resample b uses `ChaCha8Rng::seed_from_u64(seed)` on stream b and draws N indices with
/// `random_range(0..N as u32)`, so the draws depend only on (seed, b, N), never on the thread
/// count. The interval is the percentile method: the (1 − confidence)/2 and
/// (1 + confidence)/2 quantiles of the resampled accuracies, linearly interpolated between
/// order statistics (numpy's default `percentile`).
#[derive(Debug, Clone, PartialEq)]
pub struct Bootstrap {
    images: usize,
    resamples: usize,
    /// `[block][image][lane]` with resample = block · LANES + lane: how often the image was
    /// drawn in that resample (saturating at 255, which has probability far below 1e-300).
    /// Image-major within a block so summing the rows of a set of images is a contiguous,
    /// vectorisable pass.
    counts: Vec<u8>,
}

/// Resamples per block of [`Bootstrap`]'s counts (one 256-bit vector of u8).
const LANES: usize = 32;

impl Bootstrap {
    /// Draws the resamples. Needs N ≤ u32::MAX.
    pub fn new(images: usize, resamples: usize, seed: u64) -> Self {
        let draw_range: u32 = u32::try_from(images).expect("at most u32::MAX images");
        let blocks: usize = resamples.div_ceil(LANES);
        let mut counts: Vec<u8> = vec![0; blocks * images * LANES];
        if images > 0 {
            counts
                .par_chunks_mut(images * LANES)
                .enumerate()
                .for_each(|(block, block_counts)| {
                    let first: usize = block * LANES;
                    for lane in 0..LANES.min(resamples - first) {
                        let mut rng: ChaCha8Rng = ChaCha8Rng::seed_from_u64(seed);
                        rng.set_stream((first + lane) as u64);
                        for _ in 0..images {
                            let image: usize = rng.random_range(0..draw_range) as usize;
                            let count: &mut u8 = &mut block_counts[image * LANES + lane];
                            *count = count.saturating_add(1);
                        }
                    }
                });
        }
        Bootstrap {
            images,
            resamples,
            counts,
        }
    }

    /// Number of resamples.
    pub fn resamples(&self) -> usize {
        self.resamples
    }

    /// Accuracy of every resample, in resample order.
    pub fn resampled_accuracies(&self, correct: &[bool]) -> Vec<f64> {
        assert_eq!(correct.len(), self.images, "one flag per image");
        let right: usize = correct.iter().filter(|&&flag| flag).count();
        // Sum over whichever set is smaller; each resample has exactly N draws.
        let count_correct: bool = right <= self.images - right;
        let chosen: Vec<usize> = (0..self.images)
            .filter(|&image| correct[image] == count_correct)
            .collect();
        let mut sums: Vec<u32> = vec![0; self.resamples.div_ceil(LANES) * LANES];
        if self.images > 0 {
            for (block_sums, block_counts) in sums
                .chunks_exact_mut(LANES)
                .zip(self.counts.chunks_exact(self.images * LANES))
            {
                let block_sums: &mut [u32; LANES] = block_sums.try_into().expect("lane block");
                for &image in &chosen {
                    let row: &[u8; LANES] = block_counts[image * LANES..(image + 1) * LANES]
                        .try_into()
                        .expect("lane row");
                    for (sum, &count) in block_sums.iter_mut().zip(row) {
                        *sum += u32::from(count);
                    }
                }
            }
        }
        let total: f64 = self.images as f64;
        sums.truncate(self.resamples);
        sums.into_iter()
            .map(|sum| {
                let right: f64 = if count_correct {
                    f64::from(sum)
                } else {
                    total - f64::from(sum)
                };
                right / total
            })
            .collect()
    }

    /// The percentile interval at `confidence`.
    pub fn interval(&self, correct: &[bool], confidence: f64) -> (f64, f64) {
        let mut accuracies: Vec<f64> = self.resampled_accuracies(correct);
        accuracies.sort_by(f64::total_cmp);
        let tail: f64 = (1.0 - confidence) / 2.0;
        (
            percentile(&accuracies, tail),
            percentile(&accuracies, 1.0 - tail),
        )
    }
}

/// Quantile `q` ∈ [0, 1] of ascending `sorted`, interpolating linearly between order
/// statistics at position q·(n − 1).
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        len => {
            let position: f64 = q * (len - 1) as f64;
            let lower: usize = position.floor() as usize;
            let upper: usize = (lower + 1).min(len - 1);
            let fraction: f64 = position - lower as f64;
            sorted[lower] + fraction * (sorted[upper] - sorted[lower])
        }
    }
}
