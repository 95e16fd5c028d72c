//! The decision rules. Each maps one image's scores and auxiliary top-k L = (L1, L2, …) to a
//! class; T(x, y) is a soft text `x <relation> y` scored under the row's prompt set.
//!
//! * `hard`: argmax over all classes of the hard score.
//! * `hard-top2`: the better of L1, L2 by hard score.
//! * `pair`: the better of T(L1, L2) and T(L2, L1); predicts the subject x.
//! * `all`: every class c scored by T(c, p(c)), p(c) = L1, or L2 when c = L1; argmax.
//! * `vocab`: the subject x of the best text in the split's soft vocabulary
//!   {T(L1, L2) over all images}: one order only, top-1 first, as in the paper's Figure 4
//!   ("automobile look like a truck"). A class that is no image's top-1 is never predicted.
//! * `topk-mean(k)`: like `all`, but c's score is the mean over its first k partners (L
//!   without c, in rank order; a member of L has one partner fewer when k = aux k).
//!   `topk-mean(1)` is `all`, so k runs from 2.
//! * `blend-all(λ)`: over all classes, (1 − λ)·hard(c) + λ·T(c, p(c)). λ = 0 is `hard`,
//!   λ = 1 is `all`.
//! * `blend-pair(λ)`: over L1, L2, (1 − λ)·hard(x) + λ·T(x, other). λ = 0 is `hard-top2`,
//!   λ = 1 is `pair`.
//!
//! Ties go to the lowest class index everywhere (for `vocab`: texts are visited in (x, y)
//! order and the first best wins). Images are independent, so predictions do not depend on
//! rayon's thread count.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::auxiliary::predictions::AlignedAux;
use crate::zeroshot::params::ProtocolKind;
use crate::zeroshot::scores::{PromptSet, Scores};

/// One protocol with its parameter, i.e. one row of the results table per prompt set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    /// The rule.
    pub kind: ProtocolKind,
    /// Partners averaged, for `topk-mean`.
    pub k: Option<usize>,
    /// Weight of the soft score, for the blends.
    pub lambda: Option<f64>,
}

impl Protocol {
    /// A protocol without parameter.
    pub fn plain(kind: ProtocolKind) -> Self {
        Protocol {
            kind,
            k: None,
            lambda: None,
        }
    }

    /// Display label, e.g. `topk-mean(3)` or `blend-all(0.3)`.
    pub fn label(&self) -> String {
        match (self.k, self.lambda) {
            (Some(k), _) => format!("{}({k})", self.kind.name()),
            (_, Some(lambda)) => format!("{}({lambda})", self.kind.name()),
            _ => self.kind.name().to_string(),
        }
    }
}

/// Everything a protocol reads.
#[derive(Debug, Clone, Copy)]
pub struct ProtocolInputs<'a> {
    /// Scores.
    pub scores: &'a Scores<'a>,
    /// Auxiliary top-k in image order.
    pub aux: &'a AlignedAux,
    /// The split's soft vocabulary pairs (L1, L2), sorted and unique.
    pub vocabulary: &'a [(usize, usize)],
}

/// `hard` predictions for every image; needs no auxiliary predictions (the built-in sources
/// are derived from them).
pub(crate) fn predict_hard(scores: &Scores<'_>) -> Vec<usize> {
    (0..scores.image_count())
        .into_par_iter()
        .map(|image| argmax(scores.hard_row(image).iter().copied().enumerate()))
        .collect()
}

/// Predictions of one protocol under one prompt set, in image order.
pub fn predict(protocol: Protocol, set: PromptSet, inputs: ProtocolInputs<'_>) -> Vec<usize> {
    predict_rows(&[(set, protocol)], inputs)
        .pop()
        .expect("one row")
}

/// Images per parallel task of [`predict_rows`].
const IMAGES_PER_TASK: usize = 64;

/// Predictions of every (prompt set, protocol) row, one vector per row in image order.
///
/// Image-outer: each image's similarity row is read once for all rows while it is in cache,
/// and the per-set soft scores (first-partner, top-k means, pair, vocabulary best) are
/// computed once and shared by every protocol and λ of that set. Rows of one prompt set
/// should be adjacent (the cache is refilled when the set changes).
pub(crate) fn predict_rows(
    rows: &[(PromptSet, Protocol)],
    inputs: ProtocolInputs<'_>,
) -> Vec<Vec<usize>> {
    let image_count: usize = inputs.scores.image_count();
    let row_count: usize = rows.len();
    if row_count == 0 {
        return Vec::new();
    }
    let needs: Needs = Needs::of(rows, inputs.aux.k());
    let mut flat: Vec<usize> = vec![0; image_count * row_count];
    flat.par_chunks_mut(IMAGES_PER_TASK * row_count)
        .enumerate()
        .for_each(|(task, out)| {
            let mut cache: SetScores = SetScores::new(inputs.scores.class_count(), needs.max_k);
            for (offset, predictions) in out.chunks_exact_mut(row_count).enumerate() {
                let image: usize = task * IMAGES_PER_TASK + offset;
                let mut cached_set: Option<PromptSet> = None;
                for (prediction, &(set, protocol)) in predictions.iter_mut().zip(rows) {
                    if set != PromptSet::Hard && cached_set != Some(set) {
                        cache.fill(image, set, inputs, &needs);
                        cached_set = Some(set);
                    }
                    *prediction = decide(protocol, image, inputs, &cache);
                }
            }
        });
    (0..row_count)
        .map(|row| flat.iter().skip(row).step_by(row_count).copied().collect())
        .collect()
}

