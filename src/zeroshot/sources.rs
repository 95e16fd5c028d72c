//! Where each image's auxiliary top-k comes from: a file, or one of two built-in sources
//! computed from CLIP's own hard-prompt scores.
//!
//! * `self`: the top-k classes of the hard-prompt scores (ties → lower class index). Training
//!   free: soft text then re-ranks CLIP's own top-2.
//! * `oracle`: (true class, most-confused class of the true class). For true class c the
//!   confused class is the one `hard` predicts most often for images of c (off-diagonal
//!   argmax of the hard confusion matrix row, ties → lower index); when `hard` never errs on
//!   c, it is the wrong class with the highest mean hard score over the images of c. It uses
//!   the labels, so it is an upper bound and a control, not a method. The order is always
//!   (true, confused): protocols that read the order ([`ProtocolKind::reads_aux_order`]:
//!   `all`, `vocab`, `topk-mean`, `blend-all`) therefore see the true class as top-1, and their
//!   oracle rows are an upper bound *with* that information; `hard-top2`, `pair` and
//!   `blend-pair` only use the unordered pair.
//!
//! [`ProtocolKind::reads_aux_order`]: crate::zeroshot::ProtocolKind::reads_aux_order

use crate::auxiliary::predictions::{AlignedAux, AuxPredictions};
use crate::zeroshot::metrics::ConfusionMatrix;

/// The auxiliary predictions to evaluate with.
#[derive(Debug, Clone, PartialEq)]
pub enum AuxSource {
    /// Predictions read from a file (or built in memory).
    Predictions(AuxPredictions),
    /// CLIP's own hard-prompt top-k (`self`); k from [`crate::zeroshot::EvalParams::self_k`].
    SelfRanking,
    /// True class plus its most-confused class (`oracle`).
    Oracle,
}

impl AuxSource {
    /// The name used in reports: `self`, `oracle`, or `file:<path>`.
    pub fn name(&self) -> String {
        match self {
            AuxSource::Predictions(predictions) => format!("file:{}", predictions.file()),
            AuxSource::SelfRanking => "self".to_string(),
            AuxSource::Oracle => "oracle".to_string(),
        }
    }

    /// True for `self` and `oracle`, whose pairs are only known after the hard prompts are
    /// scored, so planning must include every ordered class pair.
    pub fn is_builtin(&self) -> bool {
        !matches!(self, AuxSource::Predictions(_))
    }
}

/// The `self` source: the top-`k` classes of each row of `hard_scores` (`[N, C]`).
pub(crate) fn self_ranking(hard_scores: &[f32], class_count: usize, k: usize) -> AlignedAux {
    let k: usize = k.min(class_count);
    let mut topk: Vec<usize> = Vec::with_capacity(hard_scores.len() / class_count * k);
    let mut order: Vec<usize> = Vec::with_capacity(class_count);
    for scores in hard_scores.chunks_exact(class_count) {
        order.clear();
        order.extend(0..class_count);
        // Stable sort on descending score keeps lower indices first among ties.
        order.sort_by(|&left, &right| scores[right].total_cmp(&scores[left]));
        topk.extend_from_slice(&order[..k]);
    }
    AlignedAux::from_rows(k, topk)
}

/// The `oracle` source: per image (label, confused(label)).
pub(crate) fn oracle(
    hard_scores: &[f32],
    hard_confusion: &ConfusionMatrix,
    labels: &[usize],
) -> AlignedAux {
    let class_count: usize = hard_confusion.class_count();
    let confused: Vec<usize> = (0..class_count)
        .map(|class| most_confused(class, hard_scores, hard_confusion, labels))
        .collect();
    let topk: Vec<usize> = labels
        .iter()
        .flat_map(|&label| [label, confused[label]])
        .collect();
    AlignedAux::from_rows(2, topk)
}

fn most_confused(
    class: usize,
    hard_scores: &[f32],
    hard_confusion: &ConfusionMatrix,
    labels: &[usize],
) -> usize {
    let class_count: usize = hard_confusion.class_count();
    let wrong = (0..class_count).filter(|&other| other != class);
    let row: &[u64] = hard_confusion.row(class);
    let (best, count) = wrong.clone().map(|other| (other, row[other])).fold(
        (usize::MAX, 0u64),
        |best, candidate| {
            if candidate.1 > best.1 {
                candidate
            } else {
                best
            }
        },
    );
    if count > 0 {
        return best;
    }
    let mut sums: Vec<f64> = vec![0.0; class_count];
    for (scores, _) in hard_scores
        .chunks_exact(class_count)
        .zip(labels)
        .filter(|(_, &label)| label == class)
    {
        for (sum, &score) in sums.iter_mut().zip(scores) {
            *sum += f64::from(score);
        }
    }
    // Every image of `class` contributes to every sum, so sums rank like means.
    let mut best: usize = usize::MAX;
    for other in wrong {
        if best == usize::MAX || sums[other] > sums[best] {
            best = other;
        }
    }
    best
}
