//! Soft vocabularies: the de-duplicated set of soft texts to embed, with a
//! way back from each text to its class pair.
//!
//! Order is first-seen: pairs in the order given (repeats skipped), and for
//! each new pair one text per relation in the order given. First-seen keeps
//! the vocabulary stable when more images are appended and makes the full
//! vocabulary read naturally (x-major, then y, then relation).

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::prompts::classes::ClassList;
use crate::prompts::error::PromptError;
use crate::prompts::relation::Relation;
use crate::prompts::soft::{render_soft_text, validate_pair, SoftText};

/// What a soft text stands for: class x said to relate to class y through
/// relation number `relation` (an index into the vocabulary's relations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SoftKey {
    /// Label of the first class (the image's own top-1 class).
    pub x: usize,
    /// Label of the second class (the one it is said to look like).
    pub y: usize,
    /// Index into [`SoftVocabulary::relations`].
    pub relation: usize,
}

impl fmt::Display for SoftKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "(x={}, y={}, relation={})",
            self.x, self.y, self.relation
        )
    }
}

/// One vocabulary text with its key and slot spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftEntry {
    /// What the text stands for.
    pub key: SoftKey,
    /// The text and where its slots are.
    pub soft: SoftText,
}

impl SoftEntry {
    /// The text.
    pub fn text(&self) -> &str {
        &self.soft.text
    }

    /// The class pair (x, y).
    pub fn pair(&self) -> (usize, usize) {
        (self.key.x, self.key.y)
    }
}

/// Unique soft texts in first-seen order, indexable by position or by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftVocabulary {
    relations: Vec<Relation>,
    entries: Vec<SoftEntry>,
    index_by_key: HashMap<SoftKey, usize>,
}

impl SoftVocabulary {
    /// Texts for the given (x, y) pairs, e.g. each image's auxiliary top-2
    /// prediction, under every relation. Repeated pairs add nothing.
    ///
    /// Fails on an out-of-range class, on `x == y` (see
    /// [`render_soft_text`]), and when two different keys render to the same
    /// text ([`PromptError::AmbiguousSoftText`]), since that text could not be
    /// mapped back to one pair.
    pub fn from_pairs<I>(
        classes: &ClassList,
        relations: &[Relation],
        pairs: I,
    ) -> Result<Self, PromptError>
    where
        I: IntoIterator<Item = (usize, usize)>,
    {
        let mut vocabulary: SoftVocabulary = SoftVocabulary {
            relations: relations.to_vec(),
            entries: Vec::new(),
            index_by_key: HashMap::new(),
        };
        let mut key_by_text: HashMap<String, SoftKey> = HashMap::new();
        let mut seen_pairs: HashSet<(usize, usize)> = HashSet::new();
        for (x, y) in pairs {
            // Validated before the repeat check and even without relations,
            // so a bad pair is never silently accepted.
            validate_pair(classes, x, y)?;
            if !seen_pairs.insert((x, y)) {
                continue;
            }
            for (relation_index, relation) in relations.iter().enumerate() {
                let key: SoftKey = SoftKey {
                    x,
                    y,
                    relation: relation_index,
                };
                let soft: SoftText = render_soft_text(classes, x, y, relation)?;
                if let Some(&first) = key_by_text.get(&soft.text) {
                    return Err(PromptError::AmbiguousSoftText {
                        text: soft.text,
                        first,
                        second: key,
                    });
                }
                key_by_text.insert(soft.text.clone(), key);
                vocabulary
                    .index_by_key
                    .insert(key, vocabulary.entries.len());
                vocabulary.entries.push(SoftEntry { key, soft });
            }
        }
        Ok(vocabulary)
    }

    /// Texts for every ordered pair of distinct classes under every relation:
    /// n·(n−1)·relations texts, x-major, then y, then relation. Self-pairs
    /// are excluded, not errors.
    pub fn all_pairs(classes: &ClassList, relations: &[Relation]) -> Result<Self, PromptError> {
        let class_count: usize = classes.len();
        let ordered_pairs = (0..class_count).flat_map(move |x| {
            (0..class_count)
                .filter(move |&y| y != x)
                .map(move |y| (x, y))
        });
        Self::from_pairs(classes, relations, ordered_pairs)
    }

