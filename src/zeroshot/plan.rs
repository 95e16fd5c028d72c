//! Text planning: the unique texts that every enabled protocol needs, so the caller encodes
//! each once, in one batch.
//!
//! Order: hard texts first (class-major, then template, as
//! [`crate::prompts::HardPrompts::iter`]), then soft texts by (x, y) ascending, relation inner.
//! A soft text equal to a hard text is planned once.
//!
//! Which soft pairs (x, y) are planned, given each image's auxiliary top-k list L:
//! * `pair`, `blend-pair`, `vocab`: (L1, L2) and (L2, L1);
//! * `all`, `blend-all`, `topk-mean`: (c, y) for every class c and each of c's partners y
//!   (the first k entries of L other than c; k = 1 for `all`, up to the aux k for
//!   `topk-mean`).
//!
//! The built-in sources (`self`, `oracle`) are only known after hard scoring, so for them
//! every ordered pair of distinct classes is planned: C·(C−1)·R texts (270 for CIFAR-10 and
//! the paper's three relations).

use std::collections::HashMap;

use crate::prompts::{PromptConfig, SoftVocabulary};
use crate::zeroshot::error::ZeroShotError;
use crate::zeroshot::params::{ProtocolKind, ValidEvalParams};
use crate::zeroshot::sources::AuxSource;

const NO_TEXT: u32 = u32::MAX;

/// The unique texts to encode and where each protocol finds its texts among them.
#[derive(Debug, Clone, PartialEq)]
pub struct TextPlan {
    texts: Vec<String>,
    class_count: usize,
    relation_names: Vec<String>,
    /// `[class][template]` → text index.
    hard_columns: Vec<Vec<usize>>,
    /// `[relation][x][y]` → text index, or `NO_TEXT`.
    soft_columns: Vec<u32>,
}

impl TextPlan {
    /// The unique texts, to be encoded and put in a [`crate::zeroshot::TextBank`].
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// Number of unique texts.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Never true: hard texts are always planned.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Number of classes.
    pub fn class_count(&self) -> usize {
        self.class_count
    }

    /// The relations' names, in config order.
    pub fn relation_names(&self) -> &[String] {
        &self.relation_names
    }

    /// Text indices of class `class`'s hard templates.
    pub fn hard_columns(&self, class: usize) -> &[usize] {
        &self.hard_columns[class]
    }

    /// Text index of T(x, y) under relation `relation`, if planned.
    pub fn soft_column(&self, relation: usize, x: usize, y: usize) -> Option<usize> {
        let index: u32 = self.soft_columns[self.soft_slot(relation, x, y)];
        (index != NO_TEXT).then_some(index as usize)
    }

    /// The dense `[relation][x][y]` lookup table (`u32::MAX` where not planned).
    pub(crate) fn soft_table(&self) -> &[u32] {
        &self.soft_columns
    }

    fn soft_slot(&self, relation: usize, x: usize, y: usize) -> usize {
        (relation * self.class_count + x) * self.class_count + y
    }
}

/// Plans the texts for `params`' protocols, `config`'s hard templates and relations, and the
/// pairs `aux` implies. A file source is checked against the class list here (class index out
/// of range names the row).
pub fn plan_texts(
    params: &ValidEvalParams,
    config: &PromptConfig,
    aux: &AuxSource,
) -> Result<TextPlan, ZeroShotError> {
    let classes = config.classes();
    let class_count: usize = classes.len();
    let mut texts: Vec<String> = Vec::new();
    let mut index_by_text: HashMap<String, usize> = HashMap::new();
    let mut intern = |text: &str| -> usize {
        if let Some(&index) = index_by_text.get(text) {
            return index;
        }
        index_by_text.insert(text.to_string(), texts.len());
        texts.push(text.to_string());
        texts.len() - 1
    };
    let hard_columns: Vec<Vec<usize>> = config
        .hard_prompts()
        .texts_by_class()
        .iter()
        .map(|class_texts| class_texts.iter().map(|text| intern(text)).collect())
        .collect();

    let soft_protocols: bool = params.protocols().iter().any(|kind| !kind.is_hard());
    let needed: Vec<bool> = if !soft_protocols {
        vec![false; class_count * class_count]
    } else {
        if class_count < 2 {
            return Err(ZeroShotError::TooFewClasses(class_count));
        }
        match aux {
            AuxSource::Predictions(predictions) => {
                predictions.check_classes(classes)?;
                let lists = predictions.rows().iter().map(|row| row.topk.as_slice());
                needed_pairs(params, class_count, predictions.k(), lists)
            }
            AuxSource::SelfRanking | AuxSource::Oracle => (0..class_count * class_count)
                .map(|slot| slot / class_count != slot % class_count)
                .collect(),
        }
    };
    let pairs = (0..class_count * class_count)
        .filter(|&slot| needed[slot])
        .map(|slot| (slot / class_count, slot % class_count));
    let vocabulary: SoftVocabulary = config.vocabulary_from_pairs(pairs)?;
    let relation_count: usize = config.relations().len();
    let mut soft_columns: Vec<u32> = vec![NO_TEXT; relation_count * class_count * class_count];
    for entry in vocabulary.entries() {
        let slot: usize =
            (entry.key.relation * class_count + entry.key.x) * class_count + entry.key.y;
        soft_columns[slot] = intern(entry.text()) as u32;
    }
    Ok(TextPlan {
        texts,
        class_count,
        relation_names: config
            .relations()
            .iter()
            .map(|relation| relation.name().to_string())
            .collect(),
        hard_columns,
        soft_columns,
    })
}

/// `[x][y]` flags of the soft pairs the enabled protocols need for these top-k lists.
fn needed_pairs<'a>(
    params: &ValidEvalParams,
    class_count: usize,
    aux_k: usize,
    lists: impl Iterator<Item = &'a [usize]>,
) -> Vec<bool> {
    let pair_texts: bool = [
        ProtocolKind::Pair,
        ProtocolKind::BlendPair,
        ProtocolKind::Vocab,
    ]
    .into_iter()
    .any(|kind| params.runs(kind));
    // Largest number of partners any class-scoring protocol averages over.
    let partner_count: usize = if params.runs(ProtocolKind::TopkMean) {
        aux_k
    } else if params.runs(ProtocolKind::All) || params.runs(ProtocolKind::BlendAll) {
        1
    } else {
        0
    };
    let mut needed: Vec<bool> = vec![false; class_count * class_count];
    // A class that is some image's partner for every non-member class: the whole column.
    let mut full_column: Vec<bool> = vec![false; class_count];
    for list in lists {
        if pair_texts {
            needed[list[0] * class_count + list[1]] = true;
            needed[list[1] * class_count + list[0]] = true;
        }
        if partner_count > 0 {
            let leading: usize = partner_count.min(list.len());
            for &y in &list[..leading] {
                full_column[y] = true;
            }
            // Members among the leading classes skip themselves and reach one entry further.
            if let Some(&extra) = list.get(leading) {
                for &x in &list[..leading] {
                    needed[x * class_count + extra] = true;
                }
            }
        }
    }
    for (y, _) in full_column.iter().enumerate().filter(|(_, &full)| full) {
        for x in (0..class_count).filter(|&x| x != y) {
            needed[x * class_count + y] = true;
        }
    }
    needed
}