/// Which per-set scores the rows need.
#[derive(Debug, Clone, Copy)]
struct Needs {
    first_partner: bool,
    pair: bool,
    vocabulary: bool,
    max_k: usize,
}

impl Needs {
    fn of(rows: &[(PromptSet, Protocol)], aux_k: usize) -> Self {
        let runs = |kinds: &[ProtocolKind]| {
            rows.iter()
                .any(|(_, protocol)| kinds.contains(&protocol.kind))
        };
        let max_k: usize = rows
            .iter()
            .filter(|(_, protocol)| protocol.kind == ProtocolKind::TopkMean)
            .map(|(_, protocol)| protocol.k.unwrap_or(1).min(aux_k))
            .max()
            .unwrap_or(0);
        Needs {
            first_partner: runs(&[ProtocolKind::All, ProtocolKind::BlendAll]),
            pair: runs(&[ProtocolKind::Pair, ProtocolKind::BlendPair]),
            vocabulary: runs(&[ProtocolKind::Vocab]),
            max_k,
        }
    }
}

/// One image's soft scores under one prompt set.
#[derive(Debug, Clone)]
struct SetScores {
    class_count: usize,
    /// T(c, p(c)) per class.
    first_partner: Vec<f32>,
    /// `[k − 1][c]`: mean of T(c, y) over c's first k partners.
    topk_means: Vec<f32>,
    /// (T(a, b), T(b, a)).
    pair: (f32, f32),
    /// Subject of the best vocabulary text.
    vocabulary_best: usize,
}

impl SetScores {
    fn new(class_count: usize, max_k: usize) -> Self {
        SetScores {
            class_count,
            first_partner: vec![0.0; class_count],
            topk_means: vec![0.0; class_count * max_k],
            pair: (0.0, 0.0),
            vocabulary_best: 0,
        }
    }

    fn fill(&mut self, image: usize, set: PromptSet, inputs: ProtocolInputs<'_>, needs: &Needs) {
        let scores: &Scores<'_> = inputs.scores;
        let list: &[usize] = inputs.aux.row(image);
        let (a, b) = (list[0], list[1]);
        let soft = |x: usize, y: usize| scores.soft(image, set, x, y);
        if needs.first_partner {
            for (class, score) in self.first_partner.iter_mut().enumerate() {
                *score = soft(class, if class == a { b } else { a });
            }
        }
        if needs.max_k > 0 {
            for class in 0..self.class_count {
                let mut sum: f32 = 0.0;
                let mut count: usize = 0;
                for &partner in list.iter().filter(|&&y| y != class) {
                    if count == needs.max_k {
                        break;
                    }
                    sum += soft(class, partner);
                    count += 1;
                    self.topk_means[(count - 1) * self.class_count + class] = sum / count as f32;
                }
                // A member of the list has one partner fewer: larger k repeat its last mean.
                for k in count..needs.max_k {
                    self.topk_means[k * self.class_count + class] =
                        self.topk_means[(count - 1) * self.class_count + class];
                }
            }
        }
        if needs.pair {
            self.pair = (soft(a, b), soft(b, a));
        }
        if needs.vocabulary {
            self.vocabulary_best = argmax(inputs.vocabulary.iter().map(|&(x, y)| (x, soft(x, y))));
        }
    }

    fn topk_mean(&self, k: usize) -> &[f32] {
        &self.topk_means[(k - 1) * self.class_count..k * self.class_count]
    }
}

fn decide(
    protocol: Protocol,
    image: usize,
    inputs: ProtocolInputs<'_>,
    cache: &SetScores,
) -> usize {
    let hard: &[f32] = inputs.scores.hard_row(image);
    if protocol.kind == ProtocolKind::Hard {
        return argmax(hard.iter().copied().enumerate());
    }
    let (a, b) = inputs.aux.top2(image);
    let lambda: f32 = protocol.lambda.unwrap_or(0.0) as f32;
    match protocol.kind {
        ProtocolKind::Hard => unreachable!("decided above without auxiliary predictions"),
        ProtocolKind::HardTop2 => better_of((a, hard[a]), (b, hard[b])),
        ProtocolKind::Pair => better_of((a, cache.pair.0), (b, cache.pair.1)),
        ProtocolKind::All => argmax(cache.first_partner.iter().copied().enumerate()),
        ProtocolKind::Vocab => cache.vocabulary_best,
        ProtocolKind::TopkMean => {
            let k: usize = protocol.k.unwrap_or(1).clamp(1, inputs.aux.k());
            argmax(cache.topk_mean(k).iter().copied().enumerate())
        }
        ProtocolKind::BlendAll => argmax(
            hard.iter()
                .zip(&cache.first_partner)
                .map(|(&h, &s)| (1.0 - lambda) * h + lambda * s)
                .enumerate(),
        ),
        ProtocolKind::BlendPair => better_of(
            (a, (1.0 - lambda) * hard[a] + lambda * cache.pair.0),
            (b, (1.0 - lambda) * hard[b] + lambda * cache.pair.1),
        ),
    }
}

/// The class of the highest score; the first (lowest class, for ascending input) on ties.
fn argmax(candidates: impl Iterator<Item = (usize, f32)>) -> usize {
    let mut best: Option<(usize, f32)> = None;
    for (class, score) in candidates {
        if best.is_none_or(|(_, best_score)| score > best_score) {
            best = Some((class, score));
        }
    }
    best.map_or(0, |(class, _)| class)
}

/// The better of two candidates; on a tie the lower class index.
fn better_of(first: (usize, f32), second: (usize, f32)) -> usize {
    if first.1 > second.1 || (first.1 == second.1 && first.0 < second.0) {
        first.0
    } else {
        second.0
    }
}