    /// The relations, indexed by [`SoftKey::relation`].
    pub fn relations(&self) -> &[Relation] {
        &self.relations
    }

    /// The entries in vocabulary order.
    pub fn entries(&self) -> &[SoftEntry] {
        &self.entries
    }

    /// Number of texts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no texts.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at `text_index`.
    pub fn get(&self, text_index: usize) -> Option<&SoftEntry> {
        self.entries.get(text_index)
    }

    /// The class pair (x, y) behind text `text_index`.
    pub fn pair_of(&self, text_index: usize) -> Option<(usize, usize)> {
        self.entries.get(text_index).map(SoftEntry::pair)
    }

    /// The position of the text for (x, y) under relation `relation`.
    pub fn index_of(&self, x: usize, y: usize, relation: usize) -> Option<usize> {
        self.index_by_key.get(&SoftKey { x, y, relation }).copied()
    }

    /// The texts in vocabulary order.
    pub fn texts(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().map(SoftEntry::text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompts::relation::BuiltinRelation;

    #[test]
    fn from_pairs_keeps_first_seen_order_and_skips_repeats() {
        let classes: ClassList = ClassList::cifar10();
        let relations: Vec<Relation> = vec![BuiltinRelation::LookLike.relation()];
        let pairs: [(usize, usize); 4] = [(1, 9), (5, 3), (1, 9), (9, 1)];
        let vocabulary: SoftVocabulary =
            SoftVocabulary::from_pairs(&classes, &relations, pairs).unwrap();
        assert_eq!(
            vocabulary.texts().collect::<Vec<_>>(),
            [
                "automobile look like a truck",
                "dog look like a cat",
                "truck look like an automobile"
            ]
        );
        assert_eq!(vocabulary.pair_of(1), Some((5, 3)));
        assert_eq!(vocabulary.index_of(9, 1, 0), Some(2));
        assert_eq!(vocabulary.index_of(3, 5, 0), None);
    }

    #[test]
    fn full_cifar10_vocabulary_has_every_ordered_pair() {
        let classes: ClassList = ClassList::cifar10();
        let vocabulary: SoftVocabulary =
            SoftVocabulary::all_pairs(&classes, &Relation::paper()).unwrap();
        assert_eq!(vocabulary.len(), 10 * 9 * 3);
        assert_eq!(
            vocabulary.get(0).unwrap().text(),
            "airplane like an automobile"
        );
        assert_eq!(
            vocabulary.get(1).unwrap().text(),
            "airplane look like an automobile"
        );
        assert_eq!(
            vocabulary.get(2).unwrap().text(),
            "airplane resemble an automobile"
        );
        assert_eq!(vocabulary.get(3).unwrap().text(), "airplane like a bird");
    }

    #[test]
    fn self_pair_in_input_is_an_error_even_without_relations() {
        let classes: ClassList = ClassList::cifar10();
        assert!(matches!(
            SoftVocabulary::from_pairs(&classes, &[], [(2, 2)]),
            Err(PromptError::SelfPair { index: 2, .. })
        ));
    }

    #[test]
    fn colliding_texts_are_reported() {
        // "p like a q" + " like a " + "r" == "p" + " like a " + "q like a r".
        let classes: ClassList = ClassList::new(["p like a q", "r", "p", "q like a r"]).unwrap();
        let relations: Vec<Relation> = vec![BuiltinRelation::Like.relation()];
        assert_eq!(
            SoftVocabulary::from_pairs(&classes, &relations, [(0, 1), (2, 3)]),
            Err(PromptError::AmbiguousSoftText {
                text: "p like a q like a r".to_string(),
                first: SoftKey {
                    x: 0,
                    y: 1,
                    relation: 0
                },
                second: SoftKey {
                    x: 2,
                    y: 3,
                    relation: 0
                },
            })
        );
    }
}
