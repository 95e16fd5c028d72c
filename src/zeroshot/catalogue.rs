//! What each encoded text stands for, and which class pairs the auxiliary source produced:
//! the `texts.json` that `eval` writes beside its table, so that figures can colour, group
//! and label texts without re-deriving the prompt configuration.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{AuxSource, EvalReport, TextBank};
use crate::prompts::PromptConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextEntry {
    pub text: String,
    /// `hard` or a relation name.
    pub set: String,
    /// The class the text is about (`x` of a soft text).
    pub subject: usize,
    /// The class a soft text relates it to (`y`).
    pub object: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairCount {
    pub subject: usize,
    pub object: usize,
    pub images: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextCatalogue {
    pub classes: Vec<String>,
    pub texts: Vec<TextEntry>,
    /// (top-1, top-2) pairs of the auxiliary source over the evaluated images, most
    /// frequent first: the soft texts the study actually produces (the paper's Figure 4).
    pub aux_pairs: Vec<PairCount>,
}

impl TextCatalogue {
    /// Texts of one prompt set, in catalogue order.
    pub fn set<'a>(&'a self, set: &'a str) -> impl Iterator<Item = &'a TextEntry> + 'a {
        self.texts.iter().filter(move |t| t.set == set)
    }

    /// Prompt sets in catalogue order (hard first).
    pub fn sets(&self) -> Vec<String> {
        let mut seen = Vec::<String>::new();
        for t in &self.texts {
            if !seen.contains(&t.set) {
                seen.push(t.set.clone());
            }
        }
        seen
    }
}

/// Describes every text of `bank` that the configuration can produce, and counts the
/// auxiliary (top-1, top-2) pairs per image.
///
/// For the built-in sources the pairs are reconstructed from the report: `self` ranks
/// classes by the hard-prompt similarity (recomputed from `images`), and `oracle` pairs the
/// true class with its most-confused class under the `hard` row's confusion matrix.
pub fn catalogue(
    config: &PromptConfig,
    bank: &TextBank,
    report: &EvalReport,
    aux_pairs: &[(usize, usize)],
) -> TextCatalogue {
    let present: HashSet<&str> = bank.texts().iter().map(String::as_str).collect();
    let mut texts = Vec::new();
    for prompt in config.hard_prompts().iter() {
        if present.contains(prompt.text) {
            texts.push(TextEntry {
                text: prompt.text.to_string(),
                set: "hard".into(),
                subject: prompt.class,
                object: None,
            });
        }
    }
    if let Ok(vocabulary) = config.all_pairs_vocabulary() {
        let relations = config.relations();
        for entry in vocabulary.entries() {
            if present.contains(entry.text()) {
                texts.push(TextEntry {
                    text: entry.text().to_string(),
                    set: relations[entry.key.relation].name().to_string(),
                    subject: entry.key.x,
                    object: Some(entry.key.y),
                });
            }
        }
    }
    let mut counts: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for &pair in aux_pairs {
        *counts.entry(pair).or_default() += 1;
    }
    let mut aux_pairs: Vec<PairCount> = counts
        .into_iter()
        .map(|((subject, object), images)| PairCount {
            subject,
            object,
            images,
        })
        .collect();
    aux_pairs.sort_by(|a, b| {
        b.images
            .cmp(&a.images)
            .then((a.subject, a.object).cmp(&(b.subject, b.object)))
    });
    TextCatalogue {
        classes: report.classes.clone(),
        texts,
        aux_pairs,
    }
}

/// Each image's auxiliary (top-1, top-2) pair. `hard_scores` is `[N, C]` (only read for the
/// built-in sources).
pub fn aux_top2(
    aux: &AuxSource,
    aligned_file: Option<&crate::auxiliary::predictions::AlignedAux>,
    hard_scores: &[f32],
    labels: &[usize],
    report: &EvalReport,
) -> Vec<(usize, usize)> {
    let classes = report.classes.len();
    match aux {
        AuxSource::Predictions(_) => {
            let aligned = aligned_file.expect("aligned predictions for a file source");
            (0..aligned.len()).map(|i| aligned.top2(i)).collect()
        }
        AuxSource::SelfRanking => hard_scores
            .chunks_exact(classes)
            .map(|row| {
                let mut order: Vec<usize> = (0..classes).collect();
                order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
                (order[0], order[1])
            })
            .collect(),
        AuxSource::Oracle => {
            let confusion = report
                .row("hard", "hard")
                .map(|r| r.confusion.clone())
                .unwrap_or_default();
            let confused: Vec<usize> = (0..classes)
                .map(|c| {
                    (0..classes)
                        .filter(|&j| j != c)
                        .max_by(|&a, &b| {
                            let count = |j: usize| {
                                confusion
                                    .get(c)
                                    .and_then(|r| r.get(j))
                                    .copied()
                                    .unwrap_or(0)
                            };
                            count(a).cmp(&count(b)).then(b.cmp(&a))
                        })
                        .unwrap_or(0)
                })
                .collect();
            labels.iter().map(|&l| (l, confused[l])).collect()
        }
    }
}
