//! What each encoded text stands for, and which class pairs the auxiliary source produced:
//! the `texts.json` that `eval` writes beside its table, so that figures can colour, group
//! and label texts without re-deriving the prompt configuration.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{EvalReport, TextBank};
use crate::prompts::PromptConfig;

/// One encoded text and what it stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextEntry {
    /// The text as encoded, e.g. `a photo of a cat.` or `dog look like a cat`.
    pub text: String,
    /// `hard` or a relation name.
    pub set: String,
    /// The class the text is about (`x` of a soft text), an index into
    /// [`TextCatalogue::classes`].
    pub subject: usize,
    /// The class a soft text relates it to (`y`).
    pub object: Option<usize>,
}

/// How many images the auxiliary source gave one ordered (top-1, top-2) pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairCount {
    /// The top-1 class (the subject `x` of the pair's soft texts).
    pub subject: usize,
    /// The top-2 class (the object `y`).
    pub object: usize,
    /// Number of evaluated images with this (top-1, top-2); at least 1.
    pub images: usize,
}

/// The contents of `texts.json`: every text in the bank that the prompt configuration
/// produces, and the auxiliary pairs over the evaluated images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextCatalogue {
    /// Class names in label order; `subject` and `object` index into it.
    pub classes: Vec<String>,
    /// Hard texts (class-major), then soft texts in vocabulary order; texts the bank lacks
    /// are left out.
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
/// auxiliary (top-1, top-2) pairs per image. The pairs are the report's own
/// ([`EvalReport::aux_top2`]), so the counts and the texts they name are those evaluated.
pub fn catalogue(config: &PromptConfig, bank: &TextBank, report: &EvalReport) -> TextCatalogue {
    let aux_pairs: &[(usize, usize)] = &report.aux_top2;
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
